#include "healthchecker/http_prober.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "healthchecker/http_response.h"

namespace muster::healthchecker {
namespace {

constexpr long kMaxRedirects = 5;
constexpr char kUserAgent[] = "muster-healthchecker";

// libcurl's global state must be set up once, before any other thread
// uses it; it lives as long as the process.
absl::Status GlobalInit() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init: ", curl_easy_strerror(code)));
  }
  return absl::OkStatus();
}

// A check's tls_server_name as libcurl takes it: the URL names the
// server name, so that libcurl sends it as SNI (and Host) and verifies the
// certificate against it, and a CONNECT_TO entry still sends the
// connection to the URL's own host and port.
struct Retargeted {
  std::string url;
  std::string connect_to;
};

absl::StatusOr<Retargeted> RetargetUrl(const std::string& url,
                                       const std::string& server_name) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(),
                                                             &curl_url_cleanup);
  char* host = nullptr;
  char* port = nullptr;
  if (parsed == nullptr ||
      curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(parsed.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(parsed.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
          CURLUE_OK) {
    curl_free(host);
    return absl::InvalidArgumentError("cannot parse the url");
  }
  Retargeted out;
  out.connect_to = absl::StrCat(server_name, ":", port, ":", host, ":", port);
  curl_free(host);
  curl_free(port);
  char* rewritten = nullptr;
  if (curl_url_set(parsed.get(), CURLUPART_HOST, server_name.c_str(), 0) !=
          CURLUE_OK ||
      curl_url_get(parsed.get(), CURLUPART_URL, &rewritten, 0) != CURLUE_OK) {
    return absl::InvalidArgumentError("cannot set the url's host");
  }
  out.url = rewritten;
  curl_free(rewritten);
  return out;
}

// libcurl's words for a failed handshake, in the probe's: "SSL
// certificate problem: X" becomes "certificate verify failed: X".
std::string TlsFailure(absl::string_view error) {
  if (absl::ConsumePrefix(&error, "SSL certificate problem: ")) {
    return TlsOutput(absl::StrCat("certificate verify failed: ", error));
  }
  absl::ConsumePrefix(&error, "SSL: ");
  return TlsOutput(error);
}

}  // namespace

struct HttpProber::Transfer {
  HttpProber* prober = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* connect_to = nullptr;
  ProbeRequest request;
  ProbeCallback done;
  ProbeBody body;
  // Set when the network policy refused an address.
  std::string refusal;
  char error[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    curl_slist_free_all(headers);
    curl_slist_free_all(connect_to);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    return transfer->body.Append(absl::string_view(data, size * count));
  }

  static curl_socket_t OnOpenSocket(void* user, curlsocktype /*purpose*/,
                                    curl_sockaddr* address) {
    auto* transfer = static_cast<Transfer*>(user);
    std::optional<IpAddress> ip = IpAddress::FromSockaddr(&address->addr);
    if (!ip.has_value()) {
      transfer->refusal = "refused by network policy: not an IP address";
      return CURL_SOCKET_BAD;
    }
    if (absl::Status allowed = transfer->prober->policy_.CheckAddress(*ip);
        !allowed.ok()) {
      transfer->refusal = std::string(allowed.message());
      return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC,
                  address->protocol);
  }
};

absl::StatusOr<std::unique_ptr<HttpProber>> HttpProber::Create(
    NetworkPolicy policy, const ProbeTrust& trust) {
  std::string ca_pem;
  if (!trust.ca_file.empty()) {
    absl::StatusOr<std::string> read = ReadCaFile(trust.ca_file);
    if (!read.ok()) return read.status();
    ca_pem = *std::move(read);
  }
  if (absl::Status status = GlobalInit(); !status.ok()) return status;
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
  return std::unique_ptr<HttpProber>(
      new HttpProber(std::move(policy), std::move(ca_pem), multi));
}

HttpProber::HttpProber(NetworkPolicy policy, std::string ca_pem, void* multi)
    : policy_(std::move(policy)), ca_pem_(std::move(ca_pem)), multi_(multi) {}

HttpProber::~HttpProber() {
  Stop();
  curl_multi_cleanup(multi_);
}

absl::Status HttpProber::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void HttpProber::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  curl_multi_wakeup(multi_);
  if (thread_.joinable()) thread_.join();
}

void HttpProber::Probe(const ProbeRequest& request, ProbeCallback done) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    pending_.emplace_back(request, std::move(done));
  }
  curl_multi_wakeup(multi_);
}

void HttpProber::Loop() {
  while (true) {
    std::vector<std::pair<ProbeRequest, ProbeCallback>> pending;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      pending.swap(pending_);
    }
    for (auto& [request, done] : pending)
      StartTransfer(std::move(request), std::move(done));
    int running = 0;
    curl_multi_perform(multi_, &running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
      if (message->msg == CURLMSG_DONE) {
        FinishTransfer(message->easy_handle, message->data.result);
      }
    }
    // Returns early when a socket is ready, a libcurl timer expires or
    // Probe()/Stop() call curl_multi_wakeup.
    curl_multi_poll(multi_, nullptr, 0, /*timeout_ms=*/1000, nullptr);
  }
  // Abandon what is in flight: Stop() promises that no callback runs.
  for (auto& [easy, transfer] : active_) curl_multi_remove_handle(multi_, easy);
  active_.clear();
}

