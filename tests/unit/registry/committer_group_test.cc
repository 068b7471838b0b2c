// The committer's group commit on a healthy store: operations queued
// while the commit thread is busy are written with one Store::Commit, get
// consecutive revisions in queue order and hear back only after the
// write; the index, the watch hub and the commit hook see every batch in
// revision order; a failed prepare costs no revision; a later operation
// reads an earlier one's pending writes; exclusive operations run alone.
// Failing stores are covered by committer_test.cc.

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "registry/committer.h"
#include "registry/index.h"
#include "registry/watch_hub.h"
#include "store/memory/memory_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/forwarding_store.h"

namespace muster::registry {
namespace {

using muster::testing::FakeClock;

// One Store::Commit as the store saw it.
struct Write {
  uint64_t revision = 0;
  std::vector<uint64_t> event_revisions;
  std::vector<std::string> put_ids;
  std::vector<std::string> deleted_ids;
  // Operations completed (done ran) when the write started.
  int completed_before = 0;
};

// A MemoryStore that records every Commit. Thread-safe.
class CountingStore final : public muster::testing::ForwardingStore {
 public:
  explicit CountingStore(const std::atomic<int>& completed)
      : completed_(completed) {}

  std::vector<Write> writes() const {
    absl::MutexLock lock(&mu_);
    return writes_;
  }
  // The revision of the last successful Commit.
  uint64_t committed_revision() const {
    absl::MutexLock lock(&mu_);
    return committed_revision_;
  }

  absl::Status Commit(const CommitBatch& batch) override {
    Write write;
    write.revision = batch.revision;
    for (const Event& event : batch.events)
      write.event_revisions.push_back(event.revision);
    for (const Instance& instance : batch.put_instances)
      write.put_ids.push_back(instance.id);
    for (const InstanceKey& key : batch.delete_instances)
      write.deleted_ids.push_back(key.id);
    write.completed_before = completed_.load();
    absl::Status status = inner_.Commit(batch);
    absl::MutexLock lock(&mu_);
    writes_.push_back(std::move(write));
    if (status.ok()) committed_revision_ = batch.revision;
    return status;
  }

 private:
  const std::atomic<int>& completed_;
  mutable absl::Mutex mu_;
  std::vector<Write> writes_ ABSL_GUARDED_BY(mu_);
  uint64_t committed_revision_ ABSL_GUARDED_BY(mu_) = 0;
};

// What one operation saw, filled in on the commit thread and read by the
// test after `done` fired.
struct Outcome {
  absl::Notification done;
  absl::Status status;
  // txn.revision() when prepare ran (0 if it did not).
  uint64_t revision = 0;
  // The store's and the index's revisions when done ran.
  uint64_t store_revision = 0;
  uint64_t index_revision = 0;
  // Position among every completed operation.
  int done_order = -1;
  // Whatever the operation's prepare chose to record.
  std::vector<std::string> notes;
};

// A stage of the commit thread, with the prepare that holds it.
struct Gate {
  absl::Notification entered;
  absl::Notification release;
  void Release() {
    if (!release.HasBeenNotified()) release.Notify();
  }
};

// Batches as the hook and the hub's watcher saw them.
struct Seen {
  uint64_t revision = 0;
  uint64_t index_revision = 0;
  size_t hooks_before = 0;
};

Instance MakeInstance(const std::string& id, uint32_t port) {
  Instance instance;
  instance.realm = "default";
  instance.service = "web";
  instance.id = id;
  instance.address = "10.0.0.1";
  instance.port = port;
  return instance;
}

InstanceKey KeyOf(const std::string& id) {
  return InstanceKey{"default", "web", id};
}

// Registers `id` (a PUT event).
std::function<absl::Status(Txn&)> Put(const std::string& id,
                                      uint32_t port = 80) {
  return [id, port](Txn& txn) {
    Instance instance = MakeInstance(id, port);
    instance.create_revision = txn.revision();
    txn.PutInstance(instance, EventCause::kRegistered, "registered", "test");
    return absl::OkStatus();
  };
}

struct Fixture {
  explicit Fixture(Committer::Options options = Committer::Options{}) {
    absl::StatusOr<StoredState> state = store.Load();
    REQUIRE(state.ok());
    index.Load(*std::move(state));
    committer =
        std::make_unique<Committer>(store, index, hub, clock, metrics, options);
    committer->SetCommitHook([this](const CommitBatch& batch) {
      absl::MutexLock lock(&mu);
      hooked.push_back(Seen{batch.revision, index.revision(), 0});
    });
    committer->Start();
    // Revision 1: the realm every test writes to.
    std::shared_ptr<Outcome> realm = Submit([](Txn& txn) {
      Realm realm;
      realm.name = "default";
      realm.create_revision = txn.revision();
      txn.PutRealm(realm);
      return absl::OkStatus();
    });
    realm->done.WaitForNotification();
    REQUIRE(realm->status.ok());
    REQUIRE(index.revision() == 1);
  }
  ~Fixture() {
    gate.Release();
    hub.Shutdown();
    committer->Stop();
  }

