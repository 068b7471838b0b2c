// The committer when the store fails a write: the failed group and every
// later mutation get UNAVAILABLE, nothing reaches the index, the store is
// reopened with a backoff on the FakeClock, and writes resume at the
// right revision; a failed batch that reached the disk after all is
// adopted and published, never overwritten.

#include "registry/committer.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "registry/index.h"
#include "registry/watch_hub.h"
#include "store/memory/memory_store.h"
#include "tests/support/fake_clock.h"

namespace muster::registry {
namespace {

using muster::testing::FakeClock;

// A Store over a MemoryStore that fails the way a disk does under
// RocksDB: after a failed Commit it refuses every call that writes until
// Reopen, and Reopen fails while the disk is "full". A kLanded failure
// writes the batch and then reports the failure (the WAL got the bytes,
// the sync failed). Thread-safe.
class FlakyStore final : public Store {
 public:
  enum class Failure { kNone, kLost, kLanded };

  void FailNextCommit(Failure how) {
    absl::MutexLock lock(&mu_);
    next_ = how;
  }
  void SetDiskFull(bool full) {
    absl::MutexLock lock(&mu_);
    disk_full_ = full;
  }
  // Starts as if opened read-only on a full disk.
  void StartFailed() {
    absl::MutexLock lock(&mu_);
    failed_ = true;
    disk_full_ = true;
  }
  int reopens() const {
    absl::MutexLock lock(&mu_);
    return reopens_;
  }
  // Commits tried between a failure and the next successful Reopen.
  int writes_while_failed() const {
    absl::MutexLock lock(&mu_);
    return writes_while_failed_;
  }
  MemoryStore& inner() { return inner_; }

  absl::StatusOr<StoredState> Load() override { return inner_.Load(); }
  absl::Status Commit(const CommitBatch& batch) override {
    absl::MutexLock lock(&mu_);
    if (failed_) {
      ++writes_while_failed_;
      return absl::InternalError("commit on a failed store without a reopen");
    }
    const Failure how = next_;
    next_ = Failure::kNone;
    if (how == Failure::kLost) {
      failed_ = true;
      return absl::UnavailableError("write: No space left on device");
    }
    if (how == Failure::kLanded) {
      absl::Status written = inner_.Commit(batch);
      if (!written.ok()) return written;
      failed_ = true;
      return absl::UnavailableError("fsync: Input/output error");
    }
    return inner_.Commit(batch);
  }
  absl::StatusOr<std::vector<Event>> ReadChangeLog(uint64_t from, uint64_t to,
                                                   size_t limit) override {
    return inner_.ReadChangeLog(from, to, limit);
  }
  absl::Status Compact(uint64_t oldest_to_keep) override {
    absl::MutexLock lock(&mu_);
    if (failed_) {
      ++writes_while_failed_;
      return absl::InternalError("compact on a failed store");
    }
    return inner_.Compact(oldest_to_keep);
  }
  uint64_t OldestRetainedRevision() const override {
    return inner_.OldestRetainedRevision();
  }
  absl::StatusOr<std::vector<Realm>> LoadRealms() override {
    return inner_.LoadRealms();
  }
  absl::StatusOr<std::vector<Token>> LoadTokens() override {
    return inner_.LoadTokens();
  }
  bool Writable() const override {
    absl::MutexLock lock(&mu_);
    return !failed_;
  }
  absl::StatusOr<uint64_t> Reopen() override {
    absl::MutexLock lock(&mu_);
    ++reopens_;
    if (disk_full_) {
      return absl::UnavailableError("open: No space left on device");
    }
    failed_ = false;
    return inner_.Reopen();
  }

