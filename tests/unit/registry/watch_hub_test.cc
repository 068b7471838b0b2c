// The watch hub on its own: commits go to a MemoryStore and the Index and
// are published the way the committer does it. Events arrive in revision
// order in bounded messages; a snapshot ends with SNAPSHOT_END before
// live events; a resumed watch replays from the in-memory tail or from
// the store's change log; compacted revisions give OUT_OF_RANGE; a slow
// watcher is cut off without holding the others back; the hub's memory
// limit cuts the largest holders; live payloads are encoded once per
// encoder and shared.

#include "registry/watch_hub.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "registry/event_payload.h"
#include "registry/index.h"
#include "store/memory/memory_store.h"
#include "tests/support/forwarding_store.h"

namespace muster::registry {
namespace {

// What one unit of instance weight weighs once encoded by TestEncoder.
constexpr size_t kUnit = 1000;

// A payload of a known size.
class TestPayload final : public EventPayload {
 public:
  TestPayload(uint64_t revision, size_t bytes)
      : revision_(revision), bytes_(bytes) {}
  uint64_t revision() const { return revision_; }
  size_t bytes() const override { return bytes_; }

 private:
  uint64_t revision_;
  size_t bytes_;
};

// Encodes an event as kUnit bytes per unit of its instance's weight, and
// counts how often it was asked to. Thread-safe.
class TestEncoder final : public EventEncoder {
 public:
  std::shared_ptr<const EventPayload> Encode(
      const Event& event) const override {
    calls_.fetch_add(1);
    return std::make_shared<TestPayload>(event.revision,
                                         kUnit * event.instance->weight);
  }
  int calls() const { return calls_.load(); }

 private:
  mutable std::atomic<int> calls_{0};
};

// A MemoryStore that counts change-log reads. Thread-safe.
class ReadCountingStore final : public muster::testing::ForwardingStore {
 public:
  int reads() const { return reads_.load(); }
  absl::StatusOr<std::vector<Event>> ReadChangeLog(uint64_t from, uint64_t to,
                                                   size_t limit) override {
    reads_.fetch_add(1);
    return inner_.ReadChangeLog(from, to, limit);
  }

 private:
  std::atomic<int> reads_{0};
};

Instance MakeInstance(const std::string& realm, const std::string& service,
                      const std::string& id, uint32_t weight = 1) {
  Instance instance;
  instance.realm = realm;
  instance.service = service;
  instance.id = id;
  instance.address = "10.0.0.1";
  instance.port = 80;
  instance.weight = weight;
  return instance;
}

Instance Web(const std::string& id, uint32_t weight = 1) {
  return MakeInstance("default", "web", id, weight);
}
Instance Api(const std::string& id) {
  return MakeInstance("default", "api", id);
}

// Everything a watcher handed out until it had nothing more.
struct Received {
  std::vector<WatchBatch> batches;
  Watcher::Poll last = Watcher::Poll::kIdle;
  absl::Status end;

  std::vector<uint64_t> revisions() const {
    std::vector<uint64_t> out;
    for (const WatchBatch& batch : batches) {
      for (const Event& event : batch.events) out.push_back(event.revision);
    }
    return out;
  }
  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const WatchBatch& batch : batches) {
      for (const Event& event : batch.events) out.push_back(event.instance->id);
    }
    return out;
  }
};

// Polls `watcher` until it is idle or ended, reporting each message sent.
Received Drain(Watcher& watcher) {
  Received received;
  for (int i = 0; i < 1000; ++i) {
    WatchBatch batch;
    received.last = watcher.Next(&batch, &received.end);
    if (received.last != Watcher::Poll::kBatch) return received;
    watcher.Sent();
    received.batches.push_back(std::move(batch));
  }
  FAIL("the watcher never went idle");
  return received;
}

// Takes one message and leaves it in flight (not Sent).
WatchBatch NextInFlight(Watcher& watcher) {
  WatchBatch batch;
  absl::Status end;
  const Watcher::Poll poll = watcher.Next(&batch, &end);
  INFO(end.ToString());
  REQUIRE(poll == Watcher::Poll::kBatch);
  return batch;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t r = first; r <= last; ++r) out.push_back(r);
  return out;
}

struct Fixture {
  explicit Fixture(WatchHub::Options options = WatchHub::Options{})
      : hub(store, index, metrics, std::move(options)) {
    CreateRealm("default");  // revision 1
    CreateRealm("other");    // revision 2
  }
  ~Fixture() { hub.Shutdown(); }

  void CreateRealm(const std::string& name) {
    CommitBatch batch;
    batch.revision = index.revision() + 1;
    Realm realm;
    realm.name = name;
    realm.create_revision = batch.revision;
    realm.modify_revision = batch.revision;
    batch.put_realms.push_back(realm);
    Write(std::move(batch));
  }

  // Commits one revision that puts `instances` (an event each), as the
  // committer would: store, index, then the hub. Returns the revision.
  uint64_t Put(std::vector<Instance> instances) {
    CommitBatch batch;
    batch.revision = index.revision() + 1;
    for (Instance& instance : instances) {
      instance.modify_revision = batch.revision;
      if (instance.create_revision == 0)
        instance.create_revision = batch.revision;
      Event event;
      event.revision = batch.revision;
      event.type = EventType::kPut;
      event.cause = EventCause::kRegistered;
      event.instance = std::make_shared<const Instance>(instance);
      event.reason = "registered " + instance.id;
      event.time = absl::FromUnixSeconds(1800000000 + batch.revision);
      batch.events.push_back(std::move(event));
      batch.put_instances.push_back(std::move(instance));
    }
    return Write(std::move(batch));
  }
  uint64_t Put(Instance instance) {
    std::vector<Instance> one;
    one.push_back(std::move(instance));
    return Put(std::move(one));
  }

