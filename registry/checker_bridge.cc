#include "registry/checker_bridge.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "common/siphash.h"
#include "common/status_macros.h"
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
  target.check = instance.check();
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
  updated.set_check_output(output);
  txn.PutInstance(std::move(updated), EventCause::kHealthChanged,
                  TruncateUtf8(reason, limits::kMaxCheckOutputBytes),
                  std::string(kCheckerActor));
  return absl::OkStatus();
}

// Replicated stores: eviction protection over the whole realm (every
// replica checks only a part of it). As the checker's policy: with at
// least 3 checked instances, no eviction while more than `share` of them
// are critical. Reading the realm's instances makes the write conditional
// on none of them changing meanwhile, so two replicas cannot both evict
// past the share.
absl::Status CheckRealmProtection(Txn& txn, const std::string& realm,
                                  double share) {
  if (share >= 1) return absl::OkStatus();
  size_t checked = 0;
  size_t critical = 0;
  for (const auto& instance : txn.RealmInstances(realm)) {
    if (instance->check().kind == CheckKind::kNone) continue;
    ++checked;
    if (instance->health == Health::kCritical) ++critical;
  }
  if (checked >= 3 &&
      static_cast<double>(critical) > share * static_cast<double>(checked)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "eviction protection: %d of %d checked instances of realm \"%s\" "
        "are critical (more than %.0f%%); evictions wait",
        critical, checked, realm, share * 100));
  }
  return absl::OkStatus();
}

// Deletes the incarnation as evicted, unless it is draining.
// `protection_share`: replicated stores (see CheckRealmProtection); 0 for
// a local store, whose checker protects realms itself.
absl::Status ApplyEviction(Txn& txn, const InstanceKey& key,
                           uint64_t incarnation, const std::string& reason,
                           double protection_share) {
  absl::StatusOr<std::shared_ptr<const Instance>> existing =
      CurrentIncarnation(txn, key, incarnation);
  if (!existing.ok()) return existing.status();
  if ((*existing)->admin_state == AdminState::kDraining) {
    return absl::FailedPreconditionError(absl::StrCat(
        "instance ", key.ToString(), " is draining and is never evicted"));
  }
  if (protection_share > 0) {
    RETURN_IF_ERROR(CheckRealmProtection(txn, key.realm, protection_share));
  }
  txn.DeleteInstance(*std::move(existing), EventCause::kEvicted, reason,
                     std::string(kCheckerActor));
  return absl::OkStatus();
}

}  // namespace

CheckerBridge::CheckerBridge(const Index& index, Committer& committer,
                             double default_protection_share)
    : index_(index),
      committer_(committer),
      replicated_(committer.replicated()),
      default_protection_share_(default_protection_share) {}

const ReplicaInfo* CheckerBridge::OwnerAmong(
    const std::vector<ReplicaInfo>& replicas, const InstanceKey& key) {
  // Rendezvous (highest random weight) hashing with a fixed key: every
  // replica computes the same owner, and a replica leaving moves only its
  // own instances.
  static constexpr SipKey kOwnerKey{0x6d75737465720001, 0x6f776e6572736869};
  const ReplicaInfo* best = nullptr;
  uint64_t best_score = 0;
  for (const ReplicaInfo& replica : replicas) {
    const uint64_t score = SipHash24(
        kOwnerKey,
        absl::StrCat(replica.id, absl::string_view("\0", 1), key.realm,
                     absl::string_view("\0", 1), key.service,
                     absl::string_view("\0", 1), key.id));
    if (best == nullptr || score > best_score) {
      best = &replica;
      best_score = score;
    }
  }
  return best;
}

std::optional<ReplicaInfo> CheckerBridge::OwnerOf(
    const InstanceKey& key) const {
  if (!replicated_) return std::nullopt;
  absl::MutexLock lock(&owners_mu_);
  const ReplicaInfo* owner = OwnerAmong(replicas_, key);
  if (owner == nullptr) return std::nullopt;
  return *owner;
}