void HttpProber::StartTransfer(ProbeRequest request, ProbeCallback done) {
  auto transfer = std::make_unique<Transfer>();
  transfer->prober = this;
  transfer->request = std::move(request);
  transfer->done = std::move(done);
  CURL* easy = curl_easy_init();
  if (easy == nullptr) {
    transfer->done(
        ProbeOutcome{ProbeResult::kFailure, "http: curl_easy_init failed"});
    return;
  }
  transfer->easy = easy;
  const CheckSpec& check = transfer->request.check;
  const long timeout_ms = std::max<long>(
      1, static_cast<long>(absl::ToInt64Milliseconds(check.timeout)));
  if (!check.tls_server_name.empty()) {
    absl::StatusOr<Retargeted> retargeted =
        RetargetUrl(check.http_url, check.tls_server_name);
    if (!retargeted.ok()) {
      transfer->done(
          ProbeOutcome{ProbeResult::kFailure,
                       SanitizeOutput(absl::StrCat(
                           "http: ", retargeted.status().message()))});
      return;
    }
    transfer->connect_to =
        curl_slist_append(nullptr, retargeted->connect_to.c_str());
    curl_easy_setopt(easy, CURLOPT_CONNECT_TO, transfer->connect_to);
    curl_easy_setopt(easy, CURLOPT_URL, retargeted->url.c_str());
  } else {
    curl_easy_setopt(easy, CURLOPT_URL, check.http_url.c_str());
  }
  SetTlsOptions(easy, check);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &Transfer::OnOpenSocket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, transfer.get());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // Probes go straight to the target, whatever http_proxy says.
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_USERAGENT, kUserAgent);
  if (check.http_follow_redirects) {
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, kMaxRedirects);
  }
  const std::string method = absl::AsciiStrToUpper(check.http_method);
  if (method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, "");
  } else if (!method.empty() && method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  for (const auto& [name, value] : check.http_headers) {
    const std::string line = absl::StrCat(name, ": ", value);
    transfer->headers = curl_slist_append(transfer->headers, line.c_str());
  }
  if (transfer->headers != nullptr) {
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headers);
  }
  if (CURLMcode code = curl_multi_add_handle(multi_, easy); code != CURLM_OK) {
    transfer->done(
        ProbeOutcome{ProbeResult::kFailure,
                     absl::StrCat("http: ", curl_multi_strerror(code))});
    return;
  }
  active_.emplace(easy, std::move(transfer));
}

void HttpProber::SetTlsOptions(void* easy, const CheckSpec& check) const {
  // libcurl's defaults already verify; set them anyway, so that no build
  // or environment default can turn verification off unasked.
  const long verify = check.tls_skip_verify ? 0L : 1L;
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify * 2);
  if (!ca_pem_.empty()) {
    curl_blob blob{const_cast<char*>(ca_pem_.data()), ca_pem_.size(),
                   CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
    // The bundle replaces the system's roots: libcurl would also trust
    // its compiled-in CA directory.
    curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
  }
}

void HttpProber::FinishTransfer(void* easy, int code_value) {
  auto it = active_.find(easy);
  if (it == active_.end()) return;
  std::unique_ptr<Transfer> transfer = std::move(it->second);
  active_.erase(it);
  curl_multi_remove_handle(multi_, easy);

  const auto code = static_cast<CURLcode>(code_value);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  ProbeOutcome outcome;
  if (status > 0 && (code == CURLE_OK || (code == CURLE_WRITE_ERROR &&
                                          transfer->body.truncated()))) {
    outcome = HttpResponseOutcome(status, transfer->body.bytes());
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    outcome.output = TimeoutOutput(transfer->request.check.timeout);
  } else if (!transfer->refusal.empty()) {
    outcome.output = transfer->refusal;
  } else if (code == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    outcome.output = os_errno != 0
                         ? ErrnoOutput("connect", static_cast<int>(os_errno))
                         : absl::StrCat("connect: ", transfer->error);
  } else if (code == CURLE_PEER_FAILED_VERIFICATION ||
             code == CURLE_SSL_CONNECT_ERROR ||
             code == CURLE_SSL_CACERT_BADFILE) {
    outcome.output =
        TlsFailure(transfer->error[0] != '\0' ? transfer->error
                                              : curl_easy_strerror(code));
  } else if (code == CURLE_COULDNT_RESOLVE_HOST) {
    outcome.output = absl::StrCat("resolve: ", transfer->error);
  } else {
    outcome.output = absl::StrCat("http: ", transfer->error[0] != '\0'
                                                ? transfer->error
                                                : curl_easy_strerror(code));
  }
  outcome.output = SanitizeOutput(outcome.output);
  ProbeCallback done = std::move(transfer->done);
  transfer.reset();
  done(std::move(outcome));
}

}  // namespace muster::healthchecker
