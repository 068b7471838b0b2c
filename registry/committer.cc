#include "registry/committer.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "registry/submit.h"

namespace muster::registry {

void Txn::ExpectInstance(const InstanceKey& key) {
  if (group_expect_ == nullptr) return;
  if (expect_.instances.count(key) != 0 ||
      group_expect_->instances.count(key) != 0)
    return;
  std::shared_ptr<const Instance> stored = index_.FindInstance(key);
  expect_.instances[key] = stored == nullptr ? 0 : stored->modify_revision;
}

void Txn::ExpectRealm(const std::string& name) {
  if (group_expect_ == nullptr) return;
  if (expect_.realms.count(name) != 0 || group_expect_->realms.count(name) != 0)
    return;
  std::optional<Realm> stored = index_.FindRealm(name);
  expect_.realms[name] = stored.has_value() ? stored->modify_revision : 0;
}

std::shared_ptr<const Instance> Txn::FindInstance(
    const InstanceKey& key) const {
  if (auto it = mine_.instances.find(key); it != mine_.instances.end())
    return it->second;
  if (auto it = group_.instances.find(key); it != group_.instances.end())
    return it->second;
  // What was read from the index must still hold when a replicated
  // store writes.
  const_cast<Txn*>(this)->ExpectInstance(key);
  return index_.FindInstance(key);
}

std::optional<Realm> Txn::FindRealm(const std::string& name) const {
  if (auto it = mine_.realms.find(name); it != mine_.realms.end())
    return it->second;
  if (auto it = group_.realms.find(name); it != group_.realms.end())
    return it->second;
  const_cast<Txn*>(this)->ExpectRealm(name);
  return index_.FindRealm(name);
}

std::vector<std::shared_ptr<const Instance>> Txn::RealmInstances(
    const std::string& realm) const {
  if (group_expect_ != nullptr) {
    Txn* self = const_cast<Txn*>(this);
    self->expect_.realm_instances.insert(realm);
    self->ExpectRealm(realm);
  }
  return index_.RealmInstances(realm);
}

std::shared_ptr<const Instance> Txn::PutInstance(Instance instance,
                                                 EventCause cause,
                                                 std::string reason,
                                                 std::string actor) {
  instance.modify_revision = revision_;
  if (group_expect_ != nullptr) ExpectInstance(instance.Key());
  auto stored = std::make_shared<const Instance>(std::move(instance));
  mine_.instances[stored->Key()] = stored;
  Event event;
  event.revision = revision_;
  event.type = EventType::kPut;
  event.cause = cause;
  event.instance = stored;
  event.reason = std::move(reason);
  event.time = now_;
  event.actor = std::move(actor);
  mine_.events.push_back(std::move(event));
  has_writes_ = true;
  return stored;
}

void Txn::DeleteInstance(std::shared_ptr<const Instance> last, EventCause cause,
                         std::string reason, std::string actor) {
  ExpectInstance(last->Key());
  mine_.instances[last->Key()] = nullptr;
  Event event;
  event.revision = revision_;
  event.type = EventType::kDelete;
  event.cause = cause;
  event.instance = std::move(last);
  event.reason = std::move(reason);
  event.time = now_;
  event.actor = std::move(actor);
  mine_.events.push_back(std::move(event));
  has_writes_ = true;
}

void Txn::PutRealm(Realm realm) {
  ExpectRealm(realm.name);
  realm.modify_revision = revision_;
  std::string name = realm.name;
  mine_.realms[name] = std::move(realm);
  has_writes_ = true;
}

void Txn::DeleteRealm(const std::string& name) {
  ExpectRealm(name);
  mine_.realms[name] = std::nullopt;
  has_writes_ = true;
}

std::optional<Token> Txn::FindPendingToken(const std::string& name) const {
  if (auto it = mine_.tokens.find(name); it != mine_.tokens.end())
    return it->second;
  if (auto it = group_.tokens.find(name); it != group_.tokens.end())
    return it->second;
  return std::nullopt;
}

bool Txn::PendingTokenHasHash(const std::string& secret_hash) const {
  for (const GroupChanges* changes : {&mine_, &group_}) {
    for (const auto& [name, token] : changes->tokens) {
      if (token.secret_hash == secret_hash) return true;
    }
  }
  return false;
}

void Txn::PutToken(Token token) {
  if (group_expect_ != nullptr && expect_.tokens.count(token.name) == 0 &&
      group_expect_->tokens.count(token.name) == 0 &&
      token.modify_revision != kPendingRevision) {
    // A new token must still be missing; a changed one (revoked) still
    // at the revision it was read at.
    expect_.tokens[token.name] =
        token.create_revision == kPendingRevision ? 0 : token.modify_revision;
  }
  token.modify_revision = revision_;
  std::string name = token.name;
  mine_.tokens[name] = std::move(token);
  has_writes_ = true;
}

Committer::Committer(Store& store, Index& index, WatchHub& hub, Clock& clock,
                     Metrics& metrics, Options options)
    : store_(store),
      replication_(store.replication()),
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
          metrics.GetGauge("muster_revision", "Current store revision.")),
      writable_gauge_(metrics.GetGauge(
          "muster_store_writable",
          "1 while the store accepts writes; 0 after a write error or a "
          "read-only start, until it is reopened.")),
      reopen_attempts_(metrics.GetCounter(
          "muster_store_reopen_attempts_total",
          "Attempts to reopen the store after a write error.")),
      recovered_revisions_(metrics.GetCounter(
          "muster_store_recovered_revisions_total",
          "Revisions a failed write left on disk, adopted at a reopen.")),
      conflicts_(metrics.GetCounter(
          "muster_commit_conflicts_total",
          "Replicated stores: groups prepared again because another "
          "replica changed what they read.")) {}

