#pragma once

#include <memory>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "registry/registry.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace muster::xds {

class Assignments;
struct AdsShared;

// XdsServer is musterd's xDS control plane: the state-of-the-world
// envoy.service.discovery.v3.AggregatedDiscoveryService over the
// registry core (README "xDS: discovery for any gRPC client"). For a
// resource name "<service>.<realm>" (or "<service>", the realm then from
// the node's metadata `muster_realm`, else "default") it serves a
// Listener, a Cluster and a ClusterLoadAssignment of that same name
// (xds/resources.h), and pushes a new assignment to the streams
// subscribed to a service when its endpoints change, coalesced over
// push_delay. Thread-safe; Stop before the registry stops.
class XdsServer final {
 public:
  struct Options {
    // Changes within this window go out in one push.
    absl::Duration push_delay = absl::Milliseconds(100);
    // On: a stream needs `authorization: Bearer <secret>` of a live token
    // that may read every realm it subscribes to (musterd --auth).
    bool auth = false;
    Clock* clock = &Clock::Real();
  };

  // Borrows `registry` and `metrics`, which outlive it.
  XdsServer(Options options, registry::Registry& registry, Metrics& metrics);
  ~XdsServer();
  XdsServer(const XdsServer&) = delete;
  XdsServer& operator=(const XdsServer&) = delete;

  // A new gRPC service object over this control plane, for one
  // grpc::ServerBuilder (a service registers with one server only; each
  // port gets its own). Outlived by this XdsServer.
  std::unique_ptr<grpc::Service> NewService();

  // Ends the open streams with UNAVAILABLE (clients reconnect), refuses
  // new ones, stops pushing and closes the registry watches. Call before
  // the gRPC servers shut down. Idempotent.
  void Stop();

 private:
  std::unique_ptr<AdsShared> shared_;
};

}  // namespace muster::xds
