// The watch hub's fan-out stage (WatchHub::Options::fan_out_thread):
// Publish hands committed batches to the hub's thread and returns, so the
// committer acknowledges writes while the watchers' fan-out is stuck. The
// fan-out is held deterministically by a watcher whose wake blocks until
// the test lets it go; while it is held, watches that join from a
// snapshot or a replay get no gap and no duplicate, progress never claims
// what was not delivered, the queue's bound makes Publish wait, and
// Shutdown releases a waiting Publish and ends every watcher.

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "registry/committer.h"
#include "registry/index.h"
#include "registry/watch_hub.h"
#include "store/memory/memory_store.h"
#include "tests/support/fake_clock.h"

namespace muster::registry {
namespace {

// Long enough for a loaded machine; a broken fan-out stage fails here
// instead of hanging.
constexpr absl::Duration kPatience = absl::Seconds(30);

// A wake that blocks the first time it runs (on the fan-out thread, in
// the middle of a delivery) until Release(); later wakes return at once.
struct BlockingWake {
  std::atomic<bool> armed{true};
  absl::Notification entered;
  absl::Notification release;

  std::function<void()> Fn() {
    return [this] {
      if (!armed.exchange(false)) return;
      entered.Notify();
      release.WaitForNotification();
    };
  }
  void Release() {
    if (!release.HasBeenNotified()) release.Notify();
  }
};

// Polls `done` (set by another thread) until it holds or kPatience passes.
bool Eventually(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

Instance Web(const std::string& id) {
  Instance instance;
  instance.realm = "default";
  instance.service = "web";
  instance.id = id;
  instance.address = "10.0.0.1";
  instance.port = 80;
  return instance;
}

// A commit as the committer makes it: the store, the index, the hub.
CommitBatch PutBatch(uint64_t revision, Instance instance) {
  CommitBatch batch;
  batch.revision = revision;
  instance.create_revision = revision;
  instance.modify_revision = revision;
  Event event;
  event.revision = revision;
  event.type = EventType::kPut;
  event.cause = EventCause::kRegistered;
  event.instance = std::make_shared<const Instance>(instance);
  event.reason = "registered " + instance.id;
  batch.events.push_back(std::move(event));
  batch.put_instances.push_back(std::move(instance));
  return batch;
}

WatchHub::Options FanOutOptions() {
  WatchHub::Options options;
  options.fan_out_thread = true;
  return options;
}

struct Fixture {
  explicit Fixture(WatchHub::Options options = FanOutOptions())
      : hub(store, index, metrics, std::move(options)) {
    CommitBatch batch;
    batch.revision = 1;
    Realm realm;
    realm.name = "default";
    realm.create_revision = 1;
    realm.modify_revision = 1;
    batch.put_realms.push_back(realm);
    Write(batch);
  }
  ~Fixture() {
    block.Release();
    hub.Shutdown();
  }

  // Commits `batch` without assertions (any thread).
  absl::Status Commit(const CommitBatch& batch) {
    absl::Status written = store.Commit(batch);
    if (!written.ok()) return written;
    index.Apply(batch);
    hub.Publish(batch.events, batch.delete_realms, batch.revision);
    return absl::OkStatus();
  }
  void Write(const CommitBatch& batch) {
    absl::Status written = Commit(batch);
    INFO(written.ToString());
    REQUIRE(written.ok());
  }
  uint64_t Put(const std::string& id) {
    const uint64_t revision = index.revision() + 1;
    Write(PutBatch(revision, Web(id)));
    return revision;
  }

  std::shared_ptr<Watcher> Open(
      const WatchSpec& spec, std::function<void()> wake = [] {}) {
    absl::StatusOr<std::shared_ptr<Watcher>> watcher =
        hub.Open(spec, std::move(wake));
    INFO(watcher.status().ToString());
    REQUIRE(watcher.ok());
    return *std::move(watcher);
  }

  // The watcher whose first wake holds the fan-out thread (live from the
  // next revision).
  std::shared_ptr<Watcher> OpenHolder() {
    return Open(WatchSpec{"default", "", index.revision() + 1}, block.Fn());
  }
  // Publishes revision 2 ("holder") and returns once its delivery holds
  // the fan-out thread in the holder's wake. That batch counts in the
  // queue's bound until the thread is let go.
  void Hold() {
    REQUIRE(Put("holder") == 2);
    REQUIRE(block.entered.WaitForNotificationWithTimeout(kPatience));
  }
  std::shared_ptr<Watcher> HoldFanOut() {
    std::shared_ptr<Watcher> holder = OpenHolder();
    Hold();
    return holder;
  }

  bool AwaitPublished(uint64_t revision) {
    return Eventually([&] { return hub.PublishedRevision() >= revision; });
  }

  uint64_t Stalls() {
    return metrics.GetCounter("muster_watch_fanout_stalls_total", "").Value();
  }

  // Before the hub: the hub's thread may still be leaving the wake when
  // the hub is destroyed (and joins it).
  BlockingWake block;
  MemoryStore store;
  Metrics metrics;
  Index index;
  WatchHub hub;
};

// What a watcher hands out until it is idle or ended.
struct Received {
  std::vector<WatchBatch::Kind> kinds;
  // Snapshot events, then live or replayed ones.
  std::vector<std::string> snapshot_ids;
  std::vector<uint64_t> revisions;
  std::vector<std::string> ids;
  Watcher::Poll last = Watcher::Poll::kIdle;
  absl::Status end;
};

Received Drain(Watcher& watcher) {
  Received received;
  for (int i = 0; i < 1000; ++i) {
    WatchBatch batch;
    received.last = watcher.Next(&batch, &received.end);
    if (received.last != Watcher::Poll::kBatch) return received;
    watcher.Sent();
    received.kinds.push_back(batch.kind);
    for (const Event& event : batch.events) {
      if (batch.kind == WatchBatch::Kind::kSnapshot) {
        received.snapshot_ids.push_back(event.instance->id);
      } else {
        received.revisions.push_back(event.revision);
        received.ids.push_back(event.instance->id);
      }
    }
  }
  FAIL("the watcher never went idle");
  return received;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t r = first; r <= last; ++r) out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE(
    "fan-out thread: watches joining while batches wait for the fan-out "
    "get no gap and no duplicate and progress claims only what was "
    "delivered",
    "[watch][fanout]") {
  Fixture f;
  std::shared_ptr<Watcher> holder = f.OpenHolder();
  // Opened after the holder: the thread reaches it after the holder.
  std::shared_ptr<Watcher> early = f.Open(WatchSpec{"default", "", 2});
  f.Hold();  // revision 2

  // Committed and applied, but not fanned out: Publish did not wait.
  const uint64_t r3 = f.Put("a");
  const uint64_t r4 = f.Put("b");
  CHECK(f.index.revision() == r4);
  CHECK(f.hub.PublishedRevision() < 2);
  // The early watcher was given nothing yet: its progress stays below.
  WatchBatch progress;
  REQUIRE(early->Progress(&progress));
  CHECK(progress.revision < 2);
  CHECK(Drain(*early).revisions.empty());

  // Joins while 2..4 are in the index and not delivered.
  std::shared_ptr<Watcher> snapshot = f.Open(WatchSpec{"default", "", 0});
  std::shared_ptr<Watcher> replay = f.Open(WatchSpec{"default", "", r3});
  std::shared_ptr<Watcher> live = f.Open(WatchSpec{"default", "", r4 + 1});
  const uint64_t r5 = f.Put("c");

  f.block.Release();
  REQUIRE(f.AwaitPublished(r5));

  const Received s = Drain(*snapshot);
  CHECK(s.snapshot_ids == std::vector<std::string>{"a", "b", "holder"});
  REQUIRE(s.kinds.size() == 3);
  CHECK(s.kinds[0] == WatchBatch::Kind::kSnapshot);
  CHECK(s.kinds[1] == WatchBatch::Kind::kSnapshotEnd);
  CHECK(s.kinds[2] == WatchBatch::Kind::kEvents);
  CHECK(s.revisions == std::vector<uint64_t>{r5});
  CHECK(s.last == Watcher::Poll::kIdle);

  const Received r = Drain(*replay);
  CHECK(r.revisions == Range(r3, r5));
  CHECK(r.ids == std::vector<std::string>{"a", "b", "c"});

  CHECK(Drain(*live).revisions == std::vector<uint64_t>{r5});
  CHECK(Drain(*holder).revisions == Range(2, r5));
  CHECK(Drain(*early).revisions == Range(2, r5));
  // Delivered now: progress reaches the last revision.
  REQUIRE(early->Progress(&progress));
  CHECK(progress.revision == r5);

  for (const auto& watcher : {early, holder, snapshot, replay, live})
    f.hub.Close(watcher);
}

TEST_CASE(
    "fan-out thread: a realm deleted while batches wait ends its watchers "
    "with NOT_FOUND after its deletes",
    "[watch][fanout]") {
  Fixture f;
  std::shared_ptr<Watcher> holder = f.HoldFanOut();  // revision 2
  const uint64_t r3 = f.Put("a");
  CommitBatch deletion;
  deletion.revision = r3 + 1;
  for (const std::string id : {"holder", "a"}) {
    Event event;
    event.revision = deletion.revision;
    event.type = EventType::kDelete;
    event.cause = EventCause::kRealmDeleted;
    event.instance = std::make_shared<const Instance>(Web(id));
    event.reason = "realm deleted";
    deletion.events.push_back(std::move(event));
    deletion.delete_instances.push_back(Web(id).Key());
  }
  deletion.delete_realms.push_back("default");
  f.Write(deletion);

  // The index has no realm: a new watch is refused, as without the stage.
  absl::StatusOr<std::shared_ptr<Watcher>> late =
      f.hub.Open(WatchSpec{"default", "", 0}, [] {});
  CHECK(absl::IsNotFound(late.status()));

  f.block.Release();
  REQUIRE(f.AwaitPublished(deletion.revision));
  const Received got = Drain(*holder);
  CHECK(got.revisions == std::vector<uint64_t>{2, r3, r3 + 1, r3 + 1});
  CHECK(got.last == Watcher::Poll::kEnded);
  CHECK(absl::IsNotFound(got.end));
  f.hub.Close(holder);
}

TEST_CASE(
    "fan-out thread: beyond its bound Publish waits for the fan-out "
    "then everything is delivered in order",
    "[watch][fanout]") {
  WatchHub::Options options = FanOutOptions();
  options.fan_out_queue_events = 3;
  Fixture f(options);
  std::shared_ptr<Watcher> other = f.Open(WatchSpec{"default", "", 2});
  std::shared_ptr<Watcher> holder = f.HoldFanOut();  // revision 2
  // With the one being delivered, three events wait: the bound is
  // reached, not passed.
  const uint64_t r3 = f.Put("a");
  f.Put("b");
  CHECK(f.Stalls() == 0);

  const CommitBatch third = PutBatch(r3 + 2, Web("c"));
  std::atomic<bool> published{false};
  absl::Status written;
  std::thread writer([&] {
    written = f.Commit(third);
    published.store(true);
  });
  REQUIRE(Eventually([&] { return f.Stalls() == 1; }));
  // Held: the thread cannot take the queued events, so Publish cannot
  // have returned.
  CHECK_FALSE(published.load());

  f.block.Release();
  writer.join();
  CHECK(written.ok());
  REQUIRE(f.AwaitPublished(third.revision));
  CHECK(Drain(*holder).revisions == Range(2, third.revision));
  CHECK(Drain(*other).revisions == Range(2, third.revision));
  CHECK(f.Stalls() == 1);
  f.hub.Close(holder);
  f.hub.Close(other);
}

TEST_CASE(
    "fan-out thread: Shutdown with batches queued ends every watcher with "
    "UNAVAILABLE and releases a waiting Publish",
    "[watch][fanout]") {
  WatchHub::Options options = FanOutOptions();
  options.fan_out_queue_events = 2;
  Fixture f(options);
  std::shared_ptr<Watcher> other = f.Open(WatchSpec{"default", "", 2});
  std::shared_ptr<Watcher> holder = f.HoldFanOut();  // revision 2
  const uint64_t r3 = f.Put("a");  // queued: the bound is reached

  const CommitBatch next = PutBatch(r3 + 1, Web("b"));
  absl::Status written;
  std::thread writer([&] { written = f.Commit(next); });
  REQUIRE(Eventually([&] { return f.Stalls() == 1; }));

  f.hub.Shutdown();
  writer.join();  // released without the fan-out thread
  CHECK(written.ok());
  for (const auto& watcher : {other, holder}) {
    const Received got = Drain(*watcher);
    CHECK(got.last == Watcher::Poll::kEnded);
    CHECK(absl::IsUnavailable(got.end));
  }
  CHECK(absl::IsUnavailable(
      f.hub.Open(WatchSpec{"default", "", 0}, [] {}).status()));
  // What was queued went to nobody; the change log still has it.
  f.block.Release();
  absl::StatusOr<std::vector<Event>> log =
      f.hub.ReadRange(2, next.revision, 100);
  REQUIRE(log.ok());
  CHECK(log->size() == 3);
  f.hub.Close(holder);
  f.hub.Close(other);
}

TEST_CASE(
    "committer: writes are acknowledged while the watchers' fan-out is "
    "held and watchers get them once it moves",
    "[watch][fanout][committer]") {
  MemoryStore store;
  Metrics metrics;
  Index index;
  muster::testing::FakeClock clock;
  // Before the hub, which joins its thread (maybe still leaving the wake).
  BlockingWake block;
  WatchHub hub(store, index, metrics, FanOutOptions());
  absl::StatusOr<StoredState> state = store.Load();
  REQUIRE(state.ok());
  index.Load(*std::move(state));
  Committer committer(store, index, hub, clock, metrics, Committer::Options{});
  committer.Start();

  struct Outcome {
    absl::Notification done;
    absl::Status status;
    uint64_t revision = 0;
  };
  auto submit = [&](const std::string& id) {
    auto outcome = std::make_shared<Outcome>();
    CommitOp op;
    op.prepare = [id, outcome](Txn& txn) {
      if (!txn.FindRealm("default").has_value()) {
        Realm realm;
        realm.name = "default";
        realm.create_revision = txn.revision();
        txn.PutRealm(realm);
      }
      Instance instance = Web(id);
      instance.create_revision = txn.revision();
      txn.PutInstance(instance, EventCause::kRegistered, "registered", "test");
      outcome->revision = txn.revision();
      return absl::OkStatus();
    };
    op.done = [outcome](absl::Status status) {
      outcome->status = std::move(status);
      outcome->done.Notify();
    };
    committer.Submit(std::move(op));
    return outcome;
  };
  auto acknowledged = [](const std::shared_ptr<Outcome>& outcome) {
    return outcome->done.WaitForNotificationWithTimeout(kPatience) &&
           outcome->status.ok();
  };

  // Whatever fails, the fan-out thread is let go before the committer
  // and the hub are stopped.
  struct ReleaseOnExit {
    BlockingWake& block;
    ~ReleaseOnExit() { block.Release(); }
  } release_on_exit{block};

  REQUIRE(acknowledged(submit("first")));  // revision 1, creates the realm
  absl::StatusOr<std::shared_ptr<Watcher>> holder =
      hub.Open(WatchSpec{"default", "", 2}, block.Fn());
  REQUIRE(holder.ok());
  std::vector<std::shared_ptr<Outcome>> held;
  held.push_back(submit("a"));
  REQUIRE(block.entered.WaitForNotificationWithTimeout(kPatience));

  // The fan-out thread is stuck in a watcher's wake, delivering "a";
  // writers still hear back, after the index applied their writes.
  for (const std::string id : {"b", "c", "d"}) held.push_back(submit(id));
  for (const auto& outcome : held) CHECK(acknowledged(outcome));
  const uint64_t last = held.back()->revision;
  CHECK(index.revision() == last);
  CHECK(hub.PublishedRevision() < 2);

  // Read your writes: a watch opened now has them in its snapshot.
  absl::StatusOr<std::shared_ptr<Watcher>> joined =
      hub.Open(WatchSpec{"default", "", 0}, [] {});
  REQUIRE(joined.ok());
  const std::shared_ptr<Outcome> after = submit("e");
  REQUIRE(acknowledged(after));

  block.Release();
  REQUIRE(
      Eventually([&] { return hub.PublishedRevision() >= after->revision; }));
  const Received watched = Drain(**holder);
  CHECK(watched.ids == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(watched.revisions == Range(2, after->revision));
  const Received fresh = Drain(**joined);
  CHECK(fresh.snapshot_ids ==
        std::vector<std::string>{"a", "b", "c", "d", "first"});
  CHECK(fresh.ids == std::vector<std::string>{"e"});

  hub.Close(*holder);
  hub.Close(*joined);
  hub.Shutdown();
  committer.Stop();
}

}  // namespace muster::registry