Committer::~Committer() { Stop(); }

void Committer::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) return;
    started_ = true;
    committed_revision_ = index_.revision();
    applied_revision_ = committed_revision_;
    revision_gauge_.Set(static_cast<double>(committed_revision_));
    writable_gauge_.Set(1);
    if (replication_ == nullptr && !store_.Writable()) {
      // The store just failed to open for writing; try again after a
      // pause.
      EnterRecovery(absl::UnavailableError("the store was opened read-only"),
                    options_.reopen_backoff);
    }
  }
  if (replication_ != nullptr) {
    absl::Status feeding = replication_->StartFeed(committed_revision_, this);
    if (feeding.ok()) {
      feed_started_ = true;
    } else {
      OnFeedLost(feeding);
    }
  }
  completion_thread_ = std::thread([this] { CompletionLoop(); });
  absl::MutexLock lock(&mu_);
  thread_ = std::thread([this] { Loop(); });
}

void Committer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // The commit thread handed over its last answers before it ended.
  {
    absl::MutexLock lock(&done_mu_);
    done_stopping_ = true;
  }
  if (completion_thread_.joinable()) completion_thread_.join();
  if (feed_started_) {
    replication_->StopFeed();
    feed_started_ = false;
  }
}

bool Committer::AwaitRevision(uint64_t revision, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  struct Args {
    Committer* self;
    uint64_t revision;
  } args{this, revision};
  const absl::Condition reached(
      +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return a->self->applied_revision_ >= a->revision || a->self->stopping_;
      },
      &args);
  return mu_.AwaitWithTimeout(reached, timeout) &&
         applied_revision_ >= revision;
}

void Committer::WhenApplied(uint64_t revision, absl::Time deadline,
                            std::function<void(absl::Status)> done) {
  {
    absl::MutexLock lock(&mu_);
    if (applied_revision_ < revision && !stopping_) {
      waiters_.emplace(revision, Waiter{deadline, std::move(done)});
      return;
    }
    if (applied_revision_ < revision) {
      done = [done = std::move(done), applied = applied_revision_,
              revision](absl::Status) {
        done(absl::UnavailableError(
            absl::StrCat("musterd is shutting down at revision ", applied,
                         ", before revision ", revision)));
      };
    }
  }
  done(absl::OkStatus());
}