  enum class Mode { kShared, kExclusive };

  // Queues an operation running `body`; its Outcome tells what happened.
  std::shared_ptr<Outcome> Submit(std::function<absl::Status(Txn&)> body,
                                  Mode mode = Mode::kShared) {
    auto outcome = std::make_shared<Outcome>();
    CommitOp op;
    op.prepare = [outcome, body = std::move(body)](Txn& txn) {
      outcome->revision = txn.revision();
      return body(txn);
    };
    op.done = [this, outcome](absl::Status status) {
      outcome->status = std::move(status);
      outcome->store_revision = store.committed_revision();
      outcome->index_revision = index.revision();
      outcome->done_order = completed.fetch_add(1);
      outcome->done.Notify();
    };
    op.exclusive = mode == Mode::kExclusive;
    committer->Submit(std::move(op));
    return outcome;
  }

  // Holds the commit thread inside an operation of its own (which writes
  // nothing), so that what is queued next waits and forms one group.
  void Hold() {
    CommitOp op;
    op.prepare = [this](Txn&) {
      gate.entered.Notify();
      gate.release.WaitForNotification();
      return absl::OkStatus();
    };
    op.done = [this](absl::Status) { completed.fetch_add(1); };
    committer->Submit(std::move(op));
    gate.entered.WaitForNotification();
  }

  // A watcher of the realm from revision 2 on (live: nothing has been
  // written there yet) that records, at each wake, the index revision and
  // how many batches the hook had seen.
  std::shared_ptr<Watcher> OpenWatcher() {
    absl::StatusOr<std::shared_ptr<Watcher>> watcher = hub.Open(
        WatchSpec{"default", "", index.revision() + 1, nullptr}, [this] {
          absl::MutexLock lock(&mu);
          woken.push_back(Seen{0, index.revision(), hooked.size()});
        });
    REQUIRE(watcher.ok());
    return *std::move(watcher);
  }

  std::vector<Seen> Hooked() {
    absl::MutexLock lock(&mu);
    return hooked;
  }
  std::vector<Seen> Woken() {
    absl::MutexLock lock(&mu);
    return woken;
  }