  uint64_t Write(CommitBatch batch) {
    absl::Status written = store.Commit(batch);
    INFO(written.ToString());
    REQUIRE(written.ok());
    index.Apply(batch);
    hub.Publish(batch.events, batch.delete_realms, batch.revision);
    return batch.revision;
  }

  // Deletes realm `name` and `instances` (the ones it holds) in one
  // revision, as a forced DeleteRealm does. Returns the revision.
  uint64_t DeleteRealm(const std::string& name,
                       const std::vector<Instance>& instances) {
    CommitBatch batch;
    batch.revision = index.revision() + 1;
    for (const Instance& instance : instances) {
      Event event;
      event.revision = batch.revision;
      event.type = EventType::kDelete;
      event.cause = EventCause::kRealmDeleted;
      event.instance = std::make_shared<const Instance>(instance);
      event.reason = "realm deleted";
      batch.events.push_back(std::move(event));
      batch.delete_instances.push_back(instance.Key());
    }
    batch.delete_realms.push_back(name);
    return Write(std::move(batch));
  }

  std::shared_ptr<Watcher> Open(
      const WatchSpec& spec, std::function<void()> wake = [] {}) {
    absl::StatusOr<std::shared_ptr<Watcher>> watcher =
        hub.Open(spec, std::move(wake));
    INFO(watcher.status().ToString());
    REQUIRE(watcher.ok());
    return *std::move(watcher);
  }
  // A watcher of live events only (it starts after the current revision).
  std::shared_ptr<Watcher> OpenLive(
      const std::string& service, const EventEncoder* encoder,
      std::function<void()> wake = [] {}) {
    return Open(WatchSpec{"default", service, index.revision() + 1, encoder},
                std::move(wake));
  }

  uint64_t CutOffCount() {
    return metrics.GetCounter("muster_watchers_cut_off_total", "").Value();
  }

  ReadCountingStore store;
  Metrics metrics;
  Index index;
  WatchHub hub;
};

// Checks what every message must satisfy: at least one event (unless
// SNAPSHOT_END), a payload per event, `bytes` their sum, and within the
// message bounds unless it holds a single event.
void CheckBounds(const Received& received, const WatchHub::Options& options) {
  for (size_t i = 0; i < received.batches.size(); ++i) {
    INFO("message " << i);
    const WatchBatch& batch = received.batches[i];
    REQUIRE(batch.payloads.size() == batch.events.size());
    size_t bytes = 0;
    for (const auto& payload : batch.payloads) bytes += payload->bytes();
    CHECK(batch.bytes == bytes);
    if (batch.kind == WatchBatch::Kind::kSnapshotEnd) {
      CHECK(batch.events.empty());
      continue;
    }
    CHECK(!batch.events.empty());
    CHECK(batch.events.size() <= options.max_events_per_message);
    if (batch.events.size() > 1)
      CHECK(batch.bytes <= options.max_message_bytes);
  }
}

}  // namespace

TEST_CASE(
    "watch hub: live events of several publishes arrive in revision order, "
    "bounded by bytes per message",
    "[watch_hub]") {
  WatchHub::Options options;
  options.max_message_bytes = 2500;
  Fixture f(options);
  TestEncoder encoder;
  std::atomic<int> wakes{0};
  std::shared_ptr<Watcher> watcher =
      f.OpenLive("", &encoder, [&wakes] { wakes.fetch_add(1); });

  const uint64_t a = f.Put(Web("a"));
  CHECK(wakes.load() == 1);
  const uint64_t b = f.Put({Web("b1"), Web("b2")});
  // Alone over the byte bound: sent on its own.
  const uint64_t c = f.Put(Web("c", 5));
  const uint64_t d = f.Put({Web("d1"), Web("d2"), Web("d3"), Web("d4")});
  CHECK(wakes.load() == 4);

  const Received received = Drain(*watcher);
  CHECK(received.last == Watcher::Poll::kIdle);
  CheckBounds(received, options);
  CHECK(received.ids() ==
        std::vector<std::string>{"a", "b1", "b2", "c", "d1", "d2", "d3", "d4"});
  CHECK(received.revisions() == std::vector<uint64_t>{a, b, b, c, d, d, d, d});
  std::vector<size_t> sizes;
  std::vector<uint64_t> covered;
  for (const WatchBatch& batch : received.batches) {
    CHECK(batch.kind == WatchBatch::Kind::kEvents);
    sizes.push_back(batch.events.size());
    covered.push_back(batch.revision);
    // A live message is shared, so the stream holds only its own copy.
    CHECK(batch.held_bytes == batch.bytes);
  }
  CHECK(sizes == std::vector<size_t>{2, 1, 1, 2, 2});
  CHECK(covered == std::vector<uint64_t>{b, b, c, d, d});
  CHECK(received.batches[2].bytes == 5 * kUnit);
  f.hub.Close(watcher);
}

