#pragma once

// A smart service's side of the registry: registers one instance, keeps
// it alive, and takes it out cleanly.
//
//   muster::client::RegistrationOptions reg;
//   reg.service = "identity";
//   reg.address = "10.0.0.5";
//   reg.port = 8080;                       // a TTL check of 10s by default
//   auto registration = muster::client::Registration::Start(client, reg);
//   ...
//   registration->Shutdown();              // drain, grace, deregister
//
// Semantics:
// - Start() returns at once; a background thread registers, retrying with
//   exponential backoff and jitter while musterd is unreachable.
// - A TTL instance heartbeats (with its incarnation) every
//   ttl * heartbeat_fraction; any other check kind confirms the instance
//   still exists at the same pace.
// - When musterd answers that the instance is gone (evicted, or
//   deregistered by an operator) or was re-registered by someone else,
//   the registration registers again. A process that was evicted while
//   alive (for instance after a long pause) thus comes back with a new
//   incarnation: watchers see a DELETE then a PUT.
// - Daemon restarts and network blips only delay heartbeats: the instance
//   is kept by musterd until its TTL and deregister_after run out.
// - Shutdown() drains the instance (admin state DRAINING, reason
//   "shutting down"), waits drain_grace so that clients stop picking it,
//   then deregisters this incarnation. The destructor calls it. A TTL
//   instance keeps heartbeating during the grace, so that it does not
//   turn CRITICAL while it drains.
//
// Thread-safety: status(), WaitRegistered() and Shutdown() may be called
// from any thread; concurrent Shutdown() calls wait for the first one.

#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "muster/client/client.h"

namespace muster::client {

class HealthServer;

enum class CheckType { kTtl, kHttp, kGrpc, kTcp, kNone };

struct RegistrationOptions {
  // Required: a service name ([a-z0-9-], as musterd's names).
  std::string service;
  // Unique within the service. Empty: "<address>:<port>", stable across
  // restarts so that a restarted process replaces its old entry.
  std::string id;
  // Required: where clients reach the instance (hostname or IP literal).
  std::string address;
  // Required: 1..65535.
  uint32_t port = 0;
  std::vector<std::string> tags;
  std::map<std::string, std::string> metadata;
  // Routing weight 1..10000; 0: musterd's default (1).
  uint32_t weight = 0;
  // Empty: the Client's zone.
  std::string zone;
  std::string version;

  // How musterd checks the instance.
  CheckType check = CheckType::kTtl;
  // kTtl: the longest gap between heartbeats musterd allows (>= 1s).
  std::chrono::milliseconds ttl{10000};
  // kHttp: the URL musterd GETs, e.g. HealthServer::url("/readyz").
  std::string http_url;
  // kGrpc: the service name asked about in grpc.health.v1 (empty: the
  // whole server).
  std::string grpc_service;
  // kHttp, kTcp, kGrpc: zero takes musterd's defaults.
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds timeout{0};
  // How long musterd keeps the instance while CRITICAL before evicting
  // it; zero takes the realm's default.
  std::chrono::milliseconds deregister_after{0};

  // A heartbeat (or existence check) every ttl * heartbeat_fraction
  // (0 < x <= 0.5; for non-TTL checks of ttl as given above).
  double heartbeat_fraction = 1.0 / 3;
  // Retry backoff while musterd is unreachable: from initial_backoff,
  // doubling, up to max_backoff, each delay with full jitter.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Shutdown(): how long the instance stays DRAINING before it is
  // deregistered.
  std::chrono::milliseconds drain_grace{5000};
  // Optional, not owned; must outlive the Registration. Shutdown() calls
  // its SetReady(false) as the drain starts, so that /readyz (and an HTTP
  // check pointing at it) reports "not ready" while draining.
  HealthServer* health_server = nullptr;
};

enum class RegistrationState {
  kRegistering,  // not registered yet, or registering again
  kRegistered,   // registered; heartbeats succeed
  kRetrying,     // registered before, musterd unreachable now
  kFailed,       // musterd refused the instance (INVALID_ARGUMENT,
                 // PERMISSION_DENIED, ...): nothing is retried
  kDraining,     // Shutdown() in progress
  kStopped,      // deregistered (or gave up); the thread has ended
};

// "registering", "registered", "retrying", "failed", "draining",
// "stopped".
const char* StateName(RegistrationState state);

struct RegistrationStatus {
  RegistrationState state = RegistrationState::kRegistering;
  std::string id;
  // The current incarnation (create_revision); 0 before registering.
  uint64_t incarnation = 0;
  // How many times the instance was registered (1 after the first).
  uint64_t registrations = 0;
  // musterd's last answer on health: "STARTING", "PASSING", "WARNING",
  // "CRITICAL", or "" before any.
  std::string health;
  // The last failure, in words; "" when the last call succeeded.
  std::string last_error;
};

// OK, or INVALID_ARGUMENT naming the first field of `options` that
// breaks its rule: what Start() checks before it starts anything, for
// callers that want to refuse bad options early.
grpc::Status CheckRegistrationOptions(const RegistrationOptions& options);

class Registration {
 public:
  // Checks `options` locally and starts the background thread. nullptr,
  // with `*status` (INVALID_ARGUMENT naming the field) when given, for
  // invalid options.
  static std::unique_ptr<Registration> Start(std::shared_ptr<Client> client,
                                             RegistrationOptions options,
                                             grpc::Status* status = nullptr);
  // Shutdown().
  virtual ~Registration() = default;

  // Blocks until registered (true), failed or `timeout` passed (false).
  virtual bool WaitRegistered(std::chrono::milliseconds timeout) = 0;
  virtual RegistrationStatus status() const = 0;
  // Drains, waits drain_grace, deregisters; later calls return the first
  // call's result. The status of the deregistration (OK when the instance
  // was already gone).
  virtual grpc::Status Shutdown() = 0;
  // As Shutdown() with this grace instead of drain_grace.
  virtual grpc::Status Shutdown(std::chrono::milliseconds grace) = 0;
};

}  // namespace muster::client
