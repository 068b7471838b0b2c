#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "checkapi/target_source.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "registry/committer.h"
#include "registry/index.h"
#include "registry/limits.h"
#include "registry/model.h"
#include "registry/store.h"
#include "registry/watch_hub.h"

namespace muster::registry {

// Registry is the domain core: it validates requests, turns mutations into
// commit operations, serves reads from the index, and is the health
// checker's TargetSource and VerdictSink. It knows neither gRPC nor
// RocksDB. Thread-safe. Mutations complete asynchronously: `done` runs on
// the commit thread after the synced write, or inline when the request is
// refused before queueing.
class Registry final : public healthchecker::TargetSource,
                       public healthchecker::VerdictSink {
 public:
  struct Options {
    // Register into a missing realm creates it instead of NOT_FOUND.
    bool auto_create_realms = false;
    uint64_t changelog_retention = limits::kDefaultChangelogRetention;
    // Extra registration rules (e.g. the checker's network policy); an
    // error refuses the registration.
    std::function<absl::Status(const Instance&)> check_registration;
    // Generates ids for registrations that leave them empty; random by
    // default.
    std::function<std::string()> id_generator;
    WatchHub::Options watch;
  };
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;

  struct RegisterResult {
    std::shared_ptr<const Instance> instance;
    bool created = false;
    uint64_t revision = 0;
  };
  struct DeleteRealmResult {
    uint64_t revision = 0;
    uint64_t deleted_instances = 0;
  };
  struct EventsPage {
    std::vector<Event> events;
    // Where to continue; 0 when everything up to `revision` was scanned.
    uint64_t next_revision = 0;
    uint64_t oldest_retained_revision = 0;
    uint64_t revision = 0;
  };

  // Loads the store into memory. The caller keeps `store`, `clock` and
  // `metrics` alive longer than the registry. DATA_LOSS / INTERNAL when
  // the store cannot be read.
  static absl::StatusOr<std::unique_ptr<Registry>> Create(Options options,
                                                          Store& store,
                                                          Clock& clock,
                                                          Metrics& metrics);
  ~Registry() override;

  // Starts the commit thread and makes sure realm "default" exists.
  absl::Status Start();
  // Ends watchers, completes queued commits, joins. Idempotent.
  void Stop();

  void Register(std::string realm, Instance request,
                Callback<RegisterResult> done);
  void Deregister(InstanceKey key, uint64_t incarnation,
                  Callback<uint64_t> done);
  void SetAdminState(InstanceKey key, AdminState state, std::string reason,
                     Callback<std::shared_ptr<const Instance>> done);
  // In memory only. NOT_FOUND / FAILED_PRECONDITION as in the API.
  absl::StatusOr<std::shared_ptr<const Instance>> Heartbeat(
      const InstanceKey& key, uint64_t incarnation);
  void CreateRealm(Realm realm, Callback<Realm> done);
  void UpdateRealm(Realm realm, Callback<Realm> done);
  void DeleteRealm(std::string name, bool force,
                   Callback<DeleteRealmResult> done);

  absl::StatusOr<std::shared_ptr<const Instance>> GetInstance(
      const InstanceKey& key) const;
  absl::StatusOr<InstancePage> ListInstances(const ListQuery& query) const;
  absl::StatusOr<std::vector<ServiceCounts>> ListServices(
      const std::string& realm, uint64_t* revision) const;
  absl::StatusOr<Realm> GetRealm(const std::string& name) const;
  // `id` and `service` may be empty (no filter). `from` 0 means oldest.
  absl::StatusOr<EventsPage> ListEvents(const InstanceKey& filter,
                                        uint64_t from, uint32_t limit);
  // The checker's live view of the instance merged with the heartbeat
  // time, when known.
  healthchecker::HealthDetail HealthDetailOf(const Instance& instance) const;
  void SetHealthDetailProvider(
      const healthchecker::HealthDetailProvider* provider) {
    detail_provider_.store(provider);
  }

  const Index& index() const { return index_; }
  WatchHub& watch_hub() { return hub_; }

  // TargetSource.
  void Subscribe(healthchecker::TargetListener* listener) override;
  void Unsubscribe(healthchecker::TargetListener* listener) override;
  std::optional<double> EvictionProtectionShare(
      const std::string& realm) const override;
  // VerdictSink.
  void ReportHealth(const healthchecker::TargetKey& key, uint64_t incarnation,
                    Health health, std::string output,
                    std::function<void(absl::Status)> done) override;
  void Evict(const healthchecker::TargetKey& key, uint64_t incarnation,
             std::string reason,
             std::function<void(absl::Status)> done) override;

 private:
  Registry(Options options, Store& store, Clock& clock, Metrics& metrics);
  void OnCommitted(const CommitBatch& batch);
  // Runs `fn` on the commit thread with nothing else in its group and
  // waits for it.
  void RunOnCommitThread(std::function<void()> fn);
  std::vector<healthchecker::TargetListener*> Listeners() const;

  const Options options_;
  Clock& clock_;
  Metrics& metrics_;
  Index index_;
  WatchHub hub_;
  Committer committer_;
  int collector_id_ = 0;
  std::atomic<const healthchecker::HealthDetailProvider*> detail_provider_{
      nullptr};

  mutable absl::Mutex listeners_mu_;
  std::vector<healthchecker::TargetListener*> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace muster::registry
