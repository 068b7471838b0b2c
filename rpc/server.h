#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/heap_trimmer.h"
#include "common/metrics.h"
#include "registry/registry.h"
#include "rpc/auth.h"
#include "rpc/registry_service.h"
#include "rpc/tcp_listener.h"
#include "rpc/tls_credentials.h"

namespace grpc {
class Server;
class Service;
namespace experimental {
class ExternalConnectionAcceptor;
}  // namespace experimental
}  // namespace grpc

namespace muster::registry {

class RealmService;
class TokenService;

// Server is musterd's gRPC endpoint: muster.v1.Registry, muster.v1.Realms,
// grpc.health.v1.Health and server reflection on one listening port.
// Connections are accepted by a TcpListener (which survives descriptor
// exhaustion, unlike gRPC 1.51's own) and closed when they never finish
// the HTTP/2 handshake or stay without calls for too long.
// Start/Stop from one owner thread; port() and target() from any.
class Server final {
 public:
  struct Options {
    // "host:port"; port 0 picks a free one (see port()).
    std::string listen = "127.0.0.1:7400";
    // What bind errors call the address (musterd: its flag, "--listen").
    std::string listen_name = "grpc listen";
    ServerFacts facts;
    // A connection that has not sent the HTTP/2 preface and SETTINGS this
    // long after it was accepted is closed.
    absl::Duration handshake_timeout = absl::Seconds(20);
    // A connection without calls this long gets a GOAWAY (clients reconnect
    // on their next call); absl::InfiniteDuration() never.
    absl::Duration max_connection_idle = absl::Minutes(30);
    // Descriptors kept free for everything but gRPC connections (see
    // TcpListener).
    uint32_t fd_reserve = 2048;
    // Time for the listener's rate-limited logs.
    Clock* clock = &Clock::Real();
    // Returns freed heap after connection bursts; none: never.
    HeapTrimmer* trimmer = nullptr;
    // A Watch that asked for progress notifications gets a PROGRESS message
    // after this long without anything else to send. Positive;
    // absl::InfiniteDuration(): never.
    absl::Duration watch_progress_interval = absl::Seconds(10);
    // TLS (and mutual TLS) on the port; not enabled: plaintext.
    TlsFiles tls;
    // Transport limits against hostile or broken clients; defaults a
    // normal fleet never meets.
    // Most streams (calls, watches) open at once on one connection; more
    // wait in the client until one ends.
    uint32_t max_concurrent_streams = 4096;
    // Memory gRPC's transport may hold for all connections (buffers,
    // messages in flight); beyond it new reads wait and new connections
    // are refused (grpc::ResourceQuota).
    uint64_t memory_limit_bytes = uint64_t{1} << 30;
    // A client sending keepalive pings more often than this (without data)
    // gets a strike; after max_ping_strikes strikes, a GOAWAY.
    absl::Duration min_ping_interval = absl::Seconds(10);
    uint32_t max_ping_strikes = 2;
    // Access control and per-client limits (rpc/auth.h); `clock` is its
    // time (token expiry, the request rate).
    AuthOptions auth;
    // More services on the same port (musterd: the xDS control plane),
    // borrowed; they outlive the Server.
    std::vector<grpc::Service*> extra_services;
  };

  // Binds and serves. INVALID_ARGUMENT for an option out of range; the
  // bind errors are Bind's.
  // `listener`, from Bind with the same options, holds the port already;
  // none: Start binds it.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const Options& options, Registry& registry, Metrics& metrics,
      std::unique_ptr<TcpListener> listener = nullptr);
  // Binds options.listen and holds the port without serving (connections
  // queue in the kernel until Start), so that musterd claims its ports
  // before it touches the data dir. UNAVAILABLE when the port is taken,
  // INVALID_ARGUMENT when the address is not this host's or does not
  // resolve; the message starts with listen_name and the address.
  static absl::StatusOr<std::unique_ptr<TcpListener>> Bind(
      const Options& options, Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  // "host:port" a local client dials to reach this server (the loopback
  // address when listening on every address).
  const std::string& target() const { return target_; }
  // Reports NOT_SERVING, ends watch streams (ChangeLog::EndWatches, so new
  // ones are refused too), stops accepting and waits up to `grace` for
  // in-flight calls (then cancels them). The registry keeps committing
  // until its own Stop. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(5));

 private:
  Server() = default;

  Registry* registry_ = nullptr;
  // Before the services: their watch streams hold its leases until the
  // last one is destroyed.
  std::unique_ptr<Auth> auth_;
  std::unique_ptr<RegistryService> registry_service_;
  std::unique_ptr<RealmService> realm_service_;
  std::unique_ptr<TokenService> token_service_;
  std::unique_ptr<TcpListener> listener_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string target_;
  bool stopped_ = false;
};

}  // namespace muster::registry
