#pragma once

// The Resolver behind Resolver::Create: one watch thread per service,
// each holding a sync Watch stream on the current musterd.
//
// Thread safety: every public method may be called from any thread. One
// mutex (mu_) guards every service's cache; subscriber callbacks run
// outside it, each under its own (recursive) mutex so that Unsubscribe
// can wait for a running call.
//
// A watch thread: opens Watch{realm, service, from_revision,
// progress_notify} with a context the destructor can cancel; applies
// SNAPSHOT (collected until SNAPSHOT_END, which replaces the cache),
// EVENTS (PUT/DELETE) and PROGRESS; when the stream ends, reconnects
// after a jittered backoff (real time) with from_revision = last + 1, on
// the next daemon after a connection failure, from 0 after OUT_OF_RANGE.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/src/daemon_connection.h"
#include "client/src/outlier.h"
#include "client/src/picker.h"
#include "muster/client/resolver.h"
#include "muster/v1/registry.pb.h"

namespace muster::client::internal {

// Routable: ENABLED (or unspecified) and PASSING or WARNING.
bool IsRoutable(const v1::Instance& instance);
Endpoint ToEndpoint(const v1::Instance& instance);
bool SameEndpoints(const std::vector<Endpoint>& a,
                   const std::vector<Endpoint>& b);

class ResolverImpl final : public Resolver {
 public:
  ResolverImpl(std::shared_ptr<Client> client, ResolverOptions options);
  ~ResolverImpl() override;

  std::optional<Endpoint> Pick(const std::string& service,
                               const std::vector<std::string>& exclude,
                               std::string* why) override;
  void Report(const Endpoint& endpoint, bool success) override;
  ServiceView View(const std::string& service) override;
  uint64_t Subscribe(
      const std::string& service,
      std::function<void(const std::vector<Endpoint>&)> on_change) override;
  void Unsubscribe(uint64_t id) override;

 private:
  using Callback = std::function<void(const std::vector<Endpoint>&)>;

  struct Subscriber {
    std::string service;
    Callback on_change;
    // Held while on_change runs; recursive so that a callback may
    // unsubscribe itself.
    std::recursive_mutex running;
    bool active = true;  // guarded by `running`
  };

  struct Service {
    Service(std::string name, OutlierOptions outlier, const Clock* clock)
        : name(std::move(name)), outliers(outlier, clock) {}
    const std::string name;
    // The cache: instance id -> last state.
    std::map<std::string, v1::Instance> instances;
    // A snapshot being received (replaces `instances` at SNAPSHOT_END).
    std::map<std::string, v1::Instance> snapshot;
    bool synced = false;
    bool connected = false;
    uint64_t revision = 0;
    // When the stream was last known up (or the watch started).
    Clock::TimePoint down_since;
    // The last stream's error; empty while none.
    std::string last_error;
    // The last error was not a connection failure (realm missing, access
    // denied ...): waiting for the first snapshot is pointless.
    bool failed_hard = false;
    Picker picker;  // its endpoints are the routable set, by id
    OutlierDetector outliers;
    // The routable set was published to subscribers at least once.
    bool published = false;
    // The context of the stream open now, for TryCancel; null between
    // streams.
    grpc::ClientContext* context = nullptr;
    std::thread thread;
  };

  // The service's state, its watch started; waits for its first snapshot
  // when `wait`. REQUIRES: lock holds mu_.
  Service& Acquire(const std::string& service, bool wait,
                   std::unique_lock<std::mutex>& lock);
  void Watch(Service* service);
  // Applies one message; returns the subscribers to call with the new
  // routable set when it changed. REQUIRES: mu_ held.
  std::vector<std::shared_ptr<Subscriber>> ApplyLocked(
      Service& service, const v1::WatchResponse& response);
  // Recomputes the routable set; the subscribers to call when it changed.
  std::vector<std::shared_ptr<Subscriber>> RefreshLocked(Service& service);
  static void Notify(const std::vector<std::shared_ptr<Subscriber>>& to,
                     const std::vector<Endpoint>& endpoints);
  ServiceView ViewLocked(const Service& service) const;

  // Constant after construction.
  const std::shared_ptr<Client> client_;
  DaemonConnection& connection_;
  const ResolverOptions options_;
  const std::shared_ptr<Clock> clock_;
  const std::string zone_;
  const OutlierOptions outlier_options_;

  std::mutex mu_;
  std::condition_variable changed_;  // a service synced or failed; stop
  bool stopping_ = false;
  std::map<std::string, std::unique_ptr<Service>> services_;
  uint64_t next_subscriber_ = 1;
  std::map<uint64_t, std::shared_ptr<Subscriber>> subscribers_;
};

}  // namespace muster::client::internal
