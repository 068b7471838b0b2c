// The registry core on a MemoryStore and a FakeClock: commit semantics,
// store failures, verdicts from the checker, the target feed and the
// watch hub's bounded buffers.

#include "registry/registry.h"

#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "absl/synchronization/notification.h"
#include "registry/memory_store.h"
#include "tests/support/fake_clock.h"

namespace muster::registry {
namespace {

using muster::testing::FakeClock;

// Runs an async registry call and waits for its result.
template <typename T, typename Call>
absl::StatusOr<T> Await(Call call) {
  absl::Notification done;
  absl::StatusOr<T> result = absl::UnknownError("not called");
  call([&](absl::StatusOr<T> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

absl::Status AwaitStatus(
    const std::function<void(std::function<void(absl::Status)>)>& call) {
  absl::Notification done;
  absl::Status result = absl::UnknownError("not called");
  call([&](absl::Status s) {
    result = s;
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

Instance MakeInstance(const std::string& id,
                      CheckKind kind = CheckKind::kNone) {
  Instance instance;
  instance.service = "web";
  instance.id = id;
  instance.address = "10.0.0.1";
  instance.port = 80;
  instance.check.kind = kind;
  if (kind == CheckKind::kTtl) instance.check.ttl = absl::Seconds(10);
  return instance;
}

struct Fixture {
  explicit Fixture(Registry::Options options = {}) {
    auto created = Registry::Create(std::move(options), store, clock, metrics);
    REQUIRE(created.ok());
    registry = std::move(created).value();
    REQUIRE(registry->Start().ok());
  }
  Registry::RegisterResult Register(const Instance& instance) {
    auto result = Await<Registry::RegisterResult>([&](auto done) {
      registry->Register("default", instance, std::move(done));
    });
    INFO(result.status().ToString());
    REQUIRE(result.ok());
    return *result;
  }

  MemoryStore store;
  FakeClock clock;
  Metrics metrics;
  std::unique_ptr<Registry> registry;
};

// Records what the registry tells the checker.
class RecordingListener final : public healthchecker::TargetListener {
 public:
  void OnTargetUpsert(const healthchecker::Target& target) override {
    absl::MutexLock lock(&mu);
    log.push_back("upsert " + target.key.id + " " +
                  std::string(HealthName(target.health)));
  }
  void OnTargetRemoved(const healthchecker::TargetKey& key, uint64_t) override {
    absl::MutexLock lock(&mu);
    log.push_back("removed " + key.id);
  }
  void OnHeartbeat(const healthchecker::TargetKey& key, uint64_t,
                   absl::Time) override {
    absl::MutexLock lock(&mu);
    log.push_back("heartbeat " + key.id);
  }
  std::vector<std::string> Log() {
    absl::MutexLock lock(&mu);
    return log;
  }
  absl::Mutex mu;
  std::vector<std::string> log;
};

}  // namespace

TEST_CASE("a failed store write returns UNAVAILABLE and changes nothing",
          "[registry]") {
  Fixture f;
  f.Register(MakeInstance("a"));
  const uint64_t revision = f.registry->index().revision();
  f.store.TEST_FailCommits(true);
  auto failed = Await<Registry::RegisterResult>([&](auto done) {
    f.registry->Register("default", MakeInstance("b"), std::move(done));
  });
  CHECK(absl::IsUnavailable(failed.status()));
  CHECK(f.registry->index().revision() == revision);
  CHECK(absl::IsNotFound(
      f.registry->GetInstance(InstanceKey{"default", "web", "b"}).status()));
  // Reads keep working.
  CHECK(f.registry->GetInstance(InstanceKey{"default", "web", "a"}).ok());
  // The store recovers; once a reopen is due the next write gets the next
  // revision.
  f.store.TEST_FailCommits(false);
  f.clock.Advance(absl::Seconds(1));
  CHECK(f.Register(MakeInstance("b")).revision == revision + 1);
}

TEST_CASE("registrations take their time from the clock", "[registry]") {
  Fixture f;
  const absl::Time t0 = f.clock.Now();
  auto first = f.Register(MakeInstance("a", CheckKind::kTtl));
  CHECK(first.instance->registered_at == t0);
  CHECK(first.instance->health == Health::kStarting);
  f.clock.Advance(absl::Minutes(5));
  auto heartbeat = f.registry->Heartbeat(InstanceKey{"default", "web", "a"},
                                         first.instance->create_revision);
  REQUIRE(heartbeat.ok());
  healthchecker::HealthDetail detail =
      f.registry->HealthDetailOf(*first.instance);
  REQUIRE(detail.last_heartbeat_at.has_value());
  CHECK(*detail.last_heartbeat_at == t0 + absl::Minutes(5));
}

TEST_CASE("health reports commit only changes and check the incarnation",
          "[registry]") {
  Fixture f;
  auto registered = f.Register(MakeInstance("a", CheckKind::kTtl));
  const uint64_t incarnation = registered.instance->create_revision;
  healthchecker::TargetKey key{"default", "web", "a"};
  const uint64_t before = f.registry->index().revision();
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->ReportHealth(key, incarnation, Health::kCritical,
                                     "ttl expired", std::move(done));
          }).ok());
  CHECK(f.registry->index().revision() == before + 1);
  // Same health, different output: nothing written.
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->ReportHealth(key, incarnation, Health::kCritical,
                                     "still expired", std::move(done));
          }).ok());
  CHECK(f.registry->index().revision() == before + 1);
  auto stored = f.registry->GetInstance(InstanceKey{"default", "web", "a"});
  REQUIRE(stored.ok());
  CHECK((*stored)->health == Health::kCritical);
  CHECK((*stored)->check_output == "ttl expired");
  // Output is capped at 4 KiB.
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->ReportHealth(key, incarnation, Health::kPassing,
                                     std::string(10000, 'x'), std::move(done));
          }).ok());
  stored = f.registry->GetInstance(InstanceKey{"default", "web", "a"});
  CHECK((*stored)->check_output.size() == limits::kMaxCheckOutputBytes);

  CHECK(absl::IsFailedPrecondition(AwaitStatus([&](auto done) {
    f.registry->ReportHealth(key, incarnation + 100, Health::kCritical, "",
                             std::move(done));
  })));
}