TEST_CASE(
    "watch hub: a message holds at most max_events_per_message events, "
    "whatever the publishes",
    "[watch_hub]") {
  WatchHub::Options options;
  options.max_events_per_message = 3;
  Fixture f(options);
  TestEncoder encoder;
  std::shared_ptr<Watcher> watcher = f.OpenLive("", &encoder);
  const uint64_t first = f.Put({Web("1"), Web("2")});
  f.Put({Web("3"), Web("4"), Web("5"), Web("6")});
  const uint64_t last = f.Put(Web("7"));

  const Received received = Drain(*watcher);
  CheckBounds(received, options);
  std::vector<size_t> sizes;
  for (const WatchBatch& batch : received.batches)
    sizes.push_back(batch.events.size());
  CHECK(sizes == std::vector<size_t>{3, 3, 1});
  CHECK(received.ids() ==
        std::vector<std::string>{"1", "2", "3", "4", "5", "6", "7"});
  CHECK(received.revisions().front() == first);
  CHECK(received.batches.back().revision == last);
  f.hub.Close(watcher);
}

TEST_CASE("watch hub: a snapshot, then SNAPSHOT_END, then live events",
          "[watch_hub]") {
  WatchHub::Options options;
  options.max_events_per_message = 2;
  Fixture f(options);
  for (const char* id : {"a", "b", "c", "d", "e"}) f.Put(Web(id));
  const uint64_t snapshot = f.index.revision();
  TestEncoder encoder;
  std::shared_ptr<Watcher> watcher =
      f.Open(WatchSpec{"default", "", 0, &encoder});
  // Committed after the snapshot was taken: live, after SNAPSHOT_END.
  const uint64_t after = f.Put(Web("f"));

  Received received = Drain(*watcher);
  CHECK(received.last == Watcher::Poll::kIdle);
  CheckBounds(received, options);
  REQUIRE(received.batches.size() == 5);
  std::vector<WatchBatch::Kind> kinds;
  for (const WatchBatch& batch : received.batches) kinds.push_back(batch.kind);
  CHECK(kinds == std::vector<WatchBatch::Kind>{WatchBatch::Kind::kSnapshot,
                                               WatchBatch::Kind::kSnapshot,
                                               WatchBatch::Kind::kSnapshot,
                                               WatchBatch::Kind::kSnapshotEnd,
                                               WatchBatch::Kind::kEvents});
  CHECK(received.ids() ==
        std::vector<std::string>{"a", "b", "c", "d", "e", "f"});
  for (size_t i = 0; i < 3; ++i) {
    for (const Event& event : received.batches[i].events) {
      CHECK(event.cause == EventCause::kSnapshot);
      CHECK(event.type == EventType::kPut);
      CHECK(event.revision == event.instance->modify_revision);
    }
    CHECK(received.batches[i].revision == snapshot);
    // Encoded for this stream: its payloads count twice (own + transport).
    CHECK(received.batches[i].held_bytes == 2 * received.batches[i].bytes);
  }
  CHECK(received.batches[3].revision == snapshot);
  CHECK(received.batches[4].revision == after);
  CHECK(received.batches[4].events.at(0).cause == EventCause::kRegistered);
  f.hub.Close(watcher);

  // An empty realm's snapshot is just its end.
  std::shared_ptr<Watcher> empty = f.Open(WatchSpec{"other", "", 0, nullptr});
  received = Drain(*empty);
  REQUIRE(received.batches.size() == 1);
  CHECK(received.batches[0].kind == WatchBatch::Kind::kSnapshotEnd);
  CHECK(received.batches[0].revision == f.index.revision());
  f.hub.Close(empty);
}

TEST_CASE("watch hub: a replay from the in-memory tail, then live events",
          "[watch_hub]") {
  WatchHub::Options options;
  options.max_message_bytes = 2500;
  Fixture f(options);
  std::vector<uint64_t> revisions;
  for (int i = 0; i < 6; ++i)
    revisions.push_back(f.Put(Web(std::to_string(i))));
  TestEncoder encoder;
  std::shared_ptr<Watcher> watcher =
      f.Open(WatchSpec{"default", "", revisions[1], &encoder});
  // Published before the replay was read: sent once, after it.
  const uint64_t live = f.Put(Web("live"));

  const Received received = Drain(*watcher);
  CHECK(received.last == Watcher::Poll::kIdle);
  CheckBounds(received, options);
  CHECK(received.revisions() == Range(revisions[1], live));
  CHECK(received.ids() ==
        std::vector<std::string>{"1", "2", "3", "4", "5", "live"});
  for (const WatchBatch& batch : received.batches) {
    CHECK(batch.kind == WatchBatch::Kind::kEvents);
    CHECK(batch.revision == batch.events.back().revision);
  }
  CHECK(f.store.reads() == 0);
  f.hub.Close(watcher);
}