 private:
  MemoryStore inner_;
  mutable absl::Mutex mu_;
  Failure next_ ABSL_GUARDED_BY(mu_) = Failure::kNone;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool disk_full_ ABSL_GUARDED_BY(mu_) = false;
  int reopens_ ABSL_GUARDED_BY(mu_) = 0;
  int writes_while_failed_ ABSL_GUARDED_BY(mu_) = 0;
};

Instance MakeInstance(const std::string& id) {
  Instance instance;
  instance.realm = "default";
  instance.service = "web";
  instance.id = id;
  instance.address = "10.0.0.1";
  instance.port = 80;
  return instance;
}

InstanceKey KeyOf(const std::string& id) {
  return InstanceKey{"default", "web", id};
}

// The outcome of one operation.
struct Outcome {
  absl::Status status;
  uint64_t revision = 0;
};

struct Fixture {
  Fixture() { Start(); }
  explicit Fixture(Committer::Options committer_options)
      : options(committer_options) {
    Start();
  }
  explicit Fixture(bool start) {
    if (start) Start();
  }
  ~Fixture() {
    hub.Shutdown();
    committer->Stop();
  }

  void Start() {
    absl::StatusOr<StoredState> state = store.Load();
    REQUIRE(state.ok());
    index.Load(*std::move(state));
    committer =
        std::make_unique<Committer>(store, index, hub, clock, metrics, options);
    committer->SetCommitHook([this](const CommitBatch& batch) {
      absl::MutexLock lock(&mu);
      hooked.push_back(batch.revision);
    });
    committer->Start();
  }

  // An operation that registers `id`; counts its prepare calls.
  CommitOp Put(const std::string& id, std::shared_ptr<Outcome> outcome,
               absl::Notification* done) {
    CommitOp op;
    op.prepare = [this, id, outcome](Txn& txn) {
      prepared.fetch_add(1);
      if (!txn.FindRealm("default").has_value()) {
        Realm realm;
        realm.name = "default";
        realm.create_revision = txn.revision();
        txn.PutRealm(realm);
      }
      Instance instance = MakeInstance(id);
      instance.create_revision = txn.revision();
      txn.PutInstance(instance, EventCause::kRegistered, "registered", "test");
      outcome->revision = txn.revision();
      return absl::OkStatus();
    };
    op.done = [outcome, done](absl::Status status) {
      outcome->status = status;
      done->Notify();
    };
    return op;
  }

  // Registers `id` and waits for the answer.
  Outcome Register(const std::string& id) {
    auto outcome = std::make_shared<Outcome>();
    absl::Notification done;
    committer->Submit(Put(id, outcome, &done));
    done.WaitForNotification();
    return *outcome;
  }

  // Registers every id as one commit group: the commit thread is held
  // until all of them are queued.
  std::vector<Outcome> RegisterGroup(const std::vector<std::string>& ids) {
    absl::Notification release;
    absl::Notification blocker_done;
    CommitOp blocker;
    blocker.exclusive = true;
    blocker.done = [&](absl::Status) {
      release.WaitForNotification();
      blocker_done.Notify();
    };
    committer->Submit(std::move(blocker));
    std::vector<std::shared_ptr<Outcome>> outcomes;
    std::vector<std::unique_ptr<absl::Notification>> dones;
    for (const std::string& id : ids) {
      outcomes.push_back(std::make_shared<Outcome>());
      dones.push_back(std::make_unique<absl::Notification>());
      committer->Submit(Put(id, outcomes.back(), dones.back().get()));
    }
    release.Notify();
    blocker_done.WaitForNotification();
    std::vector<Outcome> result;
    for (size_t i = 0; i < ids.size(); ++i) {
      dones[i]->WaitForNotification();
      result.push_back(*outcomes[i]);
    }
    return result;
  }

  std::vector<uint64_t> Hooked() {
    absl::MutexLock lock(&mu);
    return hooked;
  }
  double Writable() {
    return metrics.GetGauge("muster_store_writable", "").Value();
  }
  uint64_t ReopenAttempts() {
    return metrics.GetCounter("muster_store_reopen_attempts_total", "").Value();
  }

