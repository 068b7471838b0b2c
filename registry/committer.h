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
#include "registry/replication.h"
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
  // `expect`: null for a local store; for a replicated one, where the
  // operation records what it read from the index and what it writes.
  Txn(const Index& index, const GroupChanges& group, uint64_t revision,
      absl::Time now, const Expectations* group_expect = nullptr)
      : index_(index),
        group_(group),
        revision_(revision),
        now_(now),
        group_expect_(group_expect) {}
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // The revision this operation commits at, if it writes; with a
  // replicated store kPendingRevision (the result gets the real one, see
  // RebaseRevision).
  uint64_t revision() const { return revision_; }
  // Whether the operation may be prepared again (replicated stores, after
  // another replica's write): when false, prepare may consume what it
  // captured (move it into the write).
  bool may_prepare_again() const { return group_expect_ != nullptr; }
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
  // What this operation read from the index and writes (replicated
  // stores only).
  const Expectations& expectations() const { return expect_; }

 private:
  // Records the index's state of a record the operation reads or writes,
  // unless the group or this operation already did.
  void ExpectInstance(const InstanceKey& key);
  void ExpectRealm(const std::string& name);

  const Index& index_;
  const GroupChanges& group_;
  const uint64_t revision_;
  const absl::Time now_;
  const Expectations* const group_expect_;
  GroupChanges mine_;
  Expectations expect_;
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
  // Replicated stores: written only while this replica is a member (the
  // health checker's writes).
  bool fenced = false;
  // Replicated stores: gives the result the revision the store assigned
  // in place of kPendingRevision, before `done` runs.
  std::function<void(uint64_t revision)> rebase;
  // `done` only answers a caller and needs nothing of the commit thread:
  // after a successful local write it may run on the completion thread
  // (still after the synced write and the index update, and after the
  // `done` of every earlier such operation), so that the commit thread
  // can go on to the next group while the answers go out.
  bool done_anywhere = false;
};