TEST_CASE(
    "watch hub: a replay older than the tail is read from the store's "
    "change log",
    "[watch_hub]") {
  WatchHub::Options options;
  options.tail_events = 2;
  options.max_events_per_message = 2;
  Fixture f(options);
  std::vector<uint64_t> revisions;
  for (int i = 0; i < 7; ++i)
    revisions.push_back(f.Put(Web(std::to_string(i))));
  std::shared_ptr<Watcher> watcher =
      f.Open(WatchSpec{"default", "", revisions[1], nullptr});
  const uint64_t live = f.Put(Web("live"));

  const Received received = Drain(*watcher);
  CHECK(received.last == Watcher::Poll::kIdle);
  CheckBounds(received, options);
  CHECK(received.revisions() == Range(revisions[1], live));
  CHECK(received.ids() ==
        std::vector<std::string>{"1", "2", "3", "4", "5", "6", "live"});
  // Read a message's worth at a time.
  CHECK(f.store.reads() >= 3);
  // Replayed events carry what was committed.
  CHECK(received.batches[0].events[0].cause == EventCause::kRegistered);
  CHECK(received.batches[0].events[0].reason == "registered 1");
  f.hub.Close(watcher);
}

// The tail is trimmed by whole revisions: a replay served from it never
// misses events of its oldest revision (a revision may hold many events).
TEST_CASE(
    "watch hub: a replay gets every event of a revision the tail holds "
    "only in part",
    "[watch_hub]") {
  // Three events fit the tail: of revision `first` only "b" stays there.
  WatchHub::Options options;
  options.tail_events = 3;
  Fixture f(options);
  const uint64_t first = f.Put({Web("a"), Web("b")});
  const uint64_t second = f.Put({Web("c"), Web("d")});
  std::shared_ptr<Watcher> watcher =
      f.Open(WatchSpec{"default", "", first, nullptr});

  const Received received = Drain(*watcher);
  CHECK(received.last == Watcher::Poll::kIdle);
  CHECK(received.ids() == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(received.revisions() ==
        std::vector<uint64_t>{first, first, second, second});
  // What the change log holds for the same range.
  absl::StatusOr<std::vector<Event>> log =
      f.store.inner().ReadChangeLog(first, second, 100);
  REQUIRE(log.ok());
  CHECK(log->size() == 4);
  f.hub.Close(watcher);
}

TEST_CASE("watch hub: a compacted from_revision is OUT_OF_RANGE",
          "[watch_hub]") {
  WatchHub::Options options;
  options.tail_events = 1;
  Fixture f(options);
  std::vector<uint64_t> revisions;
  for (int i = 0; i < 6; ++i)
    revisions.push_back(f.Put(Web(std::to_string(i))));
  REQUIRE(f.store.Compact(revisions[3]).ok());

  absl::StatusOr<std::shared_ptr<Watcher>> old =
      f.hub.Open(WatchSpec{"default", "", revisions[2], nullptr}, [] {});
  REQUIRE(!old.ok());
  INFO(old.status().ToString());
  CHECK(absl::IsOutOfRange(old.status()));
  CHECK(
      absl::StrContains(old.status().message(), std::to_string(revisions[3])));

  // The oldest retained revision is fine...
  std::shared_ptr<Watcher> watcher =
      f.Open(WatchSpec{"default", "", revisions[3], nullptr});
  // ...until it is compacted before the replay reads it.
  REQUIRE(f.store.Compact(revisions[5]).ok());
  WatchBatch batch;
  absl::Status end;
  CHECK(watcher->Next(&batch, &end) == Watcher::Poll::kEnded);
  INFO(end.ToString());
  CHECK(absl::IsOutOfRange(end));
  CHECK(absl::IsOutOfRange(watcher->EndStatus()));
  f.hub.Close(watcher);
}

TEST_CASE("watch hub: opening fails for a missing realm and after Shutdown",
          "[watch_hub]") {
  Fixture f;
  absl::StatusOr<std::shared_ptr<Watcher>> missing =
      f.hub.Open(WatchSpec{"nowhere", "", 0, nullptr}, [] {});
  CHECK(absl::IsNotFound(missing.status()));
  missing = f.hub.Open(WatchSpec{"nowhere", "", 1, nullptr}, [] {});
  CHECK(absl::IsNotFound(missing.status()));

  std::atomic<int> wakes{0};
  std::shared_ptr<Watcher> open =
      f.OpenLive("", nullptr, [&wakes] { wakes.fetch_add(1); });
  f.hub.Shutdown();
  CHECK(wakes.load() == 1);
  CHECK(absl::IsUnavailable(open->EndStatus()));
  CHECK(absl::IsUnavailable(
      f.hub.Open(WatchSpec{"default", "", 0, nullptr}, [] {}).status()));
  f.hub.Close(open);
}

TEST_CASE(
    "watch hub: a watcher more than buffer_events behind is cut off and the "
    "others keep going",
    "[watch_hub]") {
  WatchHub::Options options;
  options.buffer_events = 3;
  Fixture f(options);
  std::atomic<int> slow_wakes{0};
  std::shared_ptr<Watcher> slow =
      f.OpenLive("", nullptr, [&slow_wakes] { slow_wakes.fetch_add(1); });
  std::shared_ptr<Watcher> fast = f.OpenLive("", nullptr);
  REQUIRE(f.hub.WatcherCount() == 2);

  std::vector<uint64_t> fast_seen;
  for (int i = 0; i < 3; ++i) {
    f.Put(Web(std::to_string(i)));
    for (uint64_t r : Drain(*fast).revisions()) fast_seen.push_back(r);
  }
  // Three queued is the limit, not over it.
  CHECK(slow->EndStatus().ok());
  CHECK(slow->HeldBytes() > 0);
  const int wakes_before = slow_wakes.load();
  f.Put(Web("3"));
  INFO(slow->EndStatus().ToString());
  CHECK(absl::IsResourceExhausted(slow->EndStatus()));
  CHECK(slow_wakes.load() == wakes_before + 1);
  CHECK(slow->HeldBytes() == 0);
  CHECK(f.hub.WatcherCount() == 1);
  CHECK(f.hub.OpenCount() == 2);
  CHECK(f.CutOffCount() == 1);
  // What it had queued is gone: it ends at once.
  Received ended = Drain(*slow);
  CHECK(ended.batches.empty());
  CHECK(ended.last == Watcher::Poll::kEnded);
  CHECK(absl::IsResourceExhausted(ended.end));

  for (int i = 4; i < 10; ++i) {
    f.Put(Web(std::to_string(i)));
    for (uint64_t r : Drain(*fast).revisions()) fast_seen.push_back(r);
  }
  CHECK(fast->EndStatus().ok());
  CHECK(fast_seen == Range(3, 12));
  f.hub.Close(slow);
  f.hub.Close(fast);
  CHECK(f.hub.OpenCount() == 2);  // both still referenced here
  slow.reset();
  fast.reset();
  CHECK(f.hub.OpenCount() == 0);
}

TEST_CASE(
    "watch hub: a watcher holding more than buffer_bytes, counting its "
    "unsent message, is cut off",
    "[watch_hub]") {
  WatchHub::Options options;
  options.buffer_bytes = 2500;
  Fixture f(options);
  TestEncoder encoder;
  std::shared_ptr<Watcher> writing = f.OpenLive("", &encoder);
  std::shared_ptr<Watcher> sent = f.OpenLive("", &encoder);

  f.Put({Web("a"), Web("b")});
  CHECK(writing->HeldBytes() == 2 * kUnit);
  // Both take the message; only one stream has written it.
  CHECK(NextInFlight(*writing).bytes == 2 * kUnit);
  CHECK(NextInFlight(*sent).bytes == 2 * kUnit);
  sent->Sent();
  CHECK(writing->HeldBytes() == 2 * kUnit);
  CHECK(sent->HeldBytes() == 0);
  CHECK(f.hub.HeldBytes() == 2 * kUnit);

  f.Put(Web("c"));
  INFO(writing->EndStatus().ToString());
  CHECK(absl::IsResourceExhausted(writing->EndStatus()));
  CHECK(absl::StrContains(writing->EndStatus().message(), "2500 bytes"));
  // Cut off by its own budget, not by the hub's: it may finish its write.
  CHECK_FALSE(writing->ReleaseNow());
  CHECK(sent->EndStatus().ok());
  CHECK(sent->HeldBytes() == kUnit);
  // The unsent message stays counted until the stream is done with it.
  CHECK(writing->HeldBytes() == 2 * kUnit);
  CHECK(f.hub.HeldBytes() == 3 * kUnit);
  writing->Sent();
  CHECK(f.hub.HeldBytes() == kUnit);
  CHECK(Drain(*sent).ids() == std::vector<std::string>{"c"});
  CHECK(f.hub.HeldBytes() == 0);
  f.hub.Close(writing);
  f.hub.Close(sent);
}

TEST_CASE(
    "watch hub: over memory_limit_bytes the largest holders are cut off "
    "and the memory comes back when they close",
    "[watch_hub]") {
  WatchHub::Options options;
  options.memory_limit_bytes = 10 * kUnit;
  options.buffer_bytes = 1000 * kUnit;
  int released = 0;
  options.on_release = [&released] { ++released; };
  Fixture f(options);
  TestEncoder encoder;
  // `big` reads nothing after its first message, `api` sees few events,
  // `reader` keeps up.
  std::shared_ptr<Watcher> big = f.OpenLive("", &encoder);
  std::shared_ptr<Watcher> api = f.OpenLive("api", &encoder);
  std::shared_ptr<Watcher> reader = f.OpenLive("", &encoder);

  f.Put({Api("p"), Api("q")});
  CHECK(Drain(*reader).ids().size() == 2);
  // big's stream is now writing a 2-unit message that the client never reads.
  CHECK(NextInFlight(*big).events.size() == 2);
  CHECK(f.hub.HeldBytes() == 4 * kUnit);  // big 2 in flight, api 2 queued

  for (int i = 0; i < 5; ++i) {
    f.Put(Web(std::to_string(i)));
    CHECK(Drain(*reader).ids().size() == 1);
  }
  // At the fifth publish they held 10 units (reader's event included):
  // at the limit, not over it.
  CHECK(big->EndStatus().ok());
  CHECK(f.hub.WatcherCount() == 3);
  CHECK(f.hub.HeldBytes() == 9 * kUnit);  // big 7, api 2

  f.Put(Web("over"));
  // 11 units: big (8) held more than its share (10/3) and was cut off,
  // which brought the rest (api 2 + reader 1) under the limit.
  INFO(big->EndStatus().ToString());
  CHECK(absl::IsResourceExhausted(big->EndStatus()));
  CHECK(big->ReleaseNow());
  CHECK(api->EndStatus().ok());
  CHECK(reader->EndStatus().ok());
  CHECK(f.hub.WatcherCount() == 2);
  CHECK(f.CutOffCount() == 1);
  // Its queue is let go at once; its unsent message only when it closes.
  CHECK(big->HeldBytes() == 2 * kUnit);
  CHECK(f.hub.HeldBytes() == 5 * kUnit);
  CHECK(released == 0);
  f.hub.Close(big);
  CHECK(released == 1);
  big.reset();
  CHECK(f.hub.HeldBytes() == 3 * kUnit);

  // The others go on.
  CHECK(Drain(*reader).ids() == std::vector<std::string>{"over"});
  f.Put(Api("r"));
  CHECK(Drain(*api).ids() == std::vector<std::string>{"p", "q", "r"});
  CHECK(Drain(*reader).ids() == std::vector<std::string>{"r"});
  CHECK(f.hub.HeldBytes() == 0);
  f.hub.Close(api);
  f.hub.Close(reader);
}

TEST_CASE("watch hub: a watch on a service sees only that service",
          "[watch_hub]") {
  Fixture f;
  f.Put({Web("w0"), Api("a0")});
  const uint64_t from = f.index.revision() + 1;
  std::shared_ptr<Watcher> realm = f.OpenLive("", nullptr);
  std::shared_ptr<Watcher> web = f.OpenLive("web", nullptr);
  std::shared_ptr<Watcher> api = f.OpenLive("api", nullptr);
  std::shared_ptr<Watcher> other =
      f.Open(WatchSpec{"other", "", from, nullptr});

  f.Put({Web("w1"), Api("a1"), MakeInstance("other", "web", "o1")});
  f.Put(Api("a2"));

  CHECK(Drain(*realm).ids() == std::vector<std::string>{"w1", "a1", "a2"});
  CHECK(Drain(*web).ids() == std::vector<std::string>{"w1"});
  CHECK(Drain(*api).ids() == std::vector<std::string>{"a1", "a2"});
  CHECK(Drain(*other).ids() == std::vector<std::string>{"o1"});

  // The snapshot and the replay are filtered the same way.
  std::shared_ptr<Watcher> snapshot =
      f.Open(WatchSpec{"default", "api", 0, nullptr});
  CHECK(Drain(*snapshot).ids() == std::vector<std::string>{"a0", "a1", "a2"});
  std::shared_ptr<Watcher> replay =
      f.Open(WatchSpec{"default", "web", from - 1, nullptr});
  const Received replayed = Drain(*replay);
  CHECK(replayed.ids() == std::vector<std::string>{"w0", "w1"});
  // Its position covers the unwanted revisions read too.
  CHECK(replayed.batches.back().revision == f.index.revision());
  for (const auto& w : {realm, web, api, other, snapshot, replay})
    f.hub.Close(w);
}

TEST_CASE(
    "watch hub: a live event is encoded once per encoder and its payload "
    "shared",
    "[watch_hub]") {
  Fixture f;
  TestEncoder shared_encoder;
  TestEncoder own_encoder;
  std::shared_ptr<Watcher> first = f.OpenLive("web", &shared_encoder);
  std::shared_ptr<Watcher> second = f.OpenLive("", &shared_encoder);
  std::shared_ptr<Watcher> own = f.OpenLive("web", &own_encoder);
  std::shared_ptr<Watcher> model = f.OpenLive("web", nullptr);
  // Uses the shared encoder but wants nothing published below.
  std::shared_ptr<Watcher> elsewhere = f.Open(
      WatchSpec{"other", "api", f.index.revision() + 1, &shared_encoder});

  // Nobody wants it: never encoded.
  f.Put(MakeInstance("other", "web", "unwatched"));
  CHECK(shared_encoder.calls() == 0);
  CHECK(own_encoder.calls() == 0);
  CHECK(Drain(*second).batches.empty());

  // Three events, each encoded once per encoder.
  const uint64_t revision = f.Put({Web("x"), Web("y"), Web("z")});
  CHECK(shared_encoder.calls() == 3);
  CHECK(own_encoder.calls() == 3);

  const Received a = Drain(*first);
  const Received b = Drain(*second);
  const Received c = Drain(*own);
  const Received m = Drain(*model);
  REQUIRE(a.batches.size() == 1);
  REQUIRE(b.batches.size() == 1);
  REQUIRE(c.batches.size() == 1);
  REQUIRE(m.batches.size() == 1);
  REQUIRE(a.batches[0].payloads.size() == 3);
  REQUIRE(b.batches[0].payloads.size() == 3);
  REQUIRE(c.batches[0].payloads.size() == 3);
  REQUIRE(m.batches[0].payloads.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    INFO("event " << i);
    const auto& payload = a.batches[0].payloads[i];
    // The very same object for both watchers of one encoder.
    CHECK(payload.get() == b.batches[0].payloads[i].get());
    CHECK(payload.get() != c.batches[0].payloads[i].get());
    const auto* test_payload = dynamic_cast<const TestPayload*>(payload.get());
    REQUIRE(test_payload != nullptr);
    CHECK(test_payload->revision() == revision);
    CHECK(dynamic_cast<const TestPayload*>(c.batches[0].payloads[i].get()) !=
          nullptr);

    // No encoder: the event itself.
    const auto* event_payload =
        dynamic_cast<const ModelEventPayload*>(m.batches[0].payloads[i].get());
    REQUIRE(event_payload != nullptr);
    const Event& published = m.batches[0].events[i];
    const Event& carried = event_payload->event();
    CHECK(carried.revision == revision);
    CHECK(carried.revision == published.revision);
    CHECK(carried.type == published.type);
    CHECK(carried.cause == published.cause);
    CHECK(carried.instance == published.instance);
    CHECK(carried.reason == published.reason);
    CHECK(carried.time == published.time);
    CHECK(event_payload->bytes() > 0);
  }
  CHECK(Drain(*elsewhere).batches.empty());

  // A snapshot is encoded for its own stream, every time.
  const int before = shared_encoder.calls();
  std::shared_ptr<Watcher> snap1 =
      f.Open(WatchSpec{"default", "web", 0, &shared_encoder});
  std::shared_ptr<Watcher> snap2 =
      f.Open(WatchSpec{"default", "web", 0, &shared_encoder});
  const Received s1 = Drain(*snap1);
  const Received s2 = Drain(*snap2);
  CHECK(s1.ids() == std::vector<std::string>{"x", "y", "z"});
  CHECK(shared_encoder.calls() == before + 6);
  CHECK(s1.batches[0].payloads[0].get() != s2.batches[0].payloads[0].get());
  for (const auto& w : {first, second, own, model, elsewhere, snap1, snap2})
    f.hub.Close(w);
}

}  // namespace muster::registry

