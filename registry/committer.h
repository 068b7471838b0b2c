#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "registry/common/clock.h"
#include "registry/common/metrics.h"
#include "registry/index.h"
#include "registry/model.h"
#include "registry/store.h"
#include "registry/watch_hub.h"

namespace muster::registry {

// Pending changes of a commit group, keyed by record; a null instance or
// an empty realm marks a delete.
struct GroupChanges {
  std::map<InstanceKey, std::shared_ptr<const Instance>> instances;
  std::map<std::string, std::optional<Realm>> realms;
  std::vector<Event> events;
};

// Txn is one operation's view and write set inside a commit group: reads
// see the committed index plus every earlier operation of the group.
// Used only on the commit thread.
class Txn final {
 public:
  Txn(const Index& index, const GroupChanges& group, uint64_t revision,
      absl::Time now)
      : index_(index), group_(group), revision_(revision), now_(now) {}
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // The revision this operation commits at, if it writes.
  uint64_t revision() const { return revision_; }
  absl::Time now() const { return now_; }

  std::shared_ptr<const Instance> FindInstance(const InstanceKey& key) const;
  std::optional<Realm> FindRealm(const std::string& name) const;
  // REQUIRES: the operation is exclusive (nothing pending in the group).
  std::vector<std::shared_ptr<const Instance>> RealmInstances(
      const std::string& realm) const;

  // Stores `instance` (modify_revision is set to revision()) and records
  // a PUT event. Returns the stored instance.
  std::shared_ptr<const Instance> PutInstance(Instance instance,
                                              EventCause cause,
                                              std::string reason);
  // Deletes the instance and records a DELETE event carrying `last`.
  void DeleteInstance(std::shared_ptr<const Instance> last, EventCause cause,
                      std::string reason);
  void PutRealm(Realm realm);
  void DeleteRealm(const std::string& name);

  bool HasWrites() const { return has_writes_; }
  const GroupChanges& changes() const { return mine_; }

 private:
  const Index& index_;
  const GroupChanges& group_;
  const uint64_t revision_;
  const absl::Time now_;
  GroupChanges mine_;
  bool has_writes_ = false;
};

// One queued mutation.
struct CommitOp {
  // Runs on the commit thread, in queue order. An error fails the
  // operation and discards its writes.
  std::function<absl::Status(Txn&)> prepare;
  // Runs on the commit thread once the group's synced write finished (or
  // failed: UNAVAILABLE), with prepare's error if it had one. Keep short.
  std::function<void(absl::Status)> done;
  // Run alone in its group (needed to read RealmInstances).
  bool exclusive = false;
};

// Committer is the single writer: it drains queued operations in order,
// lets each prepare its changes against the index plus earlier pending
// ones, assigns revisions, writes the whole group with one synced
// Store::Commit, applies it to the index, publishes it to the watch hub,
// then completes every operation (leveldb's group commit). It also
// compacts the change log. Thread-safe; one commit thread.
class Committer final {
 public:
  struct Options {
    uint64_t changelog_retention = 100000;
    size_t max_group_ops = 1024;
  };
  // Runs on the commit thread after each successful write, after the
  // index and the hub saw it.
  using CommitHook = std::function<void(const CommitBatch& batch)>;

  Committer(Store& store, Index& index, WatchHub& hub, Clock& clock,
            Metrics& metrics, Options options);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // REQUIRES: before Start().
  void SetCommitHook(CommitHook hook) { hook_ = std::move(hook); }
  // REQUIRES: the index is loaded.
  void Start();
  // Completes everything queued, then joins. Idempotent.
  void Stop();

  // Queues `op`. Never blocks on I/O. After Stop, `op.done` runs inline
  // with UNAVAILABLE.
  void Submit(CommitOp op);

 private:
  void Loop();
  void RunGroup(std::vector<CommitOp>& group);
  void MaybeCompact();

  Store& store_;
  Index& index_;
  WatchHub& hub_;
  Clock& clock_;
  const Options options_;
  CommitHook hook_;
  Histogram& latency_;
  Histogram& group_size_;
  Counter& failures_;
  Gauge& revision_gauge_;

  // Commit thread only.
  uint64_t committed_revision_ = 0;

  absl::Mutex mu_;
  std::deque<CommitOp> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace muster::registry
