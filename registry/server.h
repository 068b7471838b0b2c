#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "registry/common/metrics.h"
#include "registry/registry.h"
#include "registry/registry_service.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace muster::registry {

class RealmService;

// Server is musterd's gRPC endpoint: muster.v1.Registry, muster.v1.Realms,
// grpc.health.v1.Health and server reflection on one listening port.
// Start/Stop from one owner thread; port() from any.
class Server final {
 public:
  struct Options {
    // "host:port"; port 0 picks a free one (see port()).
    std::string listen = "127.0.0.1:7400";
    ServerFacts facts;
  };

  // Binds and serves. UNAVAILABLE naming the address when it cannot bind
  // (taken, or not a local address).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const Options& options,
                                                       Registry& registry,
                                                       Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  // Reports NOT_SERVING, ends watch streams, stops accepting and waits up
  // to `grace` for in-flight calls (then cancels them). Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(5));

 private:
  Server() = default;

  Registry* registry_ = nullptr;
  std::unique_ptr<RegistryService> registry_service_;
  std::unique_ptr<RealmService> realm_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool stopped_ = false;
};

}  // namespace muster::registry