void Committer::SetApplied(uint64_t revision, bool stopping) {
  std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> due;
  {
    absl::MutexLock lock(&mu_);
    applied_revision_ = revision;
    if (waiters_.empty()) return;
    const absl::Time now = absl::Now();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->first <= revision) {
        due.emplace_back(std::move(it->second.done), absl::OkStatus());
      } else if (stopping || it->second.deadline <= now) {
        due.emplace_back(std::move(it->second.done),
                         absl::UnavailableError(absl::StrCat(
                             "this musterd has applied revision ", revision,
                             " and not yet revision ", it->first,
                             stopping ? "; it is shutting down"
                                      : "; it may be cut off from its store")));
      } else {
        ++it;
        continue;
      }
      it = waiters_.erase(it);
    }
  }
  for (auto& [done, status] : due) done(status);
}

void Committer::OnFeed(FeedUpdate update) {
  absl::MutexLock lock(&mu_);
  feed_.push_back(std::move(update));
}

void Committer::OnFeedLost(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    feed_lost_ = status;
  }
  MUSTER_LOG(kError,
             "the replicated store's feed ended at revision %d: %s; writes "
             "are refused until musterd is restarted",
             committed_revision_, status.ToString());
  writable_gauge_.Set(0);
  if (feed_lost_hook_) feed_lost_hook_(status);
}

