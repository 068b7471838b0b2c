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
#include "common/clock.h"
#include "common/metrics.h"
#include "registry/index.h"
#include "registry/model.h"
#include "registry/store.h"
#include "registry/token.h"
#include "registry/watch_hub.h"

namespace muster::registry {

// Pending changes of a commit group, keyed by record; a null instance or
// an empty realm marks a delete (tokens are never deleted).
struct GroupChanges {
  std::map<InstanceKey, std::shared_ptr<const Instance>> instances;
  std::map<std::string, std::optional<Realm>> realms;
  std::map<std::string, Token> tokens;
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
  // a PUT event made by `actor`. Returns the stored instance.
  std::shared_ptr<const Instance> PutInstance(Instance instance,
                                              EventCause cause,
                                              std::string reason,
                                              std::string actor);
  // Deletes the instance and records a DELETE event carrying `last`, made
  // by `actor`.
  void DeleteInstance(std::shared_ptr<const Instance> last, EventCause cause,
                      std::string reason, std::string actor);
  void PutRealm(Realm realm);
  void DeleteRealm(const std::string& name);
  // A token this group put earlier (the committed ones are the Tokens
  // part's to find); nullopt when none did.
  std::optional<Token> FindPendingToken(const std::string& name) const;
  // Whether a token this group put has `secret_hash`.
  bool PendingTokenHasHash(const std::string& secret_hash) const;
  // Stores `token` (modify_revision is set to revision()); no event.
  void PutToken(Token token);

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
//
// A failed write. After a failed synced write the store's in-memory
// state cannot be trusted (PostgreSQL's 2018 fsync lesson; RocksDB 7.8
// even aborts the process on a second write to a WAL that failed), so the
// committer never writes again in place. It answers the failed group and
// every later mutation UNAVAILABLE without preparing it, leaves the index
// as it was (reads go on), and calls Store::Reopen, first at once, then
// with a backoff of 100 ms doubling to 5 s, until the store opens
// writable again. The same happens when the store starts read-only (a
// full or read-only disk at start-up).
//
// Decision: the disk wins. The reopened store reports the revision that
// is durable. When that is beyond the index (the failed batch reached
// the WAL after all, and RocksDB replayed it), the committer adopts it
// before taking any write: it reads those revisions' change-log events
// and the stored realms, applies them to the index as one batch and
// publishes the events to the watch hub and the commit hook exactly as
// if they had just been committed; new writes continue at the next
// revision. Why: those revisions are in the change log that ListEvents
// and watch resumption read and that the next start-up loads, so hiding
// them would make watchers' history disagree with the log, and writing
// over them would reuse their numbers, which must never happen. Nothing
// acknowledged is lost either way. The cost is that a mutation answered
// UNAVAILABLE may turn out to be applied: UNAVAILABLE means "not
// acknowledged", and retries converge (Register is an idempotent upsert).
// A store that reopens behind the index (acknowledged revisions missing)
// breaks durability; the committer then refuses writes until restarted
// rather than hand those revisions out again.
class Committer final {
 public:
  struct Options {
    uint64_t changelog_retention = 100000;
    size_t max_group_ops = 1024;
    // Reopen attempts after a failed write: the first at once, then
    // waiting reopen_backoff, doubling up to reopen_backoff_max.
    absl::Duration reopen_backoff = absl::Milliseconds(100);
    absl::Duration reopen_backoff_max = absl::Seconds(5);
    // Longest the idle commit thread waits before it looks at the clock
    // again while the store is not writable. Whether a reopen is due is
    // decided from the Clock only.
    absl::Duration reopen_poll = absl::Milliseconds(50);
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
  // with UNAVAILABLE. While the store cannot write, `op.done` gets
  // UNAVAILABLE on the commit thread and `op.prepare` does not run.
  void Submit(CommitOp op);

 private:
  void Loop();
  void RunGroup(std::vector<CommitOp>& group);
  void MaybeCompact();
  // Stops writing after a failed write (or a read-only start).
  void EnterRecovery(const absl::Status& cause, absl::Duration first_delay);
  // Calls Store::Reopen when it is due; on success catches up with the
  // store and accepts writes again.
  void MaybeReopen();
  // Applies and publishes the revisions after committed_revision_ up to
  // `revision` that the reopened store holds.
  absl::Status CatchUp(uint64_t revision);
  // Completes every operation of `group` with refusal_.
  void Refuse(std::vector<CommitOp>& group);

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
  Gauge& writable_gauge_;
  Counter& reopen_attempts_;
  Counter& recovered_revisions_;

  // Commit thread only (and Start, before the thread runs).
  uint64_t committed_revision_ = 0;
  // The store cannot write: mutations are refused until a reopen works.
  bool recovering_ = false;
  absl::Time next_reopen_ = absl::InfinitePast();
  absl::Duration backoff_;
  absl::Time recovery_started_;
  int attempts_ = 0;
  // What refused mutations are told.
  absl::Status refusal_;
  // The last reopen error logged, so a repeated one is logged once.
  std::string last_reopen_error_;

  absl::Mutex mu_;
  std::deque<CommitOp> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace muster::registry
