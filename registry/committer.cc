#include "registry/committer.h"

#include <utility>

#include "registry/common/logging.h"

namespace muster::registry {

std::shared_ptr<const Instance> Txn::FindInstance(
    const InstanceKey& key) const {
  if (auto it = mine_.instances.find(key); it != mine_.instances.end())
    return it->second;
  if (auto it = group_.instances.find(key); it != group_.instances.end())
    return it->second;
  return index_.FindInstance(key);
}

std::optional<Realm> Txn::FindRealm(const std::string& name) const {
  if (auto it = mine_.realms.find(name); it != mine_.realms.end())
    return it->second;
  if (auto it = group_.realms.find(name); it != group_.realms.end())
    return it->second;
  return index_.FindRealm(name);
}

std::vector<std::shared_ptr<const Instance>> Txn::RealmInstances(
    const std::string& realm) const {
  return index_.RealmInstances(realm);
}

std::shared_ptr<const Instance> Txn::PutInstance(Instance instance,
                                                 EventCause cause,
                                                 std::string reason) {
  instance.modify_revision = revision_;
  auto stored = std::make_shared<const Instance>(std::move(instance));
  mine_.instances[stored->Key()] = stored;
  Event event;
  event.revision = revision_;
  event.type = EventType::kPut;
  event.cause = cause;
  event.instance = stored;
  event.reason = std::move(reason);
  event.time = now_;
  mine_.events.push_back(std::move(event));
  has_writes_ = true;
  return stored;
}

void Txn::DeleteInstance(std::shared_ptr<const Instance> last, EventCause cause,
                         std::string reason) {
  mine_.instances[last->Key()] = nullptr;
  Event event;
  event.revision = revision_;
  event.type = EventType::kDelete;
  event.cause = cause;
  event.instance = std::move(last);
  event.reason = std::move(reason);
  event.time = now_;
  mine_.events.push_back(std::move(event));
  has_writes_ = true;
}

void Txn::PutRealm(Realm realm) {
  realm.modify_revision = revision_;
  std::string name = realm.name;
  mine_.realms[name] = std::move(realm);
  has_writes_ = true;
}

void Txn::DeleteRealm(const std::string& name) {
  mine_.realms[name] = std::nullopt;
  has_writes_ = true;
}

Committer::Committer(Store& store, Index& index, WatchHub& hub, Clock& clock,
                     Metrics& metrics, Options options)
    : store_(store),
      index_(index),
      hub_(hub),
      clock_(clock),
      options_(options),
      latency_(metrics.GetHistogram("muster_commit_latency_seconds",
                                    "Time of one synced group commit.",
                                    LatencyBuckets())),
      group_size_(metrics.GetHistogram(
          "muster_commit_group_ops",
          "Mutations written by one synced group commit.", SizeBuckets())),
      failures_(metrics.GetCounter("muster_commit_failures_total",
                                   "Group commits the store refused.")),
      revision_gauge_(
          metrics.GetGauge("muster_revision", "Current store revision.")) {}

Committer::~Committer() { Stop(); }

void Committer::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  committed_revision_ = index_.revision();
  revision_gauge_.Set(static_cast<double>(committed_revision_));
  thread_ = std::thread([this] { Loop(); });
}

void Committer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Committer::Submit(CommitOp op) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(op));
      return;
    }
  }
  op.done(absl::UnavailableError("musterd is shutting down"));
}

void Committer::Loop() {
  for (;;) {
    std::vector<CommitOp> group;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Committer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return !c->queue_.empty() || c->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping and drained
      if (queue_.front().exclusive) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else {
        while (!queue_.empty() && !queue_.front().exclusive &&
               group.size() < options_.max_group_ops) {
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    RunGroup(group);
  }
}

void Committer::RunGroup(std::vector<CommitOp>& group) {
  const absl::Time now = clock_.Now();
  GroupChanges changes;
  std::vector<absl::Status> results(group.size());
  uint64_t next_revision = committed_revision_ + 1;
  size_t writers = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    if (!group[i].prepare) continue;
    Txn txn(index_, changes, next_revision, now);
    results[i] = group[i].prepare(txn);
    if (!results[i].ok() || !txn.HasWrites()) continue;
    const GroupChanges& mine = txn.changes();
    for (const auto& [key, value] : mine.instances)
      changes.instances[key] = value;
    for (const auto& [name, value] : mine.realms) changes.realms[name] = value;
    changes.events.insert(changes.events.end(), mine.events.begin(),
                          mine.events.end());
    ++next_revision;
    ++writers;
  }

  if (writers > 0) {
    CommitBatch batch;
    batch.revision = next_revision - 1;
    for (const auto& [name, realm] : changes.realms) {
      if (realm.has_value()) {
        batch.put_realms.push_back(*realm);
      } else {
        batch.delete_realms.push_back(name);
      }
    }
    for (const auto& [key, instance] : changes.instances) {
      if (instance != nullptr) {
        batch.put_instances.push_back(*instance);
      } else {
        batch.delete_instances.push_back(key);
      }
    }
    batch.events = std::move(changes.events);

    const absl::Time start = clock_.Now();
    absl::Status written = store_.Commit(batch);
    latency_.Observe(absl::ToDoubleSeconds(clock_.Now() - start));
    group_size_.Observe(static_cast<double>(writers));
    if (written.ok()) {
      committed_revision_ = batch.revision;
      revision_gauge_.Set(static_cast<double>(committed_revision_));
      index_.Apply(batch);
      hub_.Publish(batch.events);
      if (hook_) hook_(batch);
      MaybeCompact();
    } else {
      failures_.Increment();
      MUSTER_LOG(kError, "commit of revision %d failed: %s", batch.revision,
                 written.ToString());
      absl::Status unavailable = absl::UnavailableError(
          "the store could not write; the change was not applied: " +
          std::string(written.message()));
      for (auto& result : results) {
        if (result.ok()) result = unavailable;
      }
    }
  }
  for (size_t i = 0; i < group.size(); ++i) {
    if (group[i].done) group[i].done(results[i]);
  }
}

void Committer::MaybeCompact() {
  const uint64_t retention = options_.changelog_retention;
  if (committed_revision_ <= retention) return;
  const uint64_t keep_from = committed_revision_ - retention + 1;
  // Compact in steps of a tenth of the retention so it is not a write per
  // commit.
  const uint64_t slack = retention / 10;
  if (store_.OldestRetainedRevision() + slack >= keep_from) return;
  absl::Status status = store_.Compact(keep_from);
  if (!status.ok()) {
    MUSTER_LOG(kWarning, "change-log compaction to revision %d failed: %s",
               keep_from, status.ToString());
  }
}

}  // namespace muster::registry