void Committer::CompletionLoop() {
  std::vector<Completion> batch;
  for (;;) {
    {
      absl::MutexLock lock(&done_mu_);
      done_mu_.Await(absl::Condition(
          +[](Committer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->done_mu_) {
            return !c->completions_.empty() || c->done_stopping_;
          },
          this));
      if (completions_.empty()) return;  // stopping, and nothing left
      batch.swap(completions_);
    }
    for (Completion& completion : batch) {
      completion.done(std::move(completion.status));
    }
    {
      absl::MutexLock lock(&done_mu_);
      completions_pending_ -= batch.size();
    }
    batch.clear();
  }
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
    std::vector<FeedUpdate> updates;
    absl::Status lost;
    bool drained = false;
    {
      absl::MutexLock lock(&mu_);
      const absl::Condition ready(
          +[](Committer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return !c->queue_.empty() || !c->feed_.empty() || c->stopping_;
          },
          this);
      if (!recovering_ && waiters_.empty()) {
        mu_.Await(ready);
      } else if (!recovering_) {
        // Wake to expire WhenApplied's waiters.
        mu_.AwaitWithTimeout(ready, absl::Seconds(1));
      } else if (const absl::Duration until = next_reopen_ - clock_.Now();
                 until > absl::ZeroDuration()) {
        // A reopen is due later (by the clock): wake for work, or to look
        // at the clock again.
        mu_.AwaitWithTimeout(ready, std::min(until, options_.reopen_poll));
      }
      while (!feed_.empty()) {
        updates.push_back(std::move(feed_.front()));
        feed_.pop_front();
      }
      lost = feed_lost_;
      drained = queue_.empty() && stopping_ && updates.empty();
      if (!queue_.empty() && queue_.front().exclusive) {
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
    if (drained) {
      // Nobody waits for a revision any more.
      SetApplied(committed_revision_, /*stopping=*/true);
      return;
    }
    if (!updates.empty()) ApplyFeed(updates);
    if (recovering_) MaybeReopen();
    if (group.empty()) {
      SetApplied(committed_revision_);  // expires waiters
      continue;
    }
    if (replication_ != nullptr && !lost.ok()) {
      refusal_ = absl::UnavailableError(absl::StrCat(
          "this replica lost the store's feed and cannot write until "
          "musterd is restarted: ",
          lost.message()));
      Refuse(group);
    } else if (replication_ != nullptr) {
      RunReplicatedGroup(group);
    } else if (recovering_) {
      Refuse(group);
    } else {
      RunGroup(group);
    }
  }
}

namespace {

// Adds one operation's writes to its group's.
void MergeChanges(const GroupChanges& mine, GroupChanges& changes) {
  for (const auto& [key, value] : mine.instances)
    changes.instances[key] = value;
  for (const auto& [name, value] : mine.realms) changes.realms[name] = value;
  for (const auto& [name, value] : mine.tokens) changes.tokens[name] = value;
  changes.events.insert(changes.events.end(), mine.events.begin(),
                        mine.events.end());
}

void MergeExpectations(const Expectations& mine, Expectations& expect) {
  expect.instances.insert(mine.instances.begin(), mine.instances.end());
  expect.realms.insert(mine.realms.begin(), mine.realms.end());
  expect.tokens.insert(mine.tokens.begin(), mine.tokens.end());
  expect.realm_instances.insert(mine.realm_instances.begin(),
                                mine.realm_instances.end());
}

size_t RecordCount(const GroupChanges& changes) {
  return changes.instances.size() + changes.realms.size() +
         changes.tokens.size();
}

size_t ExpectationCount(const Expectations& expect) {
  return expect.instances.size() + expect.realms.size() + expect.tokens.size() +
         expect.realm_instances.size();
}

// The store's batch for a group's changes.
CommitBatch BuildBatch(GroupChanges& changes, uint64_t revision) {
  CommitBatch batch;
  batch.revision = revision;
  batch.put_instances.reserve(changes.instances.size());
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
  for (auto& [name, token] : changes.tokens) {
    batch.put_tokens.push_back(std::move(token));
  }
  batch.events = std::move(changes.events);
  return batch;
}

}  // namespace

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
    MergeChanges(txn.changes(), changes);
    ++next_revision;
    ++writers;
  }

  if (writers > 0) {
    CommitBatch batch = BuildBatch(changes, next_revision - 1);

    const absl::Time start = clock_.Now();
    absl::Status written = store_.Commit(batch);
    latency_.Observe(absl::ToDoubleSeconds(clock_.Now() - start));
    group_size_.Observe(static_cast<double>(writers));
    if (written.ok()) {
      committed_revision_ = batch.revision;
      revision_gauge_.Set(static_cast<double>(committed_revision_));
      index_.Apply(batch);
      hub_.Publish(batch.events, batch.delete_realms, batch.revision);
      if (hook_) hook_(batch);
      SetApplied(committed_revision_);
      MaybeCompact();
    } else {
      failures_.Increment();
      absl::Status unavailable = absl::UnavailableError(
          "the store could not write; the change is not acknowledged: " +
          std::string(written.message()));
      for (auto& result : results) {
        if (result.ok()) result = unavailable;
      }
      if (absl::IsUnavailable(written) || !store_.Writable()) {
        EnterRecovery(written, absl::ZeroDuration());
        // The first attempt, before the group hears back: what a caller
        // sees next does not depend on when this thread runs again.
        MaybeReopen();
      } else {
        // The batch broke the store's contract (a bug); the store itself
        // is fine.
        MUSTER_LOG(kError, "commit of revision %d refused: %s", batch.revision,
                   written.ToString());
      }
    }
  }
  // Answers that need nothing of this thread go to the completion thread
  // (after a successful write only: a failed one is rare, and its answers
  // must not overtake the refusals that follow it), when there are enough
  // of them to be worth the thread switch or earlier ones are still queued
  // there (answers keep their order).
  size_t anywhere = 0;
  if (!recovering_) {
    for (const CommitOp& op : group) {
      if (op.done && op.done_anywhere) ++anywhere;
    }
  }
  bool hand_off = false;
  if (anywhere > 0) {
    if (anywhere >= options_.min_hand_off) {
      hand_off = true;
    } else {
      absl::MutexLock lock(&done_mu_);
      hand_off = completions_pending_ > 0;
    }
  }
  std::vector<Completion> handed;
  if (hand_off) handed.reserve(anywhere);
  for (size_t i = 0; i < group.size(); ++i) {
    if (!group[i].done) continue;
    if (hand_off && group[i].done_anywhere) {
      handed.push_back(
          Completion{std::move(group[i].done), std::move(results[i])});
    } else {
      group[i].done(std::move(results[i]));
    }
  }
  if (!handed.empty()) {
    absl::MutexLock lock(&done_mu_);
    completions_pending_ += handed.size();
    if (completions_.empty()) {
      completions_.swap(handed);
    } else {
      for (Completion& completion : handed)
        completions_.push_back(std::move(completion));
    }
  }
}