namespace muster::registry {
namespace {

// A watch of a realm that is deleted gets the realm's deletes, then ends
// with NOT_FOUND naming the realm and the revision; it never goes on into
// a realm created again under the same name, live or replayed.
TEST_CASE("watch hub: a watch ends after its realm's deletes",
          "[watch_hub][realm_deleted]") {
  Fixture f;
  f.CreateRealm("gone");
  Instance a = MakeInstance("gone", "web", "a");
  Instance b = MakeInstance("gone", "api", "b");
  const uint64_t put_a = f.Put(a);
  a.create_revision = a.modify_revision = put_a;
  const uint64_t put_b = f.Put(b);
  b.create_revision = b.modify_revision = put_b;

  SECTION("live, every service") {
    std::shared_ptr<Watcher> watcher =
        f.Open(WatchSpec{"gone", "", f.index.revision() + 1});
    const uint64_t deleted = f.DeleteRealm("gone", {a, b});
    f.CreateRealm("gone");
    f.Put(MakeInstance("gone", "web", "reborn"));
    const Received got = Drain(*watcher);
    CHECK(got.ids() == std::vector<std::string>{"a", "b"});
    CHECK(got.revisions() == std::vector<uint64_t>{deleted, deleted});
    REQUIRE(got.last == Watcher::Poll::kEnded);
    CHECK(absl::IsNotFound(got.end));
    CHECK(absl::StrContains(got.end.message(), "realm \"gone\" was deleted"));
    CHECK(absl::StrContains(got.end.message(),
                            absl::StrCat("revision ", deleted)));
    f.hub.Close(watcher);
  }
  SECTION("live, one service: it ends too, after its own deletes") {
    std::shared_ptr<Watcher> watcher =
        f.Open(WatchSpec{"gone", "api", f.index.revision() + 1});
    f.DeleteRealm("gone", {a, b});
    f.CreateRealm("gone");
    f.Put(MakeInstance("gone", "api", "reborn"));
    const Received got = Drain(*watcher);
    CHECK(got.ids() == std::vector<std::string>{"b"});
    REQUIRE(got.last == Watcher::Poll::kEnded);
    CHECK(absl::IsNotFound(got.end));
    f.hub.Close(watcher);
  }
  SECTION("live, an empty realm: it just ends") {
    f.CreateRealm("empty");
    std::shared_ptr<Watcher> watcher =
        f.Open(WatchSpec{"empty", "", f.index.revision() + 1});
    CHECK(Drain(*watcher).last == Watcher::Poll::kIdle);
    f.DeleteRealm("empty", {});
    f.CreateRealm("empty");
    f.Put(MakeInstance("empty", "web", "reborn"));
    const Received got = Drain(*watcher);
    CHECK(got.ids().empty());
    REQUIRE(got.last == Watcher::Poll::kEnded);
    CHECK(absl::IsNotFound(got.end));
    f.hub.Close(watcher);
  }
  SECTION("replayed: a resume from before the deletion stops at it") {
    const uint64_t from = put_a;
    const uint64_t deleted = f.DeleteRealm("gone", {a, b});
    f.CreateRealm("gone");
    f.Put(MakeInstance("gone", "web", "reborn"));
    std::shared_ptr<Watcher> watcher = f.Open(WatchSpec{"gone", "", from});
    // A live event of the new realm while the replay is pending.
    f.Put(MakeInstance("gone", "web", "later"));
    const Received got = Drain(*watcher);
    CHECK(got.ids() == std::vector<std::string>{"a", "b", "a", "b"});
    CHECK(got.revisions() ==
          std::vector<uint64_t>{put_a, put_b, deleted, deleted});
    REQUIRE(got.last == Watcher::Poll::kEnded);
    CHECK(absl::IsNotFound(got.end));
    CHECK(absl::StrContains(got.end.message(),
                            absl::StrCat("revision ", deleted)));
    f.hub.Close(watcher);
  }
  SECTION("replayed from the store's change log") {
    WatchHub::Options options;
    options.tail_events = 1;
    Fixture g(options);
    g.CreateRealm("gone");
    Instance c = MakeInstance("gone", "web", "c");
    const uint64_t put_c = g.Put(c);
    c.create_revision = c.modify_revision = put_c;
    const uint64_t deleted = g.DeleteRealm("gone", {c});
    g.CreateRealm("gone");
    g.Put(MakeInstance("gone", "web", "reborn"));
    g.Put(MakeInstance("gone", "web", "reborn2"));
    std::shared_ptr<Watcher> watcher = g.Open(WatchSpec{"gone", "", put_c});
    const Received got = Drain(*watcher);
    CHECK(got.revisions() == std::vector<uint64_t>{put_c, deleted});
    REQUIRE(got.last == Watcher::Poll::kEnded);
    CHECK(absl::IsNotFound(got.end));
    CHECK(g.store.reads() > 0);
    g.hub.Close(watcher);
  }
  SECTION("other realms' watchers go on") {
    std::shared_ptr<Watcher> watcher = f.OpenLive("", nullptr);
    f.DeleteRealm("gone", {a, b});
    const uint64_t put = f.Put(Web("w1"));
    const Received got = Drain(*watcher);
    CHECK(got.revisions() == std::vector<uint64_t>{put});
    CHECK(got.last == Watcher::Poll::kIdle);
    f.hub.Close(watcher);
  }
}

}  // namespace
}  // namespace muster::registry

