#pragma once

// The built-in health endpoint: a small HTTP server a service turns on
// with one call, usable as its HTTP check target.
//
//   muster::client::HealthServerOptions options;
//   options.port = 8081;
//   auto health = muster::client::HealthServer::Start(options);
//   reg.check = muster::client::CheckType::kHttp;
//   reg.http_url = health->url("/readyz");
//
// GET /healthz answers 200 "ok" while the process serves. GET /readyz
// answers 200 "ready" when the readiness callback (if any) returns true
// and SetReady(false) was not called, 503 "not ready" otherwise. Anything
// else is 404.

#include <grpcpp/support/status.h>

#include <functional>
#include <memory>
#include <string>

namespace muster::client {

struct HealthServerOptions {
  // Interface to listen on: "0.0.0.0" so that musterd can reach it from
  // another host; "127.0.0.1" for a local-only daemon.
  std::string host = "0.0.0.0";
  // 0: a free port (see port()).
  int port = 0;
  // Asked on every GET /readyz; empty: ready.
  std::function<bool()> ready;
};

class HealthServer {
 public:
  // Listens and serves on a background thread. nullptr, with `*status`
  // when given, when the address cannot be bound.
  static std::unique_ptr<HealthServer> Start(HealthServerOptions options,
                                             grpc::Status* status = nullptr);
  // Stops serving.
  virtual ~HealthServer() = default;

  virtual int port() const = 0;
  // "http://<host>:<port><path>", with 127.0.0.1 for host 0.0.0.0.
  virtual std::string url(const std::string& path) const = 0;
  // Overrides readiness: false makes /readyz answer 503 whatever the
  // callback says (Registration::Shutdown's drain does this too when
  // told about the server).
  virtual void SetReady(bool ready) = 0;
};

}  // namespace muster::client
