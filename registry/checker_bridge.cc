#include "registry/checker_bridge.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "registry/errors.h"
#include "registry/limits.h"
#include "registry/submit.h"
#include "registry/validation.h"

namespace muster::registry {
namespace {

InstanceKey ToKey(const healthchecker::TargetKey& key) {
  return InstanceKey{key.realm, key.service, key.id};
}

healthchecker::TargetKey ToTargetKey(const Instance& instance) {
  return healthchecker::TargetKey{instance.realm, instance.service,
                                  instance.id};
}

healthchecker::Target ToTarget(const Instance& instance) {
  healthchecker::Target target;
  target.key = ToTargetKey(instance);
  target.incarnation = instance.create_revision;
  target.address = instance.address;
  target.port = instance.port;
  target.check = instance.check;
  target.health = instance.health;
  target.admin_state = instance.admin_state;
  target.status_changed_at = instance.status_changed_at;
  return target;
}

// The current incarnation of `key`, or why the verdict no longer applies.
absl::StatusOr<std::shared_ptr<const Instance>> CurrentIncarnation(
    const Txn& txn, const InstanceKey& key, uint64_t incarnation) {
  std::shared_ptr<const Instance> existing = txn.FindInstance(key);
  if (existing == nullptr) return InstanceNotFound(key);
  if (existing->create_revision != incarnation)
    return StaleIncarnation(*existing, incarnation);
  return existing;
}

// Commits a change of health; the same health is a no-op.
absl::Status ApplyHealth(Txn& txn, const InstanceKey& key, uint64_t incarnation,
                         Health health, const std::string& output) {
  absl::StatusOr<std::shared_ptr<const Instance>> existing =
      CurrentIncarnation(txn, key, incarnation);
  if (!existing.ok()) return existing.status();
  const Instance& current = **existing;
  if (current.health == health) return absl::OkStatus();
  std::string reason =
      absl::StrCat(HealthName(current.health), " -> ", HealthName(health),
                   output.empty() ? "" : ": ", output);
  Instance updated = current;
  updated.health = health;
  updated.status_changed_at = txn.now();
  updated.check_output = output;
  txn.PutInstance(std::move(updated), EventCause::kHealthChanged,
                  TruncateUtf8(reason, limits::kMaxCheckOutputBytes),
                  std::string(kCheckerActor));
  return absl::OkStatus();
}

// Deletes the incarnation as evicted, unless it is draining.
absl::Status ApplyEviction(Txn& txn, const InstanceKey& key,
                           uint64_t incarnation, const std::string& reason) {
  absl::StatusOr<std::shared_ptr<const Instance>> existing =
      CurrentIncarnation(txn, key, incarnation);
  if (!existing.ok()) return existing.status();
  if ((*existing)->admin_state == AdminState::kDraining) {
    return absl::FailedPreconditionError(absl::StrCat(
        "instance ", key.ToString(), " is draining and is never evicted"));
  }
  txn.DeleteInstance(*std::move(existing), EventCause::kEvicted, reason,
                     std::string(kCheckerActor));
  return absl::OkStatus();
}

}  // namespace

CheckerBridge::CheckerBridge(const Index& index, Committer& committer)
    : index_(index), committer_(committer) {}

void CheckerBridge::Subscribe(healthchecker::TargetListener* listener) {
  // On the commit thread nothing commits meanwhile, so the listener sees
  // the whole current state and then every later change.
  RunOnCommitThread([this, listener] {
    {
      absl::MutexLock lock(&listeners_mu_);
      listeners_.push_back(listener);
    }
    uint64_t revision = 0;
    for (const auto& instance : index_.AllInstances(&revision)) {
      listener->OnTargetUpsert(ToTarget(*instance));
    }
  });
}

void CheckerBridge::Unsubscribe(healthchecker::TargetListener* listener) {
  RunOnCommitThread([this, listener] {
    absl::MutexLock lock(&listeners_mu_);
    listeners_.erase(
        std::remove(listeners_.begin(), listeners_.end(), listener),
        listeners_.end());
  });
}

std::optional<double> CheckerBridge::EvictionProtectionShare(
    const std::string& realm) const {
  std::optional<Realm> found = index_.FindRealm(realm);
  if (!found.has_value() || found->eviction_protection_share <= 0)
    return std::nullopt;
  return found->eviction_protection_share;
}

void CheckerBridge::ReportHealth(const healthchecker::TargetKey& target,
                                 uint64_t incarnation, Health health,
                                 std::string output,
                                 std::function<void(absl::Status)> done) {
  Submit<void>(
      committer_, CommitMode::kGrouped,
      [key = ToKey(target), incarnation, health,
       output = TruncateUtf8(output, limits::kMaxCheckOutputBytes)](Txn& txn) {
        return ApplyHealth(txn, key, incarnation, health, output);
      },
      std::move(done));
}

void CheckerBridge::Evict(const healthchecker::TargetKey& target,
                          uint64_t incarnation, std::string reason,
                          std::function<void(absl::Status)> done) {
  InstanceKey key = ToKey(target);
  reason = TruncateUtf8(reason, limits::kMaxCheckOutputBytes);
  Submit<void>(
      committer_, CommitMode::kGrouped,
      [key, incarnation, reason](Txn& txn) {
        return ApplyEviction(txn, key, incarnation, reason);
      },
      [done = std::move(done), key, reason](absl::Status status) {
        if (status.ok())
          MUSTER_LOG(kInfo, "instance %s %s", key.ToString(), reason);
        if (done) done(status);
      });
}

std::optional<healthchecker::HealthDetail> CheckerBridge::LiveDetail(
    const Instance& instance) const {
  const healthchecker::HealthDetailProvider* provider = detail_provider_.load();
  if (provider == nullptr) return std::nullopt;
  return provider->Detail(ToTargetKey(instance), instance.create_revision);
}

bool CheckerBridge::HasListeners() const {
  absl::MutexLock lock(&listeners_mu_);
  return !listeners_.empty();
}

void CheckerBridge::NotifyHeartbeat(const InstanceKey& key,
                                    uint64_t incarnation, absl::Time at) {
  healthchecker::TargetKey target{key.realm, key.service, key.id};
  for (healthchecker::TargetListener* listener : Listeners()) {
    listener->OnHeartbeat(target, incarnation, at);
  }
}

void CheckerBridge::OnCommitted(const CommitBatch& batch) {
  std::vector<healthchecker::TargetListener*> listeners = Listeners();
  if (listeners.empty()) return;
  for (const Event& event : batch.events) {
    for (healthchecker::TargetListener* listener : listeners) {
      if (event.type == EventType::kPut) {
        listener->OnTargetUpsert(ToTarget(*event.instance));
      } else {
        listener->OnTargetRemoved(ToTargetKey(*event.instance),
                                  event.instance->create_revision);
      }
    }
  }
}

void CheckerBridge::RunOnCommitThread(std::function<void()> fn) {
  absl::Notification finished;
  CommitOp op;
  op.exclusive = true;
  op.done = [&fn, &finished](absl::Status) {
    fn();
    finished.Notify();
  };
  committer_.Submit(std::move(op));
  finished.WaitForNotification();
}

std::vector<healthchecker::TargetListener*> CheckerBridge::Listeners() const {
  absl::MutexLock lock(&listeners_mu_);
  return listeners_;
}

}  // namespace muster::registry