  std::atomic<int> completed{0};
  CountingStore store{completed};
  FakeClock clock;
  Metrics metrics;
  Index index;
  WatchHub hub{store, index, metrics, WatchHub::Options{}};
  std::unique_ptr<Committer> committer;
  Gate gate;
  absl::Mutex mu;
  std::vector<Seen> hooked ABSL_GUARDED_BY(mu);
  std::vector<Seen> woken ABSL_GUARDED_BY(mu);
};

void WaitAll(const std::vector<std::shared_ptr<Outcome>>& outcomes) {
  for (const auto& outcome : outcomes) outcome->done.WaitForNotification();
}

// Every event queued for `watcher`, in the order it hands them out.
std::vector<Event> Drain(Watcher& watcher) {
  std::vector<Event> events;
  for (;;) {
    WatchBatch batch;
    absl::Status end;
    if (watcher.Next(&batch, &end) != Watcher::Poll::kBatch) break;
    watcher.Sent();
    events.insert(events.end(), batch.events.begin(), batch.events.end());
  }
  return events;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t r = first; r <= last; ++r) out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE(
    "committer group: operations queued while the commit thread is busy "
    "are written with one Store::Commit, in queue order",
    "[committer][group]") {
  Fixture f;
  f.clock.Advance(absl::Seconds(7));
  const absl::Time now = f.clock.Now();
  std::shared_ptr<Watcher> watcher = f.OpenWatcher();
  const size_t writes_before = f.store.writes().size();
  const int completed_before = f.completed.load();

  f.Hold();
  constexpr int kOps = 10;
  std::vector<std::shared_ptr<Outcome>> outcomes;
  for (int i = 0; i < kOps; ++i) {
    outcomes.push_back(f.Submit(Put("i" + std::to_string(i))));
  }
  // Nothing of the queued group has run or been written yet.
  for (const auto& outcome : outcomes) {
    CHECK_FALSE(outcome->done.HasBeenNotified());
  }
  CHECK(f.store.writes().size() == writes_before);
  f.gate.Release();
  WaitAll(outcomes);

  // One write, at the last revision, carrying every operation's event.
  const std::vector<Write> writes = f.store.writes();
  REQUIRE(writes.size() == writes_before + 1);
  const Write& write = writes.back();
  CHECK(write.revision == 1 + kOps);
  CHECK(write.event_revisions == Range(2, 1 + kOps));
  CHECK(write.put_ids.size() == kOps);
  // The holding operation had completed; none of the group's had.
  CHECK(write.completed_before == completed_before + 1);

  for (int i = 0; i < kOps; ++i) {
    INFO("operation " << i);
    const Outcome& outcome = *outcomes[i];
    CHECK(outcome.status.ok());
    // Its own revision, in queue order.
    CHECK(outcome.revision == static_cast<uint64_t>(2 + i));
    // Done ran after the synced write and after the index applied it.
    CHECK(outcome.store_revision == 1 + kOps);
    CHECK(outcome.index_revision == 1 + kOps);
    CHECK(outcome.done_order == completed_before + 1 + i);
    std::shared_ptr<const Instance> stored =
        f.index.FindInstance(KeyOf("i" + std::to_string(i)));
    REQUIRE(stored != nullptr);
    CHECK(stored->modify_revision == outcome.revision);
  }

  // The hook saw one batch; the watcher every event, at the group's time.
  const std::vector<Seen> hooked = f.Hooked();
  REQUIRE(hooked.size() == 2);
  CHECK(hooked.back().revision == 1 + kOps);
  const std::vector<Event> events = Drain(*watcher);
  REQUIRE(events.size() == kOps);
  for (int i = 0; i < kOps; ++i) {
    CHECK(events[i].revision == static_cast<uint64_t>(2 + i));
    CHECK(events[i].instance->id == "i" + std::to_string(i));
    CHECK(events[i].time == now);
  }
  f.hub.Close(watcher);
}

TEST_CASE("committer group: max_group_ops bounds a group",
          "[committer][group]") {
  Committer::Options options;
  options.max_group_ops = 3;
  Fixture f(options);
  const size_t writes_before = f.store.writes().size();

  f.Hold();
  std::vector<std::shared_ptr<Outcome>> outcomes;
  for (int i = 0; i < 7; ++i) {
    outcomes.push_back(f.Submit(Put("i" + std::to_string(i))));
  }
  f.gate.Release();
  WaitAll(outcomes);

  const std::vector<Write> all = f.store.writes();
  REQUIRE(all.size() == writes_before + 3);
  const std::vector<Write> writes(all.begin() + writes_before, all.end());
  CHECK(writes[0].event_revisions == Range(2, 4));
  CHECK(writes[1].event_revisions == Range(5, 7));
  CHECK(writes[2].event_revisions == Range(8, 8));
  CHECK(writes[0].revision == 4);
  CHECK(writes[1].revision == 7);
  CHECK(writes[2].revision == 8);
  for (int i = 0; i < 7; ++i) {
    INFO("operation " << i);
    CHECK(outcomes[i]->status.ok());
    CHECK(outcomes[i]->revision == static_cast<uint64_t>(2 + i));
    // Each group heard back after its own write.
    CHECK(outcomes[i]->store_revision == writes[i / 3].revision);
    CHECK(outcomes[i]->index_revision == writes[i / 3].revision);
  }
  // A later group's operations complete after every earlier one's.
  for (int i = 1; i < 7; ++i) {
    CHECK(outcomes[i]->done_order > outcomes[i - 1]->done_order);
  }
}

TEST_CASE(
    "committer group: revisions follow submission order and the index, "
    "the hub and the hook see batches in revision order",
    "[committer][group]") {
  Fixture f;
  std::shared_ptr<Watcher> watcher = f.OpenWatcher();
  const size_t writes_before = f.store.writes().size();

  // Submitted back to back while the thread commits: how they group is
  // up to the scheduler, the order is not.
  constexpr int kOps = 60;
  std::vector<std::shared_ptr<Outcome>> outcomes;
  for (int i = 0; i < kOps; ++i) {
    outcomes.push_back(f.Submit(Put("i" + std::to_string(i))));
  }
  WaitAll(outcomes);

  for (int i = 0; i < kOps; ++i) {
    INFO("operation " << i);
    CHECK(outcomes[i]->status.ok());
    CHECK(outcomes[i]->revision == static_cast<uint64_t>(2 + i));
    CHECK(outcomes[i]->store_revision >= outcomes[i]->revision);
    CHECK(outcomes[i]->index_revision >= outcomes[i]->revision);
    if (i > 0) CHECK(outcomes[i]->done_order > outcomes[i - 1]->done_order);
  }

  // The store got increasing revisions and every event once, in order.
  const std::vector<Write> all = f.store.writes();
  std::vector<uint64_t> stored;
  uint64_t last = 1;
  for (size_t w = writes_before; w < all.size(); ++w) {
    CHECK(all[w].revision > last);
    last = all[w].revision;
    CHECK(all[w].event_revisions.back() == all[w].revision);
    stored.insert(stored.end(), all[w].event_revisions.begin(),
                  all[w].event_revisions.end());
  }
  CHECK(stored == Range(2, 1 + kOps));
  CHECK(f.index.revision() == 1 + kOps);

  // The hook saw the same batches, in order, each after the index had
  // applied it.
  const std::vector<Seen> hooked = f.Hooked();
  REQUIRE(hooked.size() == 1 + all.size() - writes_before);
  for (size_t h = 1; h < hooked.size(); ++h) {
    INFO("batch " << h);
    CHECK(hooked[h].revision == all[writes_before + h - 1].revision);
    CHECK(hooked[h].index_revision == hooked[h].revision);
  }
  // The hub got each batch after the index and before the hook: at the
  // watcher's wake for the k-th batch the index holds it and the hook has
  // seen only the batches before it.
  const std::vector<Seen> woken = f.Woken();
  REQUIRE(woken.size() == hooked.size() - 1);
  for (size_t k = 0; k < woken.size(); ++k) {
    INFO("batch " << k + 1);
    CHECK(woken[k].index_revision == hooked[k + 1].revision);
    CHECK(woken[k].hooks_before == k + 1);
  }
  // The watcher's events come in revision order, each once.
  const std::vector<Event> events = Drain(*watcher);
  std::vector<uint64_t> watched;
  for (const Event& event : events) watched.push_back(event.revision);
  CHECK(watched == Range(2, 1 + kOps));
  f.hub.Close(watcher);
}

TEST_CASE(
    "committer group: a failed prepare costs no revision and leaves the "
    "rest of its group alone",
    "[committer][group]") {
  Fixture f;
  std::shared_ptr<Watcher> watcher = f.OpenWatcher();
  const size_t writes_before = f.store.writes().size();

  f.Hold();
  std::shared_ptr<Outcome> a = f.Submit(Put("a"));
  // Writes, then fails: its writes must vanish.
  std::shared_ptr<Outcome> b = f.Submit([](Txn& txn) {
    txn.PutInstance(MakeInstance("b", 80), EventCause::kRegistered, "", "test");
    return absl::FailedPreconditionError("instance \"b\" refused");
  });
  std::shared_ptr<Outcome> c_seen = std::make_shared<Outcome>();
  std::shared_ptr<Outcome> c = f.Submit([c_seen](Txn& txn) {
    c_seen->notes.push_back(
        txn.FindInstance(KeyOf("b")) == nullptr ? "b absent" : "b present");
    txn.PutInstance(MakeInstance("c", 80), EventCause::kRegistered, "", "test");
    return absl::OkStatus();
  });
  // Reads only: succeeds without a revision of its own.
  std::shared_ptr<Outcome> d = f.Submit([](Txn&) { return absl::OkStatus(); });
  std::shared_ptr<Outcome> e = f.Submit(Put("e"));
  f.gate.Release();
  WaitAll({a, b, c, d, e});

  CHECK(a->status.ok());
  CHECK(b->status == absl::FailedPreconditionError("instance \"b\" refused"));
  CHECK(c->status.ok());
  CHECK(d->status.ok());
  CHECK(e->status.ok());
  CHECK(a->revision == 2);
  // b prepared at 3, failed, and c took 3; d wrote nothing, e took 4.
  CHECK(b->revision == 3);
  CHECK(c->revision == 3);
  CHECK(d->revision == 4);
  CHECK(e->revision == 4);
  CHECK(c_seen->notes == std::vector<std::string>{"b absent"});

  const std::vector<Write> writes = f.store.writes();
  REQUIRE(writes.size() == writes_before + 1);
  CHECK(writes.back().revision == 4);
  CHECK(writes.back().event_revisions == std::vector<uint64_t>{2, 3, 4});
  CHECK(writes.back().put_ids == std::vector<std::string>{"a", "c", "e"});
  CHECK(f.index.revision() == 4);
  CHECK(f.index.FindInstance(KeyOf("b")) == nullptr);
  CHECK(f.index.FindInstance(KeyOf("c"))->modify_revision == 3);

  std::vector<std::string> watched;
  for (const Event& event : Drain(*watcher)) {
    watched.push_back(event.instance->id + "@" +
                      std::to_string(event.revision));
  }
  CHECK(watched == std::vector<std::string>{"a@2", "c@3", "e@4"});
  f.hub.Close(watcher);
}

TEST_CASE(
    "committer group: a later operation reads the pending writes of "
    "earlier ones in its group",
    "[committer][group]") {
  Fixture f;
  const size_t writes_before = f.store.writes().size();

  f.Hold();
  std::shared_ptr<Outcome> first = f.Submit([](Txn& txn) {
    txn.PutInstance(MakeInstance("x", 1), EventCause::kRegistered, "", "test");
    Realm realm;
    realm.name = "second";
    realm.create_revision = txn.revision();
    txn.PutRealm(realm);
    return absl::OkStatus();
  });
  std::shared_ptr<Outcome> second = std::make_shared<Outcome>();
  std::shared_ptr<Outcome> second_op = f.Submit([&f, second](Txn& txn) {
    std::shared_ptr<const Instance> x = txn.FindInstance(KeyOf("x"));
    if (x == nullptr) return absl::InternalError("x not visible");
    second->notes.push_back("port " + std::to_string(x->port) + " at " +
                            std::to_string(x->modify_revision));
    // Pending, not yet in the index.
    second->notes.push_back(f.index.FindInstance(KeyOf("x")) == nullptr
                                ? "index without x"
                                : "index with x");
    std::optional<Realm> realm = txn.FindRealm("second");
    second->notes.push_back(realm.has_value() ? "realm pending" : "no realm");
    Instance updated = *x;
    updated.port = 2;
    txn.PutInstance(updated, EventCause::kUpdated, "", "test");
    return absl::OkStatus();
  });
  std::shared_ptr<Outcome> third = std::make_shared<Outcome>();
  std::shared_ptr<Outcome> third_op = f.Submit([third](Txn& txn) {
    std::shared_ptr<const Instance> x = txn.FindInstance(KeyOf("x"));
    if (x == nullptr) return absl::InternalError("x not visible");
    third->notes.push_back("port " + std::to_string(x->port) + " at " +
                           std::to_string(x->modify_revision));
    txn.DeleteInstance(x, EventCause::kDeregistered, "", "test");
    return absl::OkStatus();
  });
  std::shared_ptr<Outcome> fourth = std::make_shared<Outcome>();
  std::shared_ptr<Outcome> fourth_op = f.Submit([fourth](Txn& txn) {
    fourth->notes.push_back(
        txn.FindInstance(KeyOf("x")) == nullptr ? "x deleted" : "x present");
    return absl::OkStatus();
  });
  f.gate.Release();
  WaitAll({first, second_op, third_op, fourth_op});

  for (const auto& op : {first, second_op, third_op, fourth_op}) {
    INFO(op->status.ToString());
    CHECK(op->status.ok());
  }
  CHECK(second->notes == std::vector<std::string>{"port 1 at 2",
                                                  "index without x",
                                                  "realm pending"});
  CHECK(third->notes == std::vector<std::string>{"port 2 at 3"});
  CHECK(fourth->notes == std::vector<std::string>{"x deleted"});

  // One write: three events, and x's final state (deleted).
  const std::vector<Write> writes = f.store.writes();
  REQUIRE(writes.size() == writes_before + 1);
  CHECK(writes.back().revision == 4);
  CHECK(writes.back().event_revisions == std::vector<uint64_t>{2, 3, 4});
  CHECK(writes.back().put_ids.empty());
  CHECK(writes.back().deleted_ids == std::vector<std::string>{"x"});
  CHECK(f.index.FindInstance(KeyOf("x")) == nullptr);
  std::optional<Realm> realm = f.index.FindRealm("second");
  REQUIRE(realm.has_value());
  CHECK(realm->modify_revision == 2);
}

TEST_CASE("committer group: an exclusive operation runs alone in its group",
          "[committer][group]") {
  Fixture f;
  const size_t writes_before = f.store.writes().size();

  f.Hold();
  std::vector<std::shared_ptr<Outcome>> outcomes;
  outcomes.push_back(f.Submit(Put("a")));
  outcomes.push_back(f.Submit(Put("b")));
  // Reads the realm's instances: only allowed with nothing pending, so it
  // must see a and b committed.
  std::shared_ptr<Outcome> exclusive_seen = std::make_shared<Outcome>();
  outcomes.push_back(f.Submit(
      [&f, exclusive_seen](Txn& txn) {
        for (const auto& instance : txn.RealmInstances("default"))
          exclusive_seen->notes.push_back(instance->id);
        exclusive_seen->notes.push_back("index at " +
                                        std::to_string(f.index.revision()));
        txn.PutInstance(MakeInstance("x", 80), EventCause::kRegistered, "",
                        "test");
        return absl::OkStatus();
      },
      Fixture::Mode::kExclusive));
  outcomes.push_back(f.Submit(Put("c")));
  outcomes.push_back(f.Submit(Put("d")));
  outcomes.push_back(f.Submit(Put("y"), Fixture::Mode::kExclusive));
  outcomes.push_back(f.Submit(Put("z"), Fixture::Mode::kExclusive));
  f.gate.Release();
  WaitAll(outcomes);

  for (const auto& outcome : outcomes) CHECK(outcome->status.ok());
  CHECK(exclusive_seen->notes ==
        std::vector<std::string>{"a", "b", "index at 3"});

  const std::vector<Write> all = f.store.writes();
  REQUIRE(all.size() == writes_before + 5);
  std::vector<std::vector<std::string>> groups;
  for (size_t w = writes_before; w < all.size(); ++w)
    groups.push_back(all[w].put_ids);
  CHECK(groups == std::vector<std::vector<std::string>>{
                      {"a", "b"}, {"x"}, {"c", "d"}, {"y"}, {"z"}});
  std::vector<uint64_t> revisions;
  for (size_t w = writes_before; w < all.size(); ++w)
    revisions.push_back(all[w].revision);
  CHECK(revisions == std::vector<uint64_t>{3, 4, 6, 7, 8});
  for (size_t i = 0; i < outcomes.size(); ++i) {
    CHECK(outcomes[i]->revision == 2 + i);
  }
}

}  // namespace muster::registry