namespace muster::registry {
namespace {

// Progress: only a live watcher with nothing queued or in flight gets
// one; its revision is the last one published, and resuming from it + 1
// replays nothing it already had.
TEST_CASE("watch hub: progress carries the published revision when idle",
          "[watch_hub][progress]") {
  Fixture f;
  const uint64_t before = f.Put(Api("a1"));
  std::shared_ptr<Watcher> watcher =
      f.Open(WatchSpec{"default", "web", 0, nullptr, true});
  WatchBatch progress;
  // Still in its snapshot.
  CHECK_FALSE(watcher->Progress(&progress));
  Received got = Drain(*watcher);
  REQUIRE(got.last == Watcher::Poll::kIdle);

  REQUIRE(watcher->Progress(&progress));
  CHECK(progress.kind == WatchBatch::Kind::kProgress);
  CHECK(progress.events.empty());
  CHECK(progress.revision == before);

  // Changes it does not watch move the revision on.
  f.Put(Api("a2"));
  const uint64_t other = f.Put(Api("a3"));
  REQUIRE(watcher->Progress(&progress));
  CHECK(progress.revision == other);

  // A queued event comes first: no progress until it is sent.
  const uint64_t put = f.Put(Web("w1"));
  CHECK_FALSE(watcher->Progress(&progress));
  WatchBatch batch = NextInFlight(*watcher);
  CHECK(batch.revision == put);
  CHECK_FALSE(watcher->Progress(&progress));  // in flight
  watcher->Sent();
  REQUIRE(watcher->Progress(&progress));
  CHECK(progress.revision == put);

  // The resume rule: from the progress revision + 1, nothing is replayed
  // twice, and a later change arrives.
  const uint64_t resume_from = progress.revision + 1;
  f.hub.Close(watcher);
  const uint64_t later = f.Put(Web("w2"));
  std::shared_ptr<Watcher> resumed =
      f.Open(WatchSpec{"default", "web", resume_from});
  got = Drain(*resumed);
  CHECK(got.revisions() == std::vector<uint64_t>{later});
  f.hub.Close(resumed);
}

}  // namespace
}  // namespace muster::registry