  Committer::Options options;
  FlakyStore store;
  FakeClock clock;
  Metrics metrics;
  Index index;
  WatchHub hub{store, index, metrics, WatchHub::Options{}};
  std::unique_ptr<Committer> committer;
  std::atomic<int> prepared{0};
  absl::Mutex mu;
  std::vector<uint64_t> hooked ABSL_GUARDED_BY(mu);
};

std::vector<uint64_t> Revisions(const std::vector<Event>& events) {
  std::vector<uint64_t> revisions;
  for (const Event& event : events) revisions.push_back(event.revision);
  return revisions;
}

TEST_CASE(
    "committer: a group with fewer answers than min_hand_off answers them "
    "on the commit thread",
    "[committer]") {
  Fixture f;  // min_hand_off 8
  std::thread::id prepare_thread;
  std::thread::id answer_thread;
  auto outcome = std::make_shared<Outcome>();
  absl::Notification done;
  CommitOp op = f.Put("alone", outcome, &done);
  std::function<absl::Status(Txn&)> prepare = std::move(op.prepare);
  op.prepare = [&, prepare = std::move(prepare)](Txn& txn) {
    prepare_thread = std::this_thread::get_id();
    return prepare(txn);
  };
  std::function<void(absl::Status)> answer = std::move(op.done);
  op.done = [&, answer = std::move(answer)](absl::Status status) {
    answer_thread = std::this_thread::get_id();
    answer(std::move(status));
  };
  op.done_anywhere = true;
  f.committer->Submit(std::move(op));
  REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  CHECK(outcome->status.ok());
  CHECK(answer_thread == prepare_thread);
}

}  // namespace

TEST_CASE(
    "committer: a failed write refuses its group and later writes "
    "until the store is reopened",
    "[committer]") {
  Fixture f;
  REQUIRE(f.Register("a").status.ok());
  REQUIRE(f.index.revision() == 1);
  CHECK(f.Writable() == 1);

  f.store.FailNextCommit(FlakyStore::Failure::kLost);
  f.store.SetDiskFull(true);
  const std::vector<Outcome> group = f.RegisterGroup({"b", "c", "d"});
  for (const Outcome& outcome : group) {
    INFO(outcome.status.ToString());
    CHECK(absl::IsUnavailable(outcome.status));
  }
  CHECK(f.index.revision() == 1);
  for (const char* id : {"b", "c", "d"}) {
    CHECK(f.index.FindInstance(KeyOf(id)) == nullptr);
  }
  CHECK(f.Writable() == 0);

  // Later writes are refused without being prepared; the first reopen
  // ran at once and failed, the next is due 100 ms later on the clock.
  const int prepared = f.prepared.load();
  Outcome refused = f.Register("e");
  INFO(refused.status.ToString());
  CHECK(absl::IsUnavailable(refused.status));
  CHECK(f.prepared.load() == prepared);
  CHECK(f.store.reopens() == 1);
  f.clock.Advance(absl::Milliseconds(99));
  CHECK(absl::IsUnavailable(f.Register("e").status));
  CHECK(f.store.reopens() == 1);
  f.clock.Advance(absl::Milliseconds(1));
  CHECK(absl::IsUnavailable(f.Register("e").status));
  CHECK(f.store.reopens() == 2);

  // Space is back; the next attempt is 200 ms after the last one.
  f.store.SetDiskFull(false);
  f.clock.Advance(absl::Milliseconds(199));
  CHECK(absl::IsUnavailable(f.Register("e").status));
  CHECK(f.store.reopens() == 2);
  f.clock.Advance(absl::Milliseconds(1));
  const Outcome resumed = f.Register("e");
  INFO(resumed.status.ToString());
  REQUIRE(resumed.status.ok());
  CHECK(f.store.reopens() == 3);
  CHECK(f.ReopenAttempts() == 3);
  CHECK(f.Writable() == 1);
  // The lost batch never reached the disk, the index or a watcher: its
  // revision was never seen anywhere, and the next write takes it.
  CHECK(resumed.revision == 2);
  CHECK(f.index.revision() == 2);
  CHECK(f.index.FindInstance(KeyOf("b")) == nullptr);
  CHECK(f.index.FindInstance(KeyOf("e")) != nullptr);
  CHECK(f.Hooked() == std::vector<uint64_t>{1, 2});
  // Nothing was written to the failed store before it was reopened.
  CHECK(f.store.writes_while_failed() == 0);
}

TEST_CASE("committer: the backoff doubles up to five seconds", "[committer]") {
  Fixture f;
  f.store.FailNextCommit(FlakyStore::Failure::kLost);
  f.store.SetDiskFull(true);
  CHECK(absl::IsUnavailable(f.Register("a").status));
  // Attempts: at once, then after 0.1, 0.2, 0.4, ... capped at 5 s.
  int expected = 1;
  for (absl::Duration wait :
       {absl::Milliseconds(100), absl::Milliseconds(200),
        absl::Milliseconds(400), absl::Milliseconds(800),
        absl::Milliseconds(1600), absl::Milliseconds(3200), absl::Seconds(5),
        absl::Seconds(5)}) {
    f.clock.Advance(wait - absl::Milliseconds(1));
    CHECK(absl::IsUnavailable(f.Register("a").status));
    CHECK(f.store.reopens() == expected);
    f.clock.Advance(absl::Milliseconds(1));
    CHECK(absl::IsUnavailable(f.Register("a").status));
    CHECK(f.store.reopens() == ++expected);
  }
  CHECK(f.store.writes_while_failed() == 0);
}

TEST_CASE(
    "committer: a failed batch that reached the disk is adopted, "
    "never given to another write",
    "[committer]") {
  Fixture f;
  REQUIRE(f.Register("a").status.ok());
  absl::StatusOr<std::shared_ptr<Watcher>> watcher =
      f.hub.Open(WatchSpec{"default", "", 2}, [] {});
  REQUIRE(watcher.ok());

  // The batch lands, the sync fails; the first reopen fails too.
  f.store.FailNextCommit(FlakyStore::Failure::kLanded);
  f.store.SetDiskFull(true);
  const std::vector<Outcome> group = f.RegisterGroup({"b", "c"});
  for (const Outcome& outcome : group) {
    CHECK(absl::IsUnavailable(outcome.status));
  }
  CHECK(f.index.revision() == 1);
  CHECK(f.index.FindInstance(KeyOf("b")) == nullptr);

  // The reopened store holds revisions 2 and 3: the index and every
  // watcher get them before the next write, which takes revision 4.
  f.store.SetDiskFull(false);
  f.clock.Advance(absl::Milliseconds(100));
  const Outcome next = f.Register("d");
  INFO(next.status.ToString());
  REQUIRE(next.status.ok());
  CHECK(next.revision == 4);
  CHECK(f.index.revision() == 4);
  for (const char* id : {"a", "b", "c", "d"}) {
    INFO(id);
    CHECK(f.index.FindInstance(KeyOf(id)) != nullptr);
  }
  CHECK(f.Hooked() == std::vector<uint64_t>{1, 3, 4});
  CHECK(f.metrics.GetCounter("muster_store_recovered_revisions_total", "")
            .Value() == 2);

  // The change log and a watcher agree: 2, 3, 4, once each.
  absl::StatusOr<std::vector<Event>> log = f.hub.ReadRange(1, 4, 100);
  REQUIRE(log.ok());
  CHECK(Revisions(*log) == std::vector<uint64_t>{1, 2, 3, 4});
  std::vector<uint64_t> watched;
  for (int i = 0; i < 10; ++i) {
    WatchBatch batch;
    absl::Status end;
    if ((*watcher)->Next(&batch, &end) != Watcher::Poll::kBatch) break;
    for (const Event& event : batch.events) watched.push_back(event.revision);
  }
  CHECK(watched == std::vector<uint64_t>{2, 3, 4});
  f.hub.Close(*watcher);

  // A restart loads the same state.
  absl::StatusOr<StoredState> state = f.store.Load();
  REQUIRE(state.ok());
  CHECK(state->revision == 4);
  CHECK(state->instances.size() == 4);
  CHECK(f.store.writes_while_failed() == 0);
}

TEST_CASE(
    "committer: a store opened read-only refuses writes until it "
    "reopens",
    "[committer]") {
  Fixture f(/*start=*/false);
  f.store.StartFailed();
  f.Start();
  CHECK(f.Writable() == 0);
  CHECK(absl::IsUnavailable(f.Register("a").status));
  CHECK(f.store.reopens() == 0);
  f.store.SetDiskFull(false);
  f.clock.Advance(absl::Milliseconds(100));
  const Outcome first = f.Register("a");
  INFO(first.status.ToString());
  REQUIRE(first.status.ok());
  CHECK(first.revision == 1);
  CHECK(f.store.reopens() == 1);
  CHECK(f.Writable() == 1);
  CHECK(f.store.writes_while_failed() == 0);
}

TEST_CASE(
    "committer: answers marked done_anywhere come after the write and the "
    "index update, off the commit thread, in order, all of them by Stop",
    "[committer]") {
  // Every group hands its answers off, however small.
  Committer::Options options;
  options.min_hand_off = 1;
  Fixture f(options);
  absl::Mutex mu;
  std::vector<uint64_t> answered;  // revisions, in answer order
  std::vector<bool> applied_first;
  std::thread::id commit_thread;
  std::vector<std::thread::id> answer_threads;
  constexpr int kOps = 200;
  std::vector<std::shared_ptr<Outcome>> outcomes;
  std::atomic<int> answers{0};
  for (int i = 0; i < kOps; ++i) {
    auto outcome = std::make_shared<Outcome>();
    outcomes.push_back(outcome);
    absl::Notification unused;
    CommitOp op = f.Put("i" + std::to_string(i), outcome, &unused);
    std::function<absl::Status(Txn&)> prepare = std::move(op.prepare);
    op.prepare = [&, prepare = std::move(prepare)](Txn& txn) {
      {
        absl::MutexLock lock(&mu);
        commit_thread = std::this_thread::get_id();
      }
      return prepare(txn);
    };
    op.done = [&, outcome](absl::Status status) {
      outcome->status = status;
      absl::MutexLock lock(&mu);
      answered.push_back(outcome->revision);
      applied_first.push_back(
          f.index.revision() >= outcome->revision &&
          f.index.FindInstance(
              KeyOf("i" + std::to_string(answered.size() - 1))) != nullptr);
      answer_threads.push_back(std::this_thread::get_id());
      answers.fetch_add(1);
    };
    op.done_anywhere = true;
    f.committer->Submit(std::move(op));
  }
  // Stop completes everything queued, answers included.
  f.committer->Stop();
  REQUIRE(answers.load() == kOps);
  absl::MutexLock lock(&mu);
  for (int i = 0; i < kOps; ++i) {
    INFO(i);
    CHECK(outcomes[i]->status.ok());
    CHECK(answered[i] == static_cast<uint64_t>(i + 1));
    CHECK(applied_first[i]);
    CHECK(answer_threads[i] != commit_thread);
  }
  CHECK(f.store.inner().Load()->revision == kOps);
}

TEST_CASE(
    "committer: after a failed write, operations marked done_anywhere are "
    "refused like the others",
    "[committer]") {
  Fixture f;
  f.store.FailNextCommit(FlakyStore::Failure::kLost);
  f.store.SetDiskFull(true);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto outcome = std::make_shared<Outcome>();
    absl::Notification done;
    CommitOp op = f.Put("a", outcome, &done);
    op.done_anywhere = true;
    f.committer->Submit(std::move(op));
    done.WaitForNotification();
    INFO(outcome->status.ToString());
    CHECK(absl::IsUnavailable(outcome->status));
  }
  CHECK(f.index.FindInstance(KeyOf("a")) == nullptr);
  CHECK(f.store.writes_while_failed() == 0);
}

}  // namespace muster::registry
