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
#include "registry/store.h"

namespace muster::registry {

// CheckerBridge is the registry as the health checker sees it: the
// TargetSource that feeds it every instance and change, and the
// VerdictSink whose health reports and evictions it commits. It also
// holds the checker's HealthDetailProvider for reads. Thread-safe; owned
// by Registry, the checker borrows it until its Stop.
class CheckerBridge final : public healthchecker::TargetSource,
                            public healthchecker::VerdictSink {
 public:
  // Borrows `index` and `committer`, which outlive it.
  CheckerBridge(const Index& index, Committer& committer);

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
  // Tells every listener about an accepted heartbeat.
  void NotifyHeartbeat(const InstanceKey& key, uint64_t incarnation,
                       absl::Time at);
  // The committer's hook: tells every listener what `batch` changed.
  void OnCommitted(const CommitBatch& batch);

 private:
  // Runs `fn` on the commit thread with nothing else in its group and
  // waits for it.
  void RunOnCommitThread(std::function<void()> fn);
  std::vector<healthchecker::TargetListener*> Listeners() const;

  const Index& index_;
  Committer& committer_;
  std::atomic<const healthchecker::HealthDetailProvider*> detail_provider_{
      nullptr};

  mutable absl::Mutex listeners_mu_;
  std::vector<healthchecker::TargetListener*> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace muster::registry