// Committer is the single writer: it drains queued operations in order,
// lets each prepare its changes against the index plus earlier pending
// ones, assigns revisions, writes the whole group with one synced
// Store::Commit, applies it to the index, publishes it to the watch hub,
// then completes every operation (leveldb's group commit). It also
// compacts the change log. Thread-safe; one commit thread, and one
// completion thread that runs the `done` of operations marked
// done_anywhere (the RPC answers) after a successful write, so the commit
// thread can take the next group meanwhile.
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
//
// A replicated store (Store::replication()). Several replicas write to
// one store, so the committer prepares a group against the index as
// above, but the store assigns the revision and writes the group only if
// nothing it read or writes changed meanwhile (Expectations): an
// optimistic transaction. The index is not applied from the group but
// from the store's feed, which brings every replica's changes in the
// same order; the group is answered once the feed has brought its own
// revision, so a reader of this replica sees its write. When another
// replica's write got there first, the committer applies the feed up to
// the store's revision and prepares the group again, up to
// kMaxConflictRetries times (then ABORTED). A write the store did not
// answer is UNAVAILABLE: not acknowledged, though it may have happened
// (it then arrives on the feed). There is no recovery mode: every group
// tries the store again.
class Committer final : private FeedSink {
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
    // Replicated: how long a committed group waits for its revision on
    // the feed before it is answered anyway.
    absl::Duration feed_wait = absl::Seconds(10);
    // A group with at least this many done_anywhere answers hands them to
    // the completion thread; a smaller one answers them on the commit
    // thread (a hand-off costs a thread switch, which only a larger group
    // saves), unless earlier answers are still queued there.
    size_t min_hand_off = 8;
  };
  // Runs on the commit thread after each successful write, after the
  // index and the hub saw it.
  using CommitHook = std::function<void(const CommitBatch& batch)>;
  // Replicated stores: runs on the commit thread when the live replicas
  // change (and once at start).
  using ReplicasHook =
      std::function<void(const std::vector<ReplicaInfo>& replicas)>;
  // Replicated stores: the feed ended for good (see FeedSink::OnFeedLost);
  // writes are refused from then on. Runs on the store's feed thread.
  using FeedLostHook = std::function<void(const absl::Status& status)>;

  // A group that lost to other replicas' writes this many times in a row
  // is answered ABORTED.
  static constexpr int kMaxConflictRetries = 32;

  Committer(Store& store, Index& index, WatchHub& hub, Clock& clock,
            Metrics& metrics, Options options);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // REQUIRES: before Start().
  void SetCommitHook(CommitHook hook) { hook_ = std::move(hook); }
  // REQUIRES: before Start().
  void SetReplicasHook(ReplicasHook hook) { replicas_hook_ = std::move(hook); }
  // REQUIRES: before Start().
  void SetFeedLostHook(FeedLostHook hook) { feed_lost_hook_ = std::move(hook); }
  bool replicated() const { return replication_ != nullptr; }
  // Replicated stores: waits until the index has applied `revision` or
  // `timeout` passed; true when it has. Any thread but the commit thread.
  bool AwaitRevision(uint64_t revision, absl::Duration timeout);
  // Runs `done` once the index has applied `revision`: OK at once (inline)
  // when it has, else later on the commit thread; UNAVAILABLE saying how
  // far behind the index is when `deadline` passes first (checked at
  // least every second) or the committer stops.
  void WhenApplied(uint64_t revision, absl::Time deadline,
                   std::function<void(absl::Status)> done);
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
  // The completion thread: runs the `done` callbacks RunGroup handed over,
  // in order, until Stop.
  void CompletionLoop();
  // FeedSink.
  void OnFeed(FeedUpdate update) override;
  void OnFeedLost(absl::Status status) override;
  // Replicated: prepares, commits and answers `group` (see the class
  // comment); the ops the store could not take in one batch go back to
  // the front of the queue.
  void RunReplicatedGroup(std::vector<CommitOp>& group);
  // Publishes the index's revision to AwaitRevision and WhenApplied, and
  // answers the waiters that are due (reached, expired, or all when
  // stopping).
  void SetApplied(uint64_t revision, bool stopping = false);
  // Replicated: a random pause of up to 2^attempt/2 ms (at most 20 ms)
  // before a group that lost `attempt` + 1 times in a row is prepared
  // again.
  static void ConflictPause(int attempt);
  // Replicated: applies what the feed brought.
  void ApplyFeed(std::vector<FeedUpdate>& updates);
  // Replicated: applies the feed until the index has `revision`, waiting
  // up to options_.feed_wait; false when it did not come in time.
  bool WaitApplied(uint64_t revision);
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
  Replication* const replication_;
  Index& index_;
  WatchHub& hub_;
  Clock& clock_;
  const Options options_;
  CommitHook hook_;
  ReplicasHook replicas_hook_;
  FeedLostHook feed_lost_hook_;
  Histogram& latency_;
  Histogram& group_size_;
  Counter& failures_;
  Gauge& revision_gauge_;
  Gauge& writable_gauge_;
  Counter& reopen_attempts_;
  Counter& recovered_revisions_;
  Counter& conflicts_;

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
  // Replicated: what the feed brought and the commit thread has not yet
  // applied; why the feed ended, once it has.
  std::deque<FeedUpdate> feed_ ABSL_GUARDED_BY(mu_);
  absl::Status feed_lost_ ABSL_GUARDED_BY(mu_);
  // The revision the index has applied, for AwaitRevision.
  uint64_t applied_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // WhenApplied's callers, by the revision they wait for.
  struct Waiter {
    absl::Time deadline;
    std::function<void(absl::Status)> done;
  };
  std::multimap<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  bool feed_started_ = false;
  std::thread thread_;

  // Answers handed from the commit thread to the completion thread.
  struct Completion {
    std::function<void(absl::Status)> done;
    absl::Status status;
  };
  absl::Mutex done_mu_;
  std::vector<Completion> completions_ ABSL_GUARDED_BY(done_mu_);
  bool done_stopping_ ABSL_GUARDED_BY(done_mu_) = false;
  // Handed-off answers not yet run (queued or running).
  size_t completions_pending_ ABSL_GUARDED_BY(done_mu_) = 0;
  std::thread completion_thread_;
};

}  // namespace muster::registry
