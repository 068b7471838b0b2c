#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "checkapi/target_source.h"
#include "registry/committer.h"
#include "registry/index.h"
#include "registry/model.h"
#include "registry/replication.h"
#include "registry/store.h"

namespace muster::registry {

// CheckerBridge is the registry as the health checker sees it: the
// TargetSource that feeds it every instance and change, and the
// VerdictSink whose health reports and evictions it commits. It also
// holds the checker's HealthDetailProvider for reads. Thread-safe; owned
// by Registry, the checker borrows it until its Stop.
//
// Replicated stores. Each instance is checked by exactly one live
// replica, its owner: the replica with the highest rendezvous hash of
// (replica id, instance key), over the replicas the store's feed
// announces. Every replica computes the same owner from the same list.
// The listener (this replica's checker) gets only the instances this
// replica owns; when the list changes it is given those it gains (the
// checker starts them with its restart grace, so nothing turns critical
// in a handover) and loses those it no longer owns. Heartbeats for an
// instance owned elsewhere go to the heartbeat forwarder. The checker's
// writes are fenced (CommitMode::kFenced), and eviction protection is
// judged here over the whole realm, the checker's own being off.
class CheckerBridge final : public healthchecker::TargetSource,
                            public healthchecker::VerdictSink {
 public:
  // Borrows `index` and `committer`, which outlive it.
  // `default_protection_share`: replicated stores only, the share of a
  // realm's checked instances beyond which its evictions are refused when
  // the realm sets none.
  CheckerBridge(const Index& index, Committer& committer,
                double default_protection_share = 0.5);

  // Replicated: sends a heartbeat accepted here to the replica that
  // checks its instance. Runs on RPC threads; must not block.
  using HeartbeatForwarder = std::function<void(
      const ReplicaInfo& owner, const InstanceKey& key, uint64_t incarnation)>;
  // REQUIRES: before heartbeats arrive.
  void SetHeartbeatForwarder(HeartbeatForwarder forwarder) {
    forwarder_ = std::move(forwarder);
  }
  // Replicated: the live replicas changed (the committer's replicas hook,
  // on the commit thread). `self_id` is this replica's.
  void SetReplicas(const std::string& self_id,
                   std::vector<ReplicaInfo> replicas);
  // Replicated: the replica that checks `key`; nullopt when no replica is
  // live (or the store is local).
  std::optional<ReplicaInfo> OwnerOf(const InstanceKey& key) const;
  // True when this replica checks `key` (always with a local store).
  bool Owns(const InstanceKey& key) const;

  // TargetSource. Subscribe and Unsubscribe wait for the commit thread.
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

  // The checker's live view of instances; null: none (checker off or
  // stopped). The provider must stay valid until it is replaced.
  void SetHealthDetailProvider(
      const healthchecker::HealthDetailProvider* provider) {
    detail_provider_.store(provider);
  }
  // What the provider knows of the instance's current incarnation.
  std::optional<healthchecker::HealthDetail> LiveDetail(
      const Instance& instance) const;

  // True while a checker (a listener) is subscribed.
  bool HasListeners() const;
  // Tells every listener about an accepted heartbeat; replicated, sends
  // it to the owner instead when another replica checks the instance.
  void NotifyHeartbeat(const InstanceKey& key, uint64_t incarnation,
                       absl::Time at);
  // A heartbeat another replica accepted and forwarded here: to the
  // listeners, never forwarded again.
  void DeliverHeartbeat(const InstanceKey& key, uint64_t incarnation,
                        absl::Time at);
  // The committer's hook: tells every listener what `batch` changed.
  void OnCommitted(const CommitBatch& batch);

 private:
  // Runs `fn` on the commit thread with nothing else in its group and
  // waits for it.
  void RunOnCommitThread(std::function<void()> fn);
  // The owner among `replicas` (sorted by id); null when empty.
  static const ReplicaInfo* OwnerAmong(const std::vector<ReplicaInfo>& replicas,
                                       const InstanceKey& key);
  std::vector<healthchecker::TargetListener*> Listeners() const;

  const Index& index_;
  Committer& committer_;
  const bool replicated_;
  const double default_protection_share_;
  HeartbeatForwarder forwarder_;

  mutable absl::Mutex owners_mu_;
  std::string self_id_ ABSL_GUARDED_BY(owners_mu_);
  // Sorted by id.
  std::vector<ReplicaInfo> replicas_ ABSL_GUARDED_BY(owners_mu_);
  std::atomic<const healthchecker::HealthDetailProvider*> detail_provider_{
      nullptr};

  mutable absl::Mutex listeners_mu_;
  std::vector<healthchecker::TargetListener*> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace muster::registry
