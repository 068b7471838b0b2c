#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/metrics.h"
#include "daemon/tls_files.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace muster::registry {

class HttpServer;  // cpp-httplib, kept out of this header.

// HttpEndpoint serves musterd's operator endpoints over HTTP/1.1 (HTTPS
// with Options::tls):
//   GET /metrics  Metrics::Render(), Prometheus text format 0.0.4
//   GET /healthz  200 "ok" while the process serves (liveness)
//   GET /readyz   200 "ready" when `ready()` returns OK, else 503 "not
//                 ready: " and the status message (readiness)
// Options::routes adds more (the HTTP API).
// Requests run on two worker threads of its own (plus extra_workers);
// connections are not kept alive, so an idle client never holds a worker.
// Thread-safety: port() and address() may be called from any thread; Start()
// and Stop() are called by the owner, not concurrently with each other.
// `metrics` and `ready` must be thread-safe and outlive the endpoint.
class HttpEndpoint final {
 public:
  struct Options {
    // "host:port" or "[ipv6]:port"; host is an IP address or a resolvable
    // name; port 0 picks a free port (see port()).
    std::string listen = "127.0.0.1:7401";
    // What errors call the address (musterd: its flag, "--http-listen").
    std::string name = "http listen";
    // HTTPS with this identity, reloaded when the files change; no cert:
    // plain HTTP. With a client CA (mutual TLS), /healthz and /readyz
    // still answer clients without a certificate (probes cannot present
    // one); /metrics needs one that verifies (MetricsAccess).
    ReloadingTlsIdentity::Files tls = {};
    // musterd --auth: /metrics also needs `Authorization: Bearer <secret>`
    // that this accepts (OK; UNAUTHENTICATED or PERMISSION_DENIED with
    // the reason, which must not repeat the secret). None: no token.
    std::function<absl::Status(absl::string_view secret)> metrics_token{};
    // More routes (musterd: the HTTP API, http/api.h), added after the
    // endpoint's own, and the worker threads they may hold at once on top
    // of the endpoint's two (event streams hold one each), so that they
    // never starve /healthz, /readyz and /metrics.
    std::function<void(httplib::Server&)> routes{};
    size_t extra_workers = 0;
  };

  // The readiness check behind /readyz; it runs on a worker thread for
  // every request, so it should answer within a second or two.
  using ReadyCheck = std::function<absl::Status()>;

  // Binds and listens on options.listen; requests are served after Start().
  // An empty `ready` means always ready.
  // Returns INVALID_ARGUMENT for a malformed or unresolvable listen address
  // or one that is not this host's, PERMISSION_DENIED for a privileged
  // port, UNAVAILABLE when the port is taken; messages start with the name
  // and the address, e.g. "http listen 127.0.0.1:7401: address already in
  // use".
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Create(
      const Options& options, Metrics& metrics, ReadyCheck ready);

  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;
  // Stops and joins.
  ~HttpEndpoint();

  // Serves requests on a thread of its own until Stop().
  // Returns FAILED_PRECONDITION when already started or stopped.
  absl::Status Start();

  // Closes the listening socket, lets in-flight requests finish and joins
  // every thread. Idempotent; also valid when Start() was never called.
  void Stop();

  // The bound port: options.listen's port, or the one picked for port 0.
  int port() const { return port_; }
  // The bound address, "host:port" (with the real port), for log lines.
  const std::string& address() const { return address_; }

 private:
  HttpEndpoint(std::unique_ptr<HttpServer> server, int port,
               std::string address);

  // Constant after construction.
  const std::unique_ptr<HttpServer> server_;
  const int port_;
  const std::string address_;

  // Owner-thread state (see the class comment).
  bool started_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace muster::registry