void Committer::RunReplicatedGroup(std::vector<CommitOp>& group) {
  const size_t max_records =
      std::max<size_t>(replication_->MaxRecordsPerCommit(), 8);
  std::vector<absl::Status> results(group.size());
  // Operations past `taken` did not fit in the store's batch: they go
  // back to the queue, in order, for the next group.
  size_t taken = group.size();
  uint64_t committed_at = 0;
  for (int attempt = 0;; ++attempt) {
    const absl::Time now = clock_.Now();
    GroupChanges changes;
    Expectations expect;
    expect.read_revision = committed_revision_;
    size_t writers = 0;
    // Operations that wrote nothing but answered from what they read (an
    // error such as NOT_FOUND, an unchanged registration): their answer
    // holds only if what they read is still current in the store.
    size_t readers = 0;
    // Whose answer depends on the store: writers and readers.
    std::vector<bool> depends(group.size(), false);
    taken = group.size();
    for (size_t i = 0; i < group.size(); ++i) {
      results[i] = absl::OkStatus();
      if (!group[i].prepare) continue;
      Txn txn(index_, changes, kPendingRevision, now, &expect);
      results[i] = group[i].prepare(txn);
      const bool writes = results[i].ok() && txn.HasWrites();
      const Expectations& read = txn.expectations();
      const size_t read_count = ExpectationCount(read);
      if (!writes && read_count == 0) continue;
      // One record more for the change-log entry, one for the fence.
      if (writers + readers > 0 &&
          (RecordCount(changes) + (writes ? RecordCount(txn.changes()) : 0) +
                   1 >
               max_records ||
           ExpectationCount(expect) + read_count + 1 > max_records)) {
        taken = i;
        break;
      }
      MergeExpectations(read, expect);
      depends[i] = true;
      if (!writes) {
        ++readers;
        continue;
      }
      MergeChanges(txn.changes(), changes);
      if (group[i].fenced) expect.fenced = true;
      ++writers;
    }
    if (writers == 0 && readers == 0) break;
    if (writers == 0) {
      // Nothing to write: confirm that what the answers were read from is
      // current (one compare-only transaction).
      absl::StatusOr<ReplicatedCommit> checked = replication_->Validate(expect);
      if (!checked.ok()) {
        for (size_t i = 0; i < taken; ++i) {
          if (depends[i]) {
            results[i] = absl::UnavailableError(absl::StrCat(
                "the replicated store could not confirm this replica's "
                "view: ",
                checked.status().message()));
          }
        }
        break;
      }
      if (checked->committed) break;
      conflicts_.Increment();
      WaitApplied(checked->revision);
      ConflictPause(attempt);
      if (attempt + 1 >= kMaxConflictRetries) {
        for (size_t i = 0; i < taken; ++i) {
          if (depends[i]) {
            results[i] = absl::AbortedError(
                "other replicas kept changing the same records; retry");
          }
        }
        break;
      }
      continue;
    }

    CommitBatch batch = BuildBatch(changes, kPendingRevision);
    batch.expect = std::move(expect);
    const absl::Time start = clock_.Now();
    absl::StatusOr<ReplicatedCommit> written =
        replication_->CommitReplicated(batch);
    latency_.Observe(absl::ToDoubleSeconds(clock_.Now() - start));
    if (!written.ok()) {
      failures_.Increment();
      const absl::Status refused =
          absl::IsFailedPrecondition(written.status()) ||
                  absl::IsInvalidArgument(written.status())
              ? written.status()
              : absl::UnavailableError(absl::StrCat(
                    "the replicated store did not confirm the write; it is "
                    "not acknowledged (it may still have been applied): ",
                    written.status().message()));
      const bool too_large = !absl::IsUnavailable(refused);
      for (size_t i = 0; i < taken; ++i) {
        if (too_large ? results[i].ok() : depends[i]) results[i] = refused;
      }
      break;
    }
    if (written->committed) {
      group_size_.Observe(static_cast<double>(writers));
      committed_at = written->revision;
      if (!WaitApplied(written->revision)) {
        MUSTER_LOG(kWarning,
                   "revision %d was written but has not come back on the "
                   "feed within %s; answering anyway",
                   written->revision, absl::FormatDuration(options_.feed_wait));
      }
      break;
    }
    // Another replica changed what this group read: catch up and prepare
    // again.
    conflicts_.Increment();
    WaitApplied(written->revision);
    ConflictPause(attempt);
    if (attempt + 1 >= kMaxConflictRetries) {
      for (size_t i = 0; i < taken; ++i) {
        if (results[i].ok()) {
          results[i] = absl::AbortedError(
              absl::StrCat("other replicas kept changing the same records (",
                           attempt + 1, " attempts); not written, retry"));
        }
      }
      break;
    }
  }
  if (taken < group.size()) {
    absl::MutexLock lock(&mu_);
    for (size_t i = group.size(); i-- > taken;) {
      queue_.push_front(std::move(group[i]));
    }
  }
  for (size_t i = 0; i < taken; ++i) {
    if (committed_at != 0 && results[i].ok() && group[i].rebase)
      group[i].rebase(committed_at);
    if (group[i].done) group[i].done(results[i]);
  }
}

