#include "daemon/http_endpoint.h"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/listen_address.h"
#include "common/logging.h"

namespace muster::registry {

// httplib's Server or SSLServer plus a way to close the listening socket
// that, unlike httplib's stop(), also works before the accept loop has
// started (stop() is a no-op until then, so a Stop() racing Start() would
// hang the join).
template <typename Base>
class ClosableServer final : public Base {
 public:
  using Base::Base;
  void CloseListener() {
    socket_t sock = this->svr_sock_.exchange(INVALID_SOCKET);
    if (sock != INVALID_SOCKET) {
      // shutdown() wakes an accept() blocked on the socket.
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
    }
  }
};

// The server, plain or TLS, and the TLS identity its handshakes use
// (declared first: it must outlive the server's SSL_CTX).
class HttpServer final {
 public:
  HttpServer(std::unique_ptr<ReloadingTlsIdentity> identity,
             std::unique_ptr<httplib::Server> server,
             std::function<void()> close_listener)
      : identity_(std::move(identity)),
        server_(std::move(server)),
        close_listener_(std::move(close_listener)) {}

  httplib::Server& http() { return *server_; }
  void CloseListener() { close_listener_(); }

 private:
  const std::unique_ptr<ReloadingTlsIdentity> identity_;
  const std::unique_ptr<httplib::Server> server_;
  const std::function<void()> close_listener_;
};

namespace {

// /metrics, /healthz and /readyz are cheap; two workers leave room for a
// scrape and a probe at once.
constexpr size_t kWorkerThreads = 2;
constexpr time_t kIoTimeoutSeconds = 5;
constexpr size_t kMaxRequestBodyBytes = 64 * 1024;
constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4";

// httplib would fail on an unresolvable host too, but without saying why.
absl::Status CheckResolvable(const std::string& name, const std::string& listen,
                             const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, " ", listen,
                                                   ": cannot resolve \"", host,
                                                   "\": ", ::gai_strerror(rc)));
  }
  ::freeaddrinfo(result);
  return absl::OkStatus();
}

// Whether /metrics may be served to `req`: the one place that decides it.
// Under mutual TLS the client must have presented a certificate that
// verified against the client CAs; with a token check (musterd --auth), a
// bearer token it accepts as well. OK, or UNAUTHENTICATED (401) /
// PERMISSION_DENIED (403) with the reason for the response body.
absl::Status MetricsAccess(const httplib::Request& req, bool mutual_tls,
                           const HttpEndpoint::Options& options) {
  if (mutual_tls && !ReloadingTlsIdentity::PeerVerified(req.ssl)) {
    return absl::UnauthenticatedError(
        "/metrics needs a client certificate issued by a CA of "
        "--tls-client-ca");
  }
  if (!options.metrics_token) return absl::OkStatus();
  const std::string header = req.get_header_value("Authorization");
  constexpr absl::string_view kBearer = "bearer ";
  if (header.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(
          absl::string_view(header).substr(0, kBearer.size()), kBearer)) {
    return absl::UnauthenticatedError(
        "/metrics needs \"Authorization: Bearer <secret>\" of a live access "
        "token (musterd --auth)");
  }
  return options.metrics_token(absl::StripAsciiWhitespace(
      absl::string_view(header).substr(kBearer.size())));
}

absl::StatusOr<std::unique_ptr<HttpServer>> NewServer(
    const HttpEndpoint::Options& options) {
  if (options.tls.cert.empty()) {
    auto server = std::make_unique<ClosableServer<httplib::Server>>();
    auto* raw = server.get();
    return std::make_unique<HttpServer>(nullptr, std::move(server),
                                        [raw] { raw->CloseListener(); });
  }
  absl::StatusOr<std::unique_ptr<ReloadingTlsIdentity>> identity =
      ReloadingTlsIdentity::Create(options.tls);
  if (!identity.ok()) return identity.status();
  ReloadingTlsIdentity* id = identity->get();
  auto server = std::make_unique<ClosableServer<httplib::SSLServer>>(
      [id](SSL_CTX& ctx) { return id->ConfigureServer(ctx); });
  if (!server->is_valid()) {
    return absl::InternalError(
        absl::StrCat(options.name, ": cannot set up TLS"));
  }
  auto* raw = server.get();
  return std::make_unique<HttpServer>(*std::move(identity), std::move(server),
                                      [raw] { raw->CloseListener(); });
}

