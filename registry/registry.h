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

 private:
  Registry(Options options, Store& store, Clock& clock, Metrics& metrics);
  // The registry's gauges: instances by realm and health, and watchers.
  void CollectMetrics(MetricsCollectorOutput& out) const;

  Metrics& metrics_;
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