TEST_CASE("eviction deletes with a reason but never a draining instance",
          "[registry]") {
  Fixture f;
  auto a = f.Register(MakeInstance("a", CheckKind::kTtl));
  auto b = f.Register(MakeInstance("b", CheckKind::kTtl));
  auto drained = Await<std::shared_ptr<const Instance>>([&](auto done) {
    f.registry->SetAdminState(InstanceKey{"default", "web", "b"},
                              AdminState::kDraining, "deploy", std::move(done));
  });
  REQUIRE(drained.ok());
  CHECK(absl::IsFailedPrecondition(AwaitStatus([&](auto done) {
    f.registry->Evict({"default", "web", "b"}, b.instance->create_revision,
                      "evicted: x", std::move(done));
  })));
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->Evict({"default", "web", "a"},
                              a.instance->create_revision,
                              "evicted: critical for 1m", std::move(done));
          }).ok());
  CHECK(absl::IsNotFound(
      f.registry->GetInstance(InstanceKey{"default", "web", "a"}).status()));
  auto events =
      f.registry->ListEvents(InstanceKey{"default", "web", "a"}, 0, 100);
  REQUIRE(events.ok());
  REQUIRE(events->events.size() == 2);
  CHECK(events->events[1].cause == EventCause::kEvicted);
  CHECK(events->events[1].reason == "evicted: critical for 1m");
}

TEST_CASE("a subscriber gets every current target, then every change",
          "[registry]") {
  Fixture f;
  f.Register(MakeInstance("a"));
  RecordingListener listener;
  f.registry->Subscribe(&listener);
  CHECK(listener.Log() == std::vector<std::string>{"upsert a passing"});
  auto b = f.Register(MakeInstance("b", CheckKind::kTtl));
  REQUIRE(f.registry
              ->Heartbeat(InstanceKey{"default", "web", "b"},
                          b.instance->create_revision)
              .ok());
  auto gone = Await<uint64_t>([&](auto done) {
    f.registry->Deregister(InstanceKey{"default", "web", "a"}, 0,
                           std::move(done));
  });
  REQUIRE(gone.ok());
  f.registry->Unsubscribe(&listener);
  f.Register(MakeInstance("c"));
  CHECK(listener.Log() == std::vector<std::string>{"upsert a passing",
                                                   "upsert b starting",
                                                   "heartbeat b", "removed a"});
}

TEST_CASE("a watcher that falls behind is cut off without slowing writers",
          "[registry][watch]") {
  Registry::Options options;
  options.watch.buffer_events = 5;
  Fixture f(options);
  int wakes = 0;
  auto watcher = f.registry->watch_hub().Open(WatchSpec{"default", "", 0},
                                              [&] { ++wakes; });
  REQUIRE(watcher.ok());
  for (int i = 0; i < 5; ++i) f.Register(MakeInstance("i" + std::to_string(i)));
  CHECK(f.registry->watch_hub().WatcherCount() == 1);
  f.Register(MakeInstance("overflow"));  // the sixth unread event
  CHECK(f.registry->watch_hub().WatcherCount() == 0);
  WatchBatch batch;
  absl::Status end;
  // An overflow ends the stream at once, before anything queued; the
  // client lists again.
  CHECK((*watcher)->Next(&batch, &end) == Watcher::Poll::kEnded);
  CHECK(absl::IsResourceExhausted(end));
  CHECK(wakes > 0);
  f.registry->watch_hub().Close(*watcher);
}

TEST_CASE("a watcher that keeps up gets snapshot, end, then events in order",
          "[registry][watch]") {
  Fixture f;
  f.Register(MakeInstance("a"));
  auto watcher =
      f.registry->watch_hub().Open(WatchSpec{"default", "web", 0}, [] {});
  REQUIRE(watcher.ok());
  WatchBatch batch;
  absl::Status end;
  REQUIRE((*watcher)->Next(&batch, &end) == Watcher::Poll::kBatch);
  CHECK(batch.kind == WatchBatch::Kind::kSnapshot);
  CHECK(batch.events.size() == 1);
  REQUIRE((*watcher)->Next(&batch, &end) == Watcher::Poll::kBatch);
  CHECK(batch.kind == WatchBatch::Kind::kSnapshotEnd);
  CHECK((*watcher)->Next(&batch, &end) == Watcher::Poll::kIdle);
  auto b = f.Register(MakeInstance("b"));
  auto c = f.Register(MakeInstance("c"));
  REQUIRE((*watcher)->Next(&batch, &end) == Watcher::Poll::kBatch);
  REQUIRE(batch.events.size() == 2);  // a lagging watcher gets a batch
  CHECK(batch.events[0].revision == b.revision);
  CHECK(batch.events[1].revision == c.revision);
  CHECK(batch.revision == c.revision);
  f.registry->watch_hub().Close(*watcher);
}

}  // namespace muster::registry
