#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "registry/change_log.h"
#include "registry/checker_bridge.h"
#include "registry/committer.h"
#include "registry/index.h"
#include "registry/instances.h"
#include "registry/limits.h"
#include "registry/model.h"
#include "registry/realms.h"
#include "registry/store.h"
#include "registry/tokens.h"
#include "registry/watch_hub.h"

namespace muster::registry {

// Registry is the domain core's façade. It loads the store into its
// index, owns the committer (the single writer) and the watch hub, and
// hands out the parts every caller goes through:
//   instances()       Register, Deregister, SetAdminState, Heartbeat, reads
//   realms()          realm CRUD and the listing with counts
//   change_log()      ListEvents, watches, and the log's statistics
//   checker_bridge()  the health checker's TargetSource and VerdictSink
//   tokens()          access tokens: create, revoke, list, authenticate
// It knows neither gRPC nor RocksDB. Thread-safe; the parts live as long
// as the registry.
class Registry final {
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
    // Replicated stores: the share of a realm's checked instances beyond
    // which evictions are refused, for realms that set none (the daemon's
    // --eviction-protection-share).
    double eviction_protection_share = 0.5;
    // Replicated stores: the store's feed ended for good (see
    // FeedSink::OnFeedLost); the replica must be restarted. Runs on the
    // store's feed thread.
    std::function<void(const absl::Status&)> on_feed_lost;
  };

  // Loads the store into memory. The caller keeps `store`, `clock` and
  // `metrics` alive longer than the registry. INVALID_ARGUMENT for bad
  // options; DATA_LOSS / INTERNAL when the store cannot be read.
  static absl::StatusOr<std::unique_ptr<Registry>> Create(Options options,
                                                          Store& store,
                                                          Clock& clock,
                                                          Metrics& metrics);
  // Stops first.
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Starts the commit thread and makes sure realm "default" exists.
  absl::Status Start();
  // The one shutdown path: ends every watcher (change_log().EndWatches()),
  // then completes what is queued on the committer and joins it; later
  // mutations get UNAVAILABLE. Reads keep working. Idempotent.
  void Stop();

  Instances& instances() { return instances_; }
  Realms& realms() { return realms_; }
  ChangeLog& change_log() { return change_log_; }
  CheckerBridge& checker_bridge() { return checker_bridge_; }
  Tokens& tokens() { return tokens_; }
  // The replicated store's side (several musterd replicas); null for a
  // local store.
  Replication* replication() { return replication_; }
  // Runs `done` once this replica has applied `revision` (read your
  // writes across replicas), or with UNAVAILABLE at `deadline`; see
  // Committer::WhenApplied.
  void WhenApplied(uint64_t revision, absl::Time deadline,
                   std::function<void(absl::Status)> done) {
    committer_.WhenApplied(revision, deadline, std::move(done));
  }
  // Replicated stores: how long since the store last confirmed that this
  // replica has every change (what its reads may miss); nullopt for a
  // local store. InfiniteDuration before the first confirmation.
  std::optional<absl::Duration> Staleness() const;

 private:
  Registry(Options options, Store& store, Clock& clock, Metrics& metrics);
  // The registry's gauges: instances by realm and health, and watchers.
  void CollectMetrics(MetricsCollectorOutput& out) const;

  Metrics& metrics_;
  Replication* const replication_;
  Index index_;
  WatchHub hub_;
  Committer committer_;
  CheckerBridge checker_bridge_;
  Instances instances_;
  Realms realms_;
  ChangeLog change_log_;
  Tokens tokens_;
  int collector_id_ = 0;
};

}  // namespace muster::registry