void Committer::ConflictPause(int attempt) {
  // Replicas that keep writing the same records would otherwise prepare
  // again in lockstep and lose to each other repeatedly.
  if (attempt == 0) return;
  thread_local absl::BitGen random;
  const int64_t most_us = std::min<int64_t>(int64_t{500} << attempt, 20000);
  absl::SleepFor(
      absl::Microseconds(absl::Uniform<int64_t>(random, 0, most_us)));
}

void Committer::ApplyFeed(std::vector<FeedUpdate>& updates) {
  for (FeedUpdate& update : updates) {
    for (CommitBatch& batch : update.batches) {
      // A resumed feed may bring a revision again.
      if (batch.revision <= committed_revision_) continue;
      committed_revision_ = batch.revision;
      index_.Apply(batch);
      hub_.Publish(batch.events, batch.delete_realms, batch.revision);
      if (hook_) hook_(batch);
    }
    if (update.replicas.has_value() && replicas_hook_) {
      replicas_hook_(*update.replicas);
    }
  }
  revision_gauge_.Set(static_cast<double>(committed_revision_));
  SetApplied(committed_revision_);
  MaybeCompact();
}

bool Committer::WaitApplied(uint64_t revision) {
  const absl::Time deadline = absl::Now() + options_.feed_wait;
  while (committed_revision_ < revision) {
    std::vector<FeedUpdate> updates;
    {
      absl::MutexLock lock(&mu_);
      const absl::Condition arrived(
          +[](Committer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return !c->feed_.empty() || !c->feed_lost_.ok();
          },
          this);
      if (!mu_.AwaitWithDeadline(arrived, deadline)) return false;
      if (!feed_lost_.ok() && feed_.empty()) return false;
      while (!feed_.empty()) {
        updates.push_back(std::move(feed_.front()));
        feed_.pop_front();
      }
    }
    ApplyFeed(updates);
  }
  return true;
}

void RebaseRevision(uint64_t& revision, uint64_t assigned) {
  if (revision == kPendingRevision) revision = assigned;
}

void RebaseRevision(std::shared_ptr<const Instance>& instance,
                    uint64_t assigned) {
  if (instance == nullptr) return;
  if (instance->create_revision != kPendingRevision &&
      instance->modify_revision != kPendingRevision)
    return;
  auto rebased = std::make_shared<Instance>(*instance);
  RebaseRevision(rebased->create_revision, assigned);
  RebaseRevision(rebased->modify_revision, assigned);
  instance = std::move(rebased);
}

void RebaseRevision(Realm& realm, uint64_t assigned) {
  RebaseRevision(realm.create_revision, assigned);
  RebaseRevision(realm.modify_revision, assigned);
}

void RebaseRevision(Token& token, uint64_t assigned) {
  RebaseRevision(token.create_revision, assigned);
  RebaseRevision(token.modify_revision, assigned);
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
    if (!store_.Writable()) EnterRecovery(status, absl::ZeroDuration());
  }
}

void Committer::EnterRecovery(const absl::Status& cause,
                              absl::Duration first_delay) {
  const absl::Time now = clock_.Now();
  recovering_ = true;
  recovery_started_ = now;
  next_reopen_ = now + first_delay;
  backoff_ = options_.reopen_backoff;
  attempts_ = 0;
  last_reopen_error_.clear();
  refusal_ = absl::UnavailableError(
      "the store cannot write; writes are refused until it is reopened: " +
      std::string(cause.message()));
  writable_gauge_.Set(0);
  MUSTER_LOG(kError,
             "store not writable at revision %d (%s): refusing writes with "
             "UNAVAILABLE, serving reads from memory, reopening the store",
             committed_revision_, cause.message());
}