// Without SO_REUSEPORT (httplib's default sets it), so a second listener
// on a taken port fails instead of silently sharing it.
void ListenerSocketOptions(socket_t sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Create(
    const Options& options, Metrics& metrics, ReadyCheck ready) {
  absl::StatusOr<HostPort> host_port =
      ParseListenAddress(options.name, options.listen);
  if (!host_port.ok()) return host_port.status();
  absl::Status resolvable =
      CheckResolvable(options.name, options.listen, host_port->host);
  if (!resolvable.ok()) return resolvable;

  absl::StatusOr<std::unique_ptr<HttpServer>> holder = NewServer(options);
  if (!holder.ok()) return holder.status();
  httplib::Server* server = &(*holder)->http();
  // httplib takes ownership of the queue and joins its threads when the
  // accept loop ends.
  server->new_task_queue = [workers = kWorkerThreads + options.extra_workers] {
    return new httplib::ThreadPool(workers);
  };
  server->set_socket_options(ListenerSocketOptions);
  // One request per connection: an idle keep-alive client (a scraper
  // between scrapes) would otherwise hold one of the two workers.
  server->set_keep_alive_max_count(1);
  server->set_read_timeout(kIoTimeoutSeconds);
  server->set_write_timeout(kIoTimeoutSeconds);
  server->set_payload_max_length(kMaxRequestBodyBytes);

  server->Get("/metrics",
              [&metrics, mutual = !options.tls.client_ca.empty(), options](
                  const httplib::Request& req, httplib::Response& res) {
                if (absl::Status access = MetricsAccess(req, mutual, options);
                    !access.ok()) {
                  res.status = absl::IsUnauthenticated(access) ? 401 : 403;
                  if (res.status == 401 && options.metrics_token) {
                    res.set_header("WWW-Authenticate", "Bearer");
                  }
                  res.set_content(std::string(access.message()), "text/plain");
                  return;
                }
                res.set_content(metrics.Render(), kPrometheusContentType);
              });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  server->Get("/readyz", [ready = std::move(ready)](const httplib::Request&,
                                                    httplib::Response& res) {
    absl::Status status = ready ? ready() : absl::OkStatus();
    res.status = status.ok() ? 200 : 503;
    res.set_content(status.ok() ? std::string("ready")
                                : absl::StrCat("not ready: ", status.message()),
                    "text/plain");
  });

  if (options.routes) options.routes(*server);

  // httplib reports a failed bind as false or -1; errno still holds the
  // reason from the last bind() it tried.
  errno = 0;
  int port = host_port->port == 0
                 ? server->bind_to_any_port(host_port->host)
                 : (server->bind_to_port(host_port->host, host_port->port)
                        ? host_port->port
                        : -1);
  if (port < 0) {
    int error = errno;
    std::string reason =
        error != 0 ? std::error_code(error, std::generic_category()).message()
                   : "cannot bind";
    absl::StatusCode code =
        error == EACCES || error == EPERM ? absl::StatusCode::kPermissionDenied
        : error == EADDRNOTAVAIL          ? absl::StatusCode::kInvalidArgument
                                          : absl::StatusCode::kUnavailable;
    return absl::Status(code,
                        absl::StrCat(options.name, " ", options.listen, ": ",
                                     absl::AsciiStrToLower(reason)));
  }
  std::string host = host_port->host.find(':') != std::string::npos
                         ? absl::StrCat("[", host_port->host, "]")
                         : host_port->host;
  return std::unique_ptr<HttpEndpoint>(new HttpEndpoint(
      *std::move(holder), port, absl::StrCat(host, ":", port)));
}

HttpEndpoint::HttpEndpoint(std::unique_ptr<HttpServer> server, int port,
                           std::string address)
    : server_(std::move(server)), port_(port), address_(std::move(address)) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

absl::Status HttpEndpoint::Start() {
  if (started_ || stopped_) {
    return absl::FailedPreconditionError(
        "http endpoint already started or stopped");
  }
  started_ = true;
  thread_ = std::thread([this] {
    // Returns once CloseListener() has closed the socket and the worker
    // pool has drained.
    if (!server_->http().listen_after_bind()) {
      MUSTER_LOG(kError, "http endpoint on %s stopped accepting connections",
                 address_);
    }
  });
  return absl::OkStatus();
}

void HttpEndpoint::Stop() {
  if (stopped_) return;
  stopped_ = true;
  server_->CloseListener();
  if (thread_.joinable()) thread_.join();
}

}  // namespace muster::registry