bool CheckerBridge::Owns(const InstanceKey& key) const {
  if (!replicated_) return true;
  absl::MutexLock lock(&owners_mu_);
  const ReplicaInfo* owner = OwnerAmong(replicas_, key);
  return owner != nullptr && owner->id == self_id_;
}

void CheckerBridge::SetReplicas(const std::string& self_id,
                                std::vector<ReplicaInfo> replicas) {
  std::sort(
      replicas.begin(), replicas.end(),
      [](const ReplicaInfo& a, const ReplicaInfo& b) { return a.id < b.id; });
  std::vector<ReplicaInfo> before;
  {
    absl::MutexLock lock(&owners_mu_);
    if (self_id_ == self_id && replicas_ == replicas) return;
    before = std::move(replicas_);
    replicas_ = replicas;
    self_id_ = self_id;
  }
  std::vector<std::string> ids;
  for (const ReplicaInfo& replica : replicas) ids.push_back(replica.id);
  MUSTER_LOG(kInfo, "replicas now: %s (this one: %s)",
             ids.empty() ? "none" : absl::StrJoin(ids, ", "), self_id);
  std::vector<healthchecker::TargetListener*> listeners = Listeners();
  if (listeners.empty()) return;
  uint64_t revision = 0;
  size_t gained = 0;
  size_t lost = 0;
  for (const auto& instance : index_.AllInstances(&revision)) {
    const InstanceKey key = instance->Key();
    const ReplicaInfo* old_owner = OwnerAmong(before, key);
    const ReplicaInfo* new_owner = OwnerAmong(replicas, key);
    const bool had = old_owner != nullptr && old_owner->id == self_id;
    const bool has = new_owner != nullptr && new_owner->id == self_id;
    if (had == has) continue;
    for (healthchecker::TargetListener* listener : listeners) {
      if (has) {
        listener->OnTargetUpsert(ToTarget(*instance));
      } else {
        listener->OnTargetRemoved(ToTargetKey(*instance),
                                  instance->create_revision);
      }
    }
    ++(has ? gained : lost);
  }
  if (gained + lost > 0) {
    MUSTER_LOG(kInfo,
               "health checks handed over: %d instances now checked here, "
               "%d moved to other replicas",
               gained, lost);
  }
}

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
      if (Owns(instance->Key())) listener->OnTargetUpsert(ToTarget(*instance));
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
  // Replicated: judged over the whole realm when a verdict is written
  // (CheckRealmProtection); the checker sees only its share.
  if (replicated_) return 1.0;
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
      committer_, CommitMode::kFenced,
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
      committer_, CommitMode::kFenced,
      [this, key, incarnation, reason](Txn& txn) {
        double share = 0;
        if (replicated_) {
          std::optional<Realm> realm = txn.FindRealm(key.realm);
          share = realm.has_value() && realm->eviction_protection_share > 0
                      ? realm->eviction_protection_share
                      : default_protection_share_;
        }
        return ApplyEviction(txn, key, incarnation, reason, share);
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
  if (replicated_) {
    std::optional<ReplicaInfo> owner;
    {
      absl::MutexLock lock(&owners_mu_);
      const ReplicaInfo* found = OwnerAmong(replicas_, key);
      if (found != nullptr && found->id != self_id_) owner = *found;
    }
    if (owner.has_value()) {
      // Checked by another replica: it hears of the heartbeat from here.
      if (forwarder_) forwarder_(*owner, key, incarnation);
      return;
    }
  }
  DeliverHeartbeat(key, incarnation, at);
}

void CheckerBridge::DeliverHeartbeat(const InstanceKey& key,
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
    // Ownership follows the key: a change of an instance checked
    // elsewhere is not this checker's (removals pass: they are no-ops for
    // a target the checker does not have).
    if (event.type == EventType::kPut && !Owns(event.instance->Key())) continue;
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