namespace muster::registry {
namespace {

// A forced delete of a realm larger than the watchers' buffers is one
// revision: a watcher that was keeping up takes all of it and is not cut
// off; one that was already behind still is.
TEST_CASE(
    "watch hub: a caught-up watcher takes a publish larger than its "
    "buffer",
    "[watch_hub][realm_deleted]") {
  WatchHub::Options options;
  options.buffer_events = 5;
  options.buffer_bytes = 5 * kUnit;
  Fixture f(options);
  f.CreateRealm("big");
  std::vector<Instance> instances;
  for (int i = 0; i < 20; ++i) {
    instances.push_back(MakeInstance("big", "web", absl::StrCat("i", i)));
  }
  std::vector<Instance> stored = instances;
  const uint64_t put = f.Put(instances);
  for (Instance& instance : stored) {
    instance.create_revision = instance.modify_revision = put;
  }
  TestEncoder encoder;
  std::shared_ptr<Watcher> keeping_up =
      f.Open(WatchSpec{"big", "", f.index.revision() + 1, &encoder});
  std::shared_ptr<Watcher> behind =
      f.Open(WatchSpec{"big", "", f.index.revision() + 1, &encoder});
  // `behind` has one event queued already.
  const uint64_t one = f.Put(MakeInstance("big", "web", "extra"));
  Received first = Drain(*keeping_up);
  CHECK(first.revisions() == std::vector<uint64_t>{one});

  const uint64_t deleted = f.DeleteRealm("big", stored);
  const Received got = Drain(*keeping_up);
  CHECK(got.revisions().size() == 20);
  REQUIRE(got.last == Watcher::Poll::kEnded);
  CHECK(absl::IsNotFound(got.end));
  CHECK(absl::StrContains(got.end.message(), absl::StrCat(deleted)));
  CHECK(f.CutOffCount() == 1);

  const Received late = Drain(*behind);
  REQUIRE(late.last == Watcher::Poll::kEnded);
  CHECK(absl::IsResourceExhausted(late.end));
  f.hub.Close(keeping_up);
  f.hub.Close(behind);
}

}  // namespace
}  // namespace muster::registry
