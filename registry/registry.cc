#include "registry/registry.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/status_macros.h"

namespace muster::registry {
namespace {

// Commit groups are bounded so that one group's write stays short.
constexpr size_t kMaxGroupOps = 1024;

Instances::Options InstancesOptions(const Registry::Options& options) {
  Instances::Options out;
  out.auto_create_realms = options.auto_create_realms;
  out.check_registration = options.check_registration;
  out.id_generator = options.id_generator;
  return out;
}

}  // namespace

Registry::Registry(Options options, Store& store, Clock& clock,
                   Metrics& metrics)
    : metrics_(metrics),
      replication_(store.replication()),
      hub_(store, index_, metrics, options.watch),
      committer_(store, index_, hub_, clock, metrics,
                 Committer::Options{options.changelog_retention, kMaxGroupOps}),
      checker_bridge_(index_, committer_, options.eviction_protection_share),
      instances_(InstancesOptions(options), index_, committer_, checker_bridge_,
                 clock),
      realms_(index_, committer_),
      change_log_(index_, hub_),
      tokens_(committer_) {
  committer_.SetCommitHook([this](const CommitBatch& batch) {
    tokens_.Apply(batch);
    checker_bridge_.OnCommitted(batch);
  });
  if (replication_ != nullptr) {
    committer_.SetReplicasHook(
        [this](const std::vector<ReplicaInfo>& replicas) {
          checker_bridge_.SetReplicas(replication_->SelfId(), replicas);
        });
    if (options.on_feed_lost) committer_.SetFeedLostHook(options.on_feed_lost);
  }
}

std::optional<absl::Duration> Registry::Staleness() const {
  if (replication_ == nullptr) return std::nullopt;
  const absl::Time current = replication_->LastCurrent();
  if (current == absl::InfinitePast()) return absl::InfiniteDuration();
  return std::max(absl::ZeroDuration(), absl::Now() - current);
}

absl::StatusOr<std::unique_ptr<Registry>> Registry::Create(Options options,
                                                           Store& store,
                                                           Clock& clock,
                                                           Metrics& metrics) {
  if (options.changelog_retention == 0) {
    return absl::InvalidArgumentError(
        "changelog retention: must be at least 1 revision");
  }
  ASSIGN_OR_RETURN(StoredState state, store.Load());
  std::unique_ptr<Registry> registry(
      new Registry(std::move(options), store, clock, metrics));
  registry->tokens_.Load(std::move(state.tokens));
  registry->index_.Load(std::move(state));
  const Registry* self = registry.get();
  registry->collector_id_ = metrics.AddCollector(
      [self](MetricsCollectorOutput& out) { self->CollectMetrics(out); });
  return registry;
}

Registry::~Registry() {
  Stop();
  metrics_.RemoveCollector(collector_id_);
}

absl::Status Registry::Start() {
  committer_.Start();
  if (index_.FindRealm(kDefaultRealm).has_value()) return absl::OkStatus();
  absl::Notification created;
  absl::Status status;
  Realm realm;
  realm.name = kDefaultRealm;
  realm.description = "created by musterd";
  realms_.Create(realm, std::string(kDaemonActor),
                 [&](absl::StatusOr<Realm> result) {
                   if (!result.ok() && !absl::IsAlreadyExists(result.status()))
                     status = result.status();
                   created.Notify();
                 });
  created.WaitForNotification();
  return status;
}

void Registry::Stop() {
  change_log_.EndWatches();
  committer_.Stop();
}

void Registry::CollectMetrics(MetricsCollectorOutput& out) const {
  uint64_t revision = 0;
  for (const RealmCounts& counts : index_.Realms(&revision)) {
    for (Health health : {Health::kStarting, Health::kPassing, Health::kWarning,
                          Health::kCritical}) {
      out.Gauge(
          "muster_instances", "Registered instances by realm and health.",
          {{"realm", counts.realm.name},
           {"health", std::string(HealthName(health))}},
          static_cast<double>(counts.by_health[static_cast<int>(health)]));
    }
  }
  out.Gauge("muster_watchers_open", "Open watch streams.", {},
            static_cast<double>(hub_.OpenCount()));
  out.Gauge("muster_watch_held_bytes",
            "Bytes of events held for watchers: queued, and unsent in "
            "their streams (the cut-off ones until their streams end).",
            {}, static_cast<double>(hub_.HeldBytes()));
  out.Gauge("muster_changelog_oldest_revision",
            "Oldest revision still in the change log.", {},
            static_cast<double>(hub_.OldestRetainedRevision()));
}

}  // namespace muster::registry