void Committer::MaybeReopen() {
  const absl::Time now = clock_.Now();
  if (now < next_reopen_) return;
  reopen_attempts_.Increment();
  ++attempts_;
  absl::StatusOr<uint64_t> reopened = store_.Reopen();
  absl::Status status = reopened.status();
  if (reopened.ok() && *reopened < committed_revision_) {
    // Acknowledged revisions are gone from the disk. Writing on would
    // hand their numbers out again; stop writing for good instead.
    refusal_ = absl::UnavailableError(absl::StrFormat(
        "the store reopened at revision %d, behind acknowledged revision %d; "
        "writes are refused until musterd is restarted",
        *reopened, committed_revision_));
    next_reopen_ = absl::InfiniteFuture();
    MUSTER_LOG(kError, "%s", refusal_.message());
    return;
  }
  if (reopened.ok() && *reopened > committed_revision_) {
    status = CatchUp(*reopened);
  }
  if (!status.ok()) {
    const std::string reason(status.message());
    refusal_ = absl::UnavailableError(
        "the store cannot write; writes are refused until it is reopened: " +
        reason);
    next_reopen_ = now + backoff_;
    if (reason != last_reopen_error_) {
      MUSTER_LOG(kWarning,
                 "store reopen failed (attempt %d, retrying every %s at "
                 "most): %s",
                 attempts_, absl::FormatDuration(options_.reopen_backoff_max),
                 reason);
      last_reopen_error_ = reason;
    }
    backoff_ = std::min(backoff_ * 2, options_.reopen_backoff_max);
    return;
  }
  recovering_ = false;
  refusal_ = absl::OkStatus();
  writable_gauge_.Set(1);
  MUSTER_LOG(kInfo,
             "store reopened at revision %d after %d attempts in %s: "
             "accepting writes again",
             committed_revision_, attempts_,
             absl::FormatDuration(now - recovery_started_));
}

absl::Status Committer::CatchUp(uint64_t revision) {
  ASSIGN_OR_RETURN(std::vector<Event> events,
                   store_.ReadChangeLog(committed_revision_ + 1, revision,
                                        std::numeric_limits<size_t>::max()));
  ASSIGN_OR_RETURN(std::vector<Realm> realms, store_.LoadRealms());
  CommitBatch batch;
  batch.revision = revision;
  // Tokens have no events either: the stored ones go to the commit hook.
  ASSIGN_OR_RETURN(batch.put_tokens, store_.LoadTokens());
  // Every instance write has its event, carrying the record as written;
  // the last event of a key is its state on disk.
  std::map<InstanceKey, std::shared_ptr<const Instance>> last;
  for (const Event& event : events) {
    last[event.instance->Key()] =
        event.type == EventType::kPut ? event.instance : nullptr;
  }
  for (const auto& [key, instance] : last) {
    if (instance != nullptr) {
      batch.put_instances.push_back(*instance);
    } else {
      batch.delete_instances.push_back(key);
    }
  }
  // Realm changes have no events: take the stored realms as they are.
  std::set<std::string> stored;
  for (Realm& realm : realms) {
    stored.insert(realm.name);
    batch.put_realms.push_back(std::move(realm));
  }
  uint64_t index_revision = 0;
  for (const RealmCounts& counts : index_.Realms(&index_revision)) {
    if (stored.count(counts.realm.name) == 0)
      batch.delete_realms.push_back(counts.realm.name);
  }
  batch.events = std::move(events);

  MUSTER_LOG(kWarning,
             "the reopened store holds revisions %d to %d from a write "
             "reported as failed; applying and publishing them",
             committed_revision_ + 1, revision);
  recovered_revisions_.Increment(revision - committed_revision_);
  committed_revision_ = revision;
  revision_gauge_.Set(static_cast<double>(committed_revision_));
  index_.Apply(batch);
  hub_.Publish(batch.events, batch.delete_realms, batch.revision);
  if (hook_) hook_(batch);
  return absl::OkStatus();
}

void Committer::Refuse(std::vector<CommitOp>& group) {
  for (CommitOp& op : group) {
    if (!op.done) continue;
    // An operation that writes nothing (no prepare) still runs.
    op.done(op.prepare ? refusal_ : absl::OkStatus());
  }
}

}  // namespace muster::registry
