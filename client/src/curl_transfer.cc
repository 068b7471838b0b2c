#include "client/src/curl_transfer.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

namespace muster::client::internal {
namespace {

constexpr char kUserAgent[] = "muster-client";

std::string TrimSpace(std::string text) {
  const char* space = " \t\r\n";
  const size_t first = text.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

bool IsConnectError(CURLcode code) {
  return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST;
}

}  // namespace

bool CurlGlobalInit() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return code == CURLE_OK;
}

CurlShare::CurlShare() {
  if (!CurlGlobalInit()) return;
  CURLSH* share = curl_share_init();
  if (share == nullptr) return;
  curl_share_setopt(share, CURLSHOPT_USERDATA, this);
  curl_share_setopt(
      share, CURLSHOPT_LOCKFUNC,
      +[](CURL*, curl_lock_data data, curl_lock_access, void* user) {
        static_cast<CurlShare*>(user)->locks_.at(data).lock();
      });
  curl_share_setopt(
      share, CURLSHOPT_UNLOCKFUNC, +[](CURL*, curl_lock_data data, void* user) {
        static_cast<CurlShare*>(user)->locks_.at(data).unlock();
      });
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  share_ = share;
}

CurlShare::~CurlShare() {
  if (share_ != nullptr) curl_share_cleanup(static_cast<CURLSH*>(share_));
}

CurlTransfer::CurlTransfer(TryRequest request, void* share)
    : request_(std::move(request)), error_buffer_(CURL_ERROR_SIZE + 1, '\0') {
  if (!CurlGlobalInit()) return;
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return;
  easy_ = easy;
  if (share != nullptr) curl_easy_setopt(easy, CURLOPT_SHARE, share);
  const long timeout_ms =
      std::max<long>(1, static_cast<long>(request_.timeout.count()));
  curl_easy_setopt(easy, CURLOPT_URL, request_.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer_.data());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &CurlTransfer::OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &CurlTransfer::OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  // Service-to-service calls go straight to the instance, whatever
  // http_proxy says.
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_USERAGENT, kUserAgent);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
  const std::string& method = request_.method;
  if (method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else {
    // A body (maybe empty, so that Content-Length: 0 is sent) for every
    // other method; CUSTOMREQUEST names it.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request_.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request_.body.data());
    if (method != "POST") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
  }
  for (const auto& [name, value] : request_.headers) {
    const std::string line = value.empty() ? name + ";" : name + ": " + value;
    header_list_ = curl_slist_append(header_list_, line.c_str());
  }
  // No "Expect: 100-continue" round trip before large bodies.
  header_list_ = curl_slist_append(header_list_, "Expect:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, header_list_);
}

CurlTransfer::~CurlTransfer() {
  if (easy_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(easy_));
  curl_slist_free_all(header_list_);
}

size_t CurlTransfer::OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<CurlTransfer*>(user);
  transfer->response_body_.append(data, size * count);
  return size * count;
}

size_t CurlTransfer::OnHeader(char* data, size_t size, size_t count,
                              void* user) {
  auto* transfer = static_cast<CurlTransfer*>(user);
  const std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after a 100 Continue): only the last response's
    // headers count.
    transfer->response_headers_.clear();
  } else if (const size_t colon = line.find(':');
             colon != std::string::npos && colon > 0) {
    transfer->response_headers_.emplace_back(TrimSpace(line.substr(0, colon)),
                                             TrimSpace(line.substr(colon + 1)));
  }
  return size * count;
}

TryResult CurlTransfer::Perform() {
  if (easy_ == nullptr) return Finish(CURLE_FAILED_INIT);
  return Finish(curl_easy_perform(static_cast<CURL*>(easy_)));
}

TryResult CurlTransfer::Finish(int code_value) {
  const auto code = static_cast<CURLcode>(code_value);
  TryResult result;
  if (easy_ == nullptr) {
    result.error = "http: curl_easy_init failed";
    return result;
  }
  CURL* easy = static_cast<CURL*>(easy_);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  const std::string detail = error_buffer_[0] != '\0'
                                 ? error_buffer_.c_str()
                                 : curl_easy_strerror(code);
  if (code == CURLE_OK && status > 0) {
    result.outcome = TryOutcome::kResponse;
    result.status = static_cast<int>(status);
    result.headers = std::move(response_headers_);
    result.body = std::move(response_body_);
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    result.outcome = TryOutcome::kTimeout;
    result.error =
        "timeout after " + std::to_string(request_.timeout.count()) + " ms";
  } else if (IsConnectError(code)) {
    result.outcome = TryOutcome::kConnectError;
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    if (code == CURLE_COULDNT_RESOLVE_HOST) {
      result.error = "resolve: " + detail;
    } else if (os_errno != 0) {
      result.error =
          std::string("connect: ") + std::strerror(static_cast<int>(os_errno));
    } else {
      result.error = "connect: " + detail;
    }
  } else {
    result.error = "http: " + detail;
  }
  return result;
}

}  // namespace muster::client::internal
