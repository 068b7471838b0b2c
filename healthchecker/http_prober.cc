#include "healthchecker/http_prober.h"

#include <curl/curl.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "healthchecker/http_response.h"

namespace muster::healthchecker {
namespace {

constexpr long kMaxRedirects = 5;
constexpr char kUserAgent[] = "muster-healthchecker";
// Finished easy handles kept, reset, for the next transfers: a handle is
// a large allocation with setup work of its own.
constexpr size_t kMaxIdleEasyHandles = 256;

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Watches `fd` in `epoll_fd` for `events`, whether or not it is watched
// already (a socket libcurl closed left the set by itself).
bool Watch(int epoll_fd, int fd, uint32_t events, bool known) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (known) {
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event) == 0) return true;
    return errno == ENOENT &&
           epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0;
  }
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0) return true;
  return errno == EEXIST && epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event) == 0;
}

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
    // The handle first: it may point at the lists.
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    curl_slist_free_all(connect_to);
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
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    return absl::InternalError(
        ErrnoOutput("http prober: epoll_create1", errno));
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_fd;
  if (wake_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &event) != 0) {
    const int error = errno;
    if (wake_fd >= 0) close(wake_fd);
    close(epoll_fd);
    return absl::InternalError(ErrnoOutput("http prober: eventfd", error));
  }
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) {
    close(wake_fd);
    close(epoll_fd);
    return absl::InternalError("curl_multi_init failed");
  }
  auto prober = std::unique_ptr<HttpProber>(new HttpProber(
      std::move(policy), std::move(ca_pem), multi, epoll_fd, wake_fd));
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &HttpProber::OnSocket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, prober.get());
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &HttpProber::OnTimer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, prober.get());
  return prober;
}

HttpProber::HttpProber(NetworkPolicy policy, std::string ca_pem, void* multi,
                       int epoll_fd, int wake_fd)
    : policy_(std::move(policy)),
      ca_pem_(std::move(ca_pem)),
      multi_(multi),
      epoll_fd_(epoll_fd),
      wake_fd_(wake_fd) {}

HttpProber::~HttpProber() {
  Stop();
  for (void* easy : idle_easy_) curl_easy_cleanup(easy);
  // Before the epoll set closes: closing the cached connections calls
  // OnSocket.
  curl_multi_cleanup(multi_);
  close(wake_fd_);
  close(epoll_fd_);
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
  const uint64_t one = 1;
  // A full eventfd counter still wakes the loop; nothing to handle.
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void HttpProber::Probe(const ProbeRequest& request, ProbeCallback done) {
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    // The loop takes the whole queue at once: only the first probe of a
    // batch needs to wake it.
    wake = pending_.empty();
    pending_.emplace_back(request, std::move(done));
  }
  if (wake) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
}

int HttpProber::OnSocket(void* /*easy*/, int fd, int what, void* user,
                         void* socketp) {
  auto* prober = static_cast<HttpProber*>(user);
  if (what == CURL_POLL_REMOVE) {
    // The socket may be closed already; then it left the set by itself.
    epoll_ctl(prober->epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    return 0;
  }
  uint32_t events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= EPOLLIN;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= EPOLLOUT;
  if (Watch(prober->epoll_fd_, fd, events, /*known=*/socketp != nullptr) &&
      socketp == nullptr) {
    // Any non-null pointer: libcurl hands it back for this socket until
    // CURL_POLL_REMOVE, telling a known socket from a new one.
    curl_multi_assign(prober->multi_, fd, prober);
  }
  return 0;
}

int HttpProber::OnTimer(void* /*multi*/, long timeout_ms, void* user) {
  auto* prober = static_cast<HttpProber*>(user);
  prober->timer_due_ns_ =
      timeout_ms < 0 ? -1 : SteadyNowNs() + int64_t{timeout_ms} * 1000000;
  return 0;
}

int HttpProber::TimerWaitMs() const {
  if (timer_due_ns_ < 0) return -1;
  const int64_t left_ns = timer_due_ns_ - SteadyNowNs();
  if (left_ns <= 0) return 0;
  // Rounded up: waking before the timer is due would spin.
  return static_cast<int>(
      std::min<int64_t>((left_ns + 999999) / 1000000, 60 * 1000));
}

void HttpProber::SocketAction(int fd, int events) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, events, &running);
  ReadFinished();
}

void HttpProber::ReadFinished() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg == CURLMSG_DONE) {
      FinishTransfer(message->easy_handle, message->data.result);
    }
  }
}

void HttpProber::Loop() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (true) {
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, TimerWaitMs());
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof(count));
        continue;
      }
      const uint32_t ready = events[i].events;
      int action = 0;
      if ((ready & EPOLLIN) != 0) action |= CURL_CSELECT_IN;
      if ((ready & EPOLLOUT) != 0) action |= CURL_CSELECT_OUT;
      // An error or hang-up: let libcurl try both ways and read the
      // socket's own error, as it would after a poll.
      if ((ready & (EPOLLERR | EPOLLHUP)) != 0) {
        action |= CURL_CSELECT_IN | CURL_CSELECT_OUT;
      }
      // A socket an earlier action of this batch closed is unknown to
      // libcurl now, which ignores it.
      SocketAction(fd, action);
    }
    if (timer_due_ns_ >= 0 && timer_due_ns_ <= SteadyNowNs()) {
      timer_due_ns_ = -1;
      SocketAction(CURL_SOCKET_TIMEOUT, 0);
      if (timer_due_ns_ < 0) {
        // libcurl calls OnTimer only when its earliest deadline changed;
        // a timer that fired before libcurl's own clock reached it (ms
        // rounding) would otherwise never be set again.
        long timeout_ms = -1;
        curl_multi_timeout(multi_, &timeout_ms);
        OnTimer(multi_, timeout_ms, this);
      }
    }
    std::vector<std::pair<ProbeRequest, ProbeCallback>> pending;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      pending.swap(pending_);
    }
    // Each new transfer sets libcurl's timer to now: the next epoll_wait
    // returns at once and the timeout action starts them.
    for (auto& [request, done] : pending)
      StartTransfer(std::move(request), std::move(done));
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
  CURL* easy = nullptr;
  if (!idle_easy_.empty()) {
    easy = idle_easy_.back();
    idle_easy_.pop_back();
  } else {
    easy = curl_easy_init();
  }
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
  if (idle_easy_.size() < kMaxIdleEasyHandles) {
    // Back to the defaults (the connection cache is the multi's, not the
    // handle's): no option of this transfer leaks into the next one.
    curl_easy_reset(easy);
    idle_easy_.push_back(easy);
    transfer->easy = nullptr;
  }
  transfer.reset();
  done(std::move(outcome));
}

}  // namespace muster::healthchecker
