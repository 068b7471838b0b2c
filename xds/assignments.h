#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "registry/registry.h"
#include "xds/resources.h"

namespace muster::xds {

// Something told when a service's endpoints change (an ADS stream).
class AssignmentListener {
 public:
  virtual ~AssignmentListener() = default;
  // The assignment of a subscribed service changed. Must not block; never
  // called under the Assignments' locks.
  virtual void AssignmentChanged() = 0;
  // The pusher holds a reference from the moment it picks the listener
  // (under the Assignments' lock, while it is subscribed) until after
  // AssignmentChanged returns, so that a listener ending meanwhile (even
  // on the pusher's own thread, inside AssignmentChanged) stays alive.
  virtual void Ref() = 0;
  virtual void Unref() = 0;
};

// Assignments keeps, for every service some ADS stream subscribes to, one
// registry watch (ChangeLog::OpenWatch on the realm and service) and the
// service's current ClusterLoadAssignment (without a cluster name; the
// stream sets the name the client asked for). A watch's wake marks the
// service dirty; a pusher thread waits `push_delay` so that changes
// coalesce, re-reads the dirty services' instances from the core and tells
// their subscribers when the assignment changed. A service whose realm
// does not exist has no watch; it is read again every kRealmRetry, and
// its subscribers are told when the realm appears. The committer is never
// blocked: wakes only mark. Thread-safe.
class Assignments final {
 public:
  using Assignment = envoy::config::endpoint::v3::ClusterLoadAssignment;

  // Borrows `registry`, which outlives it. Starts the pusher thread.
  Assignments(registry::Registry& registry, absl::Duration push_delay);
  ~Assignments();
  Assignments(const Assignments&) = delete;
  Assignments& operator=(const Assignments&) = delete;

  // Makes `listener`'s subscriptions exactly `services` (an empty set
  // removes it). Services not read yet (new to the map, or whose first
  // read by another stream's subscription is still running) are read
  // before it returns, so that Get() then holds their instances. Once a call
  // leaving `listener` without services returns, the pusher takes no new
  // reference to it (see AssignmentListener::Ref).
  void Subscribe(AssignmentListener* listener,
                 const std::set<ServiceName>& services);
  static constexpr absl::Duration kRealmRetry = absl::Seconds(2);

  // The current assignment of a subscribed service (empty when unknown).
  std::shared_ptr<const Assignment> Get(const ServiceName& service) const;
  // Stops the pusher and closes every watch. Idempotent.
  void Stop();

 private:
  struct Entry {
    std::shared_ptr<registry::Watcher> watcher;
    std::shared_ptr<const Assignment> current;
    // The realm existed at the last read (its watch opened).
    bool realm_found = false;
    std::set<AssignmentListener*> listeners;
  };

  void PushLoop();
  // Drains the service's watch (reopening it when it ended), re-reads its
  // instances and stores the assignment; true when it changed.
  bool Refresh(const ServiceName& service);
  void Wake(const ServiceName& service);

  registry::Registry& registry_;
  const absl::Duration push_delay_;

  mutable absl::Mutex mu_;
  std::map<ServiceName, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::set<ServiceName> dirty_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Serializes Refresh (the pusher and new subscriptions).
  absl::Mutex refresh_mu_;
  std::thread pusher_;
};

}  // namespace muster::xds
