// The registry core on a MemoryStore and a FakeClock: commit semantics,
// store failures, verdicts from the checker, the target feed, the façade's
// parts (realms, change log, shutdown, Submit) and the watch hub's
// bounded buffers.

#include "registry/registry.h"

#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "healthchecker/health_checker.h"
#include "registry/submit.h"
#include "store/memory/memory_store.h"
#include "tests/support/await.h"
#include "tests/support/fake_clock.h"
#include "tests/unit/healthchecker/fakes.h"

namespace muster::registry {
namespace {

using muster::testing::Await;
using muster::testing::AwaitStatus;

using muster::testing::FakeClock;

Instance MakeInstance(const std::string& id,
                      CheckKind kind = CheckKind::kNone) {
  Instance instance;
  instance.service = "web";
  instance.id = id;
  instance.address = "10.0.0.1";
  instance.port = 80;
  instance.mutable_check()->kind = kind;
  if (kind == CheckKind::kTtl)
    instance.mutable_check()->ttl = absl::Seconds(10);
  return instance;
}

struct Fixture {
  explicit Fixture(Registry::Options options = {}) {
    auto created = Registry::Create(std::move(options), store, clock, metrics);
    REQUIRE(created.ok());
    registry = std::move(created).value();
    REQUIRE(registry->Start().ok());
  }
  Instances::RegisterResult Register(const Instance& instance) {
    auto result = Await<Instances::RegisterResult>([&](auto done) {
      registry->instances().Register("default", instance, "tester",
                                     std::move(done));
    });
    INFO(result.status().ToString());
    REQUIRE(result.ok());
    return *result;
  }

  absl::StatusOr<std::shared_ptr<const Instance>> Heartbeat(
      const std::string& id, uint64_t incarnation) {
    return Await<std::shared_ptr<const Instance>>([&](auto done) {
      registry->instances().Heartbeat(InstanceKey{"default", "web", id},
                                      incarnation, "tester", std::move(done));
    });
  }

  uint64_t Revision() { return Stats().revision; }
  ChangeLog::Stats Stats() { return registry->change_log().GetStats(); }

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
  std::vector<std::string> log ABSL_GUARDED_BY(mu);
};

}  // namespace

TEST_CASE("a failed store write returns UNAVAILABLE and changes nothing",
          "[registry]") {
  Fixture f;
  f.Register(MakeInstance("a"));
  const uint64_t revision = f.Revision();
  f.store.TEST_FailCommits(true);
  auto failed = Await<Instances::RegisterResult>([&](auto done) {
    f.registry->instances().Register("default", MakeInstance("b"), "tester",
                                     std::move(done));
  });
  CHECK(absl::IsUnavailable(failed.status()));
  CHECK(f.Revision() == revision);
  CHECK(absl::IsNotFound(f.registry->instances()
                             .Get(InstanceKey{"default", "web", "b"})
                             .status()));
  // Reads keep working.
  CHECK(f.registry->instances().Get(InstanceKey{"default", "web", "a"}).ok());
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
  auto heartbeat = f.Heartbeat("a", first.instance->create_revision);
  REQUIRE(heartbeat.ok());
  healthchecker::HealthDetail detail =
      f.registry->instances().HealthDetailOf(*first.instance);
  REQUIRE(detail.last_heartbeat_at.has_value());
  CHECK(*detail.last_heartbeat_at == t0 + absl::Minutes(5));
}

TEST_CASE("health reports commit only changes and check the incarnation",
          "[registry]") {
  Fixture f;
  auto registered = f.Register(MakeInstance("a", CheckKind::kTtl));
  const uint64_t incarnation = registered.instance->create_revision;
  healthchecker::TargetKey key{"default", "web", "a"};
  const uint64_t before = f.Revision();
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->checker_bridge().ReportHealth(
                key, incarnation, Health::kCritical, "ttl expired",
                std::move(done));
          }).ok());
  CHECK(f.Revision() == before + 1);
  // Same health, different output: nothing written.
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->checker_bridge().ReportHealth(
                key, incarnation, Health::kCritical, "still expired",
                std::move(done));
          }).ok());
  CHECK(f.Revision() == before + 1);
  auto stored = f.registry->instances().Get(InstanceKey{"default", "web", "a"});
  REQUIRE(stored.ok());
  CHECK((*stored)->health == Health::kCritical);
  CHECK((*stored)->check_output() == "ttl expired");
  // Output is capped at 4 KiB.
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->checker_bridge().ReportHealth(
                key, incarnation, Health::kPassing, std::string(10000, 'x'),
                std::move(done));
          }).ok());
  stored = f.registry->instances().Get(InstanceKey{"default", "web", "a"});
  CHECK((*stored)->check_output().size() == limits::kMaxCheckOutputBytes);

  CHECK(absl::IsFailedPrecondition(AwaitStatus([&](auto done) {
    f.registry->checker_bridge().ReportHealth(
        key, incarnation + 100, Health::kCritical, "", std::move(done));
  })));
}

TEST_CASE("eviction deletes with a reason but never a draining instance",
          "[registry]") {
  Fixture f;
  auto a = f.Register(MakeInstance("a", CheckKind::kTtl));
  auto b = f.Register(MakeInstance("b", CheckKind::kTtl));
  auto drained = Await<std::shared_ptr<const Instance>>([&](auto done) {
    f.registry->instances().SetAdminState(InstanceKey{"default", "web", "b"},
                                          AdminState::kDraining, "deploy",
                                          "tester", std::move(done));
  });
  REQUIRE(drained.ok());
  CHECK(absl::IsFailedPrecondition(AwaitStatus([&](auto done) {
    f.registry->checker_bridge().Evict({"default", "web", "b"},
                                       b.instance->create_revision,
                                       "evicted: x", std::move(done));
  })));
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->checker_bridge().Evict(
                {"default", "web", "a"}, a.instance->create_revision,
                "evicted: critical for 1m", std::move(done));
          }).ok());
  CHECK(absl::IsNotFound(f.registry->instances()
                             .Get(InstanceKey{"default", "web", "a"})
                             .status()));
  ChangeLog::EventsQuery query;
  query.filter = InstanceKey{"default", "web", "a"};
  query.limit = 100;
  auto events = f.registry->change_log().ListEvents(query);
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
  f.registry->checker_bridge().Subscribe(&listener);
  CHECK(listener.Log() == std::vector<std::string>{"upsert a passing"});
  auto b = f.Register(MakeInstance("b", CheckKind::kTtl));
  // With a subscriber (a checker) a heartbeat of a STARTING TTL instance
  // commits PASSING: the subscriber sees that change too.
  REQUIRE(f.Heartbeat("b", b.instance->create_revision).ok());
  auto gone = Await<uint64_t>([&](auto done) {
    f.registry->instances().Deregister(InstanceKey{"default", "web", "a"}, 0,
                                       "tester", std::move(done));
  });
  REQUIRE(gone.ok());
  f.registry->checker_bridge().Unsubscribe(&listener);
  f.Register(MakeInstance("c"));
  CHECK(listener.Log() == std::vector<std::string>{
                              "upsert a passing", "upsert b starting",
                              "heartbeat b", "upsert b passing", "removed a"});
}

TEST_CASE("a watcher that falls behind is cut off without slowing writers",
          "[registry][watch]") {
  Registry::Options options;
  options.watch.buffer_events = 5;
  Fixture f(options);
  int wakes = 0;
  auto watcher = f.registry->change_log().OpenWatch(WatchSpec{"default", "", 0},
                                                    [&] { ++wakes; });
  REQUIRE(watcher.ok());
  for (int i = 0; i < 5; ++i) f.Register(MakeInstance("i" + std::to_string(i)));
  CHECK(f.Stats().watchers == 1);
  f.Register(MakeInstance("overflow"));  // the sixth unread event
  CHECK(f.Stats().watchers == 0);
  WatchBatch batch;
  absl::Status end;
  // An overflow ends the stream at once, before anything queued; the
  // client lists again.
  CHECK((*watcher)->Next(&batch, &end) == Watcher::Poll::kEnded);
  CHECK(absl::IsResourceExhausted(end));
  CHECK(wakes > 0);
  f.registry->change_log().CloseWatch(*watcher);
}

TEST_CASE("a watcher that keeps up gets snapshot, end, then events in order",
          "[registry][watch]") {
  Fixture f;
  f.Register(MakeInstance("a"));
  auto watcher =
      f.registry->change_log().OpenWatch(WatchSpec{"default", "web", 0}, [] {});
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
  f.registry->change_log().CloseWatch(*watcher);
}

}  // namespace muster::registry

namespace muster::registry {
namespace {

// An instance whose events encode to about a kilobyte.
Instance LargeInstance(const std::string& id) {
  Instance instance = MakeInstance(id);
  instance.metadata.emplace_back("blob1", std::string(500, 'x'));
  instance.metadata.emplace_back("blob2", std::string(500, 'x'));
  return instance;
}

// Opens a watcher of realm "default" past its (empty-realm) snapshot.
std::shared_ptr<Watcher> OpenLive(Fixture& f) {
  auto watcher =
      f.registry->change_log().OpenWatch(WatchSpec{"default", "", 0}, [] {});
  REQUIRE(watcher.ok());
  WatchBatch batch;
  absl::Status end;
  REQUIRE((*watcher)->Next(&batch, &end) == Watcher::Poll::kBatch);
  REQUIRE(batch.kind == WatchBatch::Kind::kSnapshotEnd);
  return *watcher;
}

}  // namespace

TEST_CASE(
    "a watcher holding more bytes than its budget is cut off before "
    "its event count",
    "[registry][watch]") {
  Registry::Options options;
  options.watch.buffer_bytes = 4096;
  Fixture f(options);
  ChangeLog& log = f.registry->change_log();
  std::shared_ptr<Watcher> watcher = OpenLive(f);
  f.Register(LargeInstance("a"));
  f.Register(LargeInstance("b"));
  const size_t two = watcher->HeldBytes();
  CHECK(two > 2000);
  CHECK(two <= 4096);
  CHECK(f.Stats().held_bytes == two);
  for (int i = 0; i < 4; ++i)
    f.Register(LargeInstance("c" + std::to_string(i)));
  // Six events are far below the 10,000-event count, not below 4 KiB.
  CHECK(f.Stats().watchers == 0);
  WatchBatch batch;
  absl::Status end;
  CHECK(watcher->Next(&batch, &end) == Watcher::Poll::kEnded);
  CHECK(absl::IsResourceExhausted(end));
  CHECK_THAT(std::string(end.message()), Catch::Contains("4096 bytes"));
  // What it queued was let go at the cut-off.
  CHECK(watcher->HeldBytes() == 0);
  CHECK(f.Stats().held_bytes == 0);
  log.CloseWatch(watcher);
  watcher.reset();
  CHECK(f.Stats().open_streams == 0);
}

TEST_CASE(
    "the message a stream is writing counts against the budget until "
    "it is sent",
    "[registry][watch]") {
  Registry::Options options;
  options.watch.buffer_bytes = 4096;
  Fixture f(options);
  ChangeLog& log = f.registry->change_log();
  std::shared_ptr<Watcher> watcher = OpenLive(f);
  f.Register(LargeInstance("a"));
  const size_t one = watcher->HeldBytes();
  WatchBatch batch;
  absl::Status end;
  REQUIRE(watcher->Next(&batch, &end) == Watcher::Poll::kBatch);
  // Off the queue and into the stream: still held, until written.
  CHECK(batch.bytes == one);
  CHECK(watcher->HeldBytes() == one);
  CHECK(f.Stats().held_bytes == one);
  watcher->Sent();
  CHECK(watcher->HeldBytes() == 0);
  CHECK(f.Stats().held_bytes == 0);

  // A stream stuck on an unsent message is cut off by the next events.
  watcher->SetInFlightBytes(4000);
  f.Register(LargeInstance("b"));
  CHECK(watcher->Next(&batch, &end) == Watcher::Poll::kEnded);
  CHECK(absl::IsResourceExhausted(end));
  CHECK(!watcher->EndStatus().ok());
  // The unsent message stays counted until the stream lets it go.
  CHECK(f.Stats().held_bytes == 4000);
  log.CloseWatch(watcher);
  watcher.reset();
  CHECK(f.Stats().held_bytes == 0);
}

TEST_CASE("a live message is bounded by bytes and carries at least one event",
          "[registry][watch]") {
  Registry::Options options;
  options.watch.max_message_bytes = 2500;
  Fixture f(options);
  std::shared_ptr<Watcher> watcher = OpenLive(f);
  std::vector<uint64_t> revisions;
  for (int i = 0; i < 10; ++i)
    revisions.push_back(
        f.Register(LargeInstance("i" + std::to_string(i))).revision);
  std::vector<uint64_t> seen;
  WatchBatch batch;
  absl::Status end;
  size_t messages = 0;
  while (watcher->Next(&batch, &end) == Watcher::Poll::kBatch) {
    ++messages;
    CHECK(!batch.events.empty());
    CHECK(batch.events.size() <= 2);  // about 1 KiB each, 2500 bytes a message
    for (const Event& event : batch.events) seen.push_back(event.revision);
  }
  CHECK(messages >= 5);
  CHECK(seen == revisions);

  // An event larger than the bound still goes out, alone.
  Instance huge = MakeInstance("huge");
  for (int i = 0; i < 10; ++i)
    huge.metadata.emplace_back("blob" + std::to_string(i),
                               std::string(500, 'y'));
  f.Register(huge);
  REQUIRE(watcher->Next(&batch, &end) == Watcher::Poll::kBatch);
  CHECK(batch.events.size() == 1);
  f.registry->change_log().CloseWatch(watcher);
}

TEST_CASE(
    "over the total limit only watchers holding more than their share "
    "are cut off",
    "[registry][watch]") {
  Registry::Options options;
  options.watch.buffer_bytes = 64 * 1024;
  options.watch.memory_limit_bytes = 8 * 1024;
  Fixture f(options);
  ChangeLog& log = f.registry->change_log();
  std::shared_ptr<Watcher> reader = OpenLive(f);
  std::shared_ptr<Watcher> laggard = OpenLive(f);
  WatchBatch batch;
  absl::Status end;
  size_t read = 0;
  for (int i = 0; i < 20; ++i) {
    f.Register(LargeInstance("i" + std::to_string(i)));
    // The reader keeps up: takes each event and "sends" it.
    while (reader->Next(&batch, &end) == Watcher::Poll::kBatch) {
      read += batch.events.size();
      reader->Sent();
    }
  }
  CHECK(read == 20);
  CHECK(reader->EndStatus().ok());
  CHECK(laggard->Next(&batch, &end) == Watcher::Poll::kEnded);
  CHECK(absl::IsResourceExhausted(end));
  CHECK_THAT(std::string(end.message()), Catch::Contains("share"));
  CHECK(f.Stats().watchers == 1);
  CHECK(f.Stats().held_bytes <= 8 * 1024);
  log.CloseWatch(reader);
  log.CloseWatch(laggard);
}

TEST_CASE("realms: create, list with counts, and delete with or without force",
          "[registry][realms]") {
  Fixture f;
  Realm prod;
  prod.name = "prod";
  auto created = Await<Realm>([&](auto done) {
    f.registry->realms().Create(prod, "tester", std::move(done));
  });
  REQUIRE(created.ok());
  CHECK(created->create_revision == f.Revision());
  CHECK(absl::IsAlreadyExists(Await<Realm>([&](auto done) {
                                f.registry->realms().Create(prod, "tester",
                                                            std::move(done));
                              }).status()));
  auto registered = Await<Instances::RegisterResult>([&](auto done) {
    f.registry->instances().Register("prod", MakeInstance("a"), "tester",
                                     std::move(done));
  });
  REQUIRE(registered.ok());

  const Realms::Listing listing = f.registry->realms().List();
  REQUIRE(listing.realms.size() == 2);
  CHECK(listing.realms[1].realm.name == "prod");
  CHECK(listing.realms[1].instances == 1);
  CHECK(listing.realms[1].services == 1);
  const ChangeLog::Stats stats = f.Stats();
  CHECK(stats.revision == listing.revision);
  CHECK(stats.realms == 2);
  CHECK(stats.instances == 1);

  auto refused = Await<Realms::DeleteResult>([&](auto done) {
    f.registry->realms().Delete("prod", false, "tester", std::move(done));
  });
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK(absl::IsFailedPrecondition(
      Await<Realms::DeleteResult>([&](auto done) {
        f.registry->realms().Delete("default", true, "tester", std::move(done));
      }).status()));
  auto deleted = Await<Realms::DeleteResult>([&](auto done) {
    f.registry->realms().Delete("prod", true, "tester", std::move(done));
  });
  REQUIRE(deleted.ok());
  CHECK(deleted->deleted_instances == 1);
  CHECK(deleted->revision == f.Revision());
  CHECK(absl::IsNotFound(f.registry->realms().Get("prod").status()));
  CHECK(f.Stats().instances == 0);
}

TEST_CASE("a watch is validated like every read", "[registry][watch]") {
  Fixture f;
  ChangeLog& log = f.registry->change_log();
  auto bad_realm = log.OpenWatch(WatchSpec{"Prod", "", 0}, [] {});
  CHECK(absl::IsInvalidArgument(bad_realm.status()));
  CHECK_THAT(std::string(bad_realm.status().message()),
             Catch::StartsWith("realm: \"Prod\" does not match"));
  auto bad_service = log.OpenWatch(WatchSpec{"default", "web_1", 0}, [] {});
  CHECK(absl::IsInvalidArgument(bad_service.status()));
  CHECK_THAT(std::string(bad_service.status().message()),
             Catch::StartsWith("service: "));
  // The same words as ListInstances.
  ListQuery query;
  query.service = "web_1";
  CHECK(bad_service.status() == f.registry->instances().List(query).status());
  CHECK(absl::IsNotFound(
      log.OpenWatch(WatchSpec{"staging", "", 0}, [] {}).status()));
  CHECK(f.Stats().watchers == 0);

  // An empty realm is "default".
  auto watcher = log.OpenWatch(WatchSpec{"", "web", 0}, [] {});
  REQUIRE(watcher.ok());
  WatchBatch batch;
  absl::Status end;
  REQUIRE((*watcher)->Next(&batch, &end) == Watcher::Poll::kBatch);
  CHECK(batch.kind == WatchBatch::Kind::kSnapshotEnd);
  CHECK(f.Stats().watchers == 1);
  log.CloseWatch(*watcher);
}

TEST_CASE("ending the watches leaves the registry committing, Stop ends both",
          "[registry][watch]") {
  Fixture f;
  ChangeLog& log = f.registry->change_log();
  auto first = log.OpenWatch(WatchSpec{"default", "", 0}, [] {});
  REQUIRE(first.ok());
  log.EndWatches();
  WatchBatch batch;
  absl::Status end;
  CHECK((*first)->Next(&batch, &end) == Watcher::Poll::kEnded);
  CHECK(absl::IsUnavailable(end));
  CHECK(absl::IsUnavailable(
      log.OpenWatch(WatchSpec{"default", "", 0}, [] {}).status()));
  log.CloseWatch(*first);
  // Mutations still commit until Stop.
  const uint64_t revision = f.Register(MakeInstance("a")).revision;

  f.registry->Stop();
  f.registry->Stop();  // idempotent
  auto refused = Await<Instances::RegisterResult>([&](auto done) {
    f.registry->instances().Register("default", MakeInstance("b"), "tester",
                                     std::move(done));
  });
  CHECK(absl::IsUnavailable(refused.status()));
  CHECK(absl::IsUnavailable(AwaitStatus([&](auto done) {
    f.registry->checker_bridge().ReportHealth({"default", "web", "a"}, revision,
                                              Health::kCritical, "",
                                              std::move(done));
  })));
  // Reads go on.
  CHECK(f.registry->instances().Get(InstanceKey{"default", "web", "a"}).ok());
  CHECK(f.Revision() == revision);
}

TEST_CASE("Submit completes with the result, or with prepare's error alone",
          "[registry]") {
  MemoryStore store;
  FakeClock clock;
  Metrics metrics;
  Index index;
  WatchHub hub(store, index, metrics, WatchHub::Options{});
  Committer committer(store, index, hub, clock, metrics, Committer::Options{});
  auto loaded = store.Load();
  REQUIRE(loaded.ok());
  index.Load(std::move(loaded).value());
  committer.Start();

  Realm realm;
  realm.name = "prod";
  auto created = Await<uint64_t>([&](auto done) {
    Submit<uint64_t>(
        committer, CommitMode::kGrouped,
        [realm](Txn& txn, uint64_t& revision) {
          txn.PutRealm(realm);
          revision = txn.revision();
          return absl::OkStatus();
        },
        std::move(done));
  });
  REQUIRE(created.ok());
  CHECK(*created == index.revision());
  // A failed prepare writes nothing and its error is what done gets.
  auto failed = Await<uint64_t>([&](auto done) {
    Submit<uint64_t>(
        committer, CommitMode::kExclusive,
        [realm](Txn& txn, uint64_t&) {
          txn.DeleteRealm(realm.name);
          return absl::AbortedError("changed my mind");
        },
        std::move(done));
  });
  CHECK(absl::IsAborted(failed.status()));
  CHECK(index.FindRealm("prod").has_value());
  // Status-only mutations get the status.
  CHECK(AwaitStatus([&](auto done) {
          Submit<void>(
              committer, CommitMode::kGrouped,
              [](Txn&) { return absl::OkStatus(); }, std::move(done));
        }).ok());
  committer.Stop();
  bool prepared = false;
  CHECK(absl::IsUnavailable(Await<uint64_t>([&](auto done) {
                              Submit<uint64_t>(
                                  committer, CommitMode::kGrouped,
                                  [&prepared](Txn&, uint64_t&) {
                                    prepared = true;
                                    return absl::OkStatus();
                                  },
                                  std::move(done));
                            }).status()));
  CHECK(!prepared);
}

namespace {

// A real health checker on the fixture's registry and clock, with fake
// probers and its scheduler driven by hand.
std::unique_ptr<healthchecker::HealthChecker> StartChecker(Fixture& f) {
  healthchecker::HealthChecker::Options options;
  options.scheduler_thread =
      healthchecker::HealthChecker::SchedulerThread::kManual;
  healthchecker::HealthChecker::Probers probers;
  probers.http = std::make_unique<healthchecker::testing::FakeProber>();
  probers.tcp = std::make_unique<healthchecker::testing::FakeProber>();
  probers.grpc = std::make_unique<healthchecker::testing::FakeProber>();
  auto checker = healthchecker::HealthChecker::CreateWithProbers(
      options, std::move(probers), f.registry->checker_bridge(),
      f.registry->checker_bridge(), f.clock, f.metrics);
  REQUIRE(checker.ok());
  REQUIRE((*checker)->Start().ok());
  return *std::move(checker);
}

// Waits until everything queued on the committer before it has finished:
// a SetAdminState that changes nothing goes through the committer.
void AwaitCommitted(Fixture& f, const std::string& id) {
  REQUIRE(Await<std::shared_ptr<const Instance>>([&](auto done) {
            f.registry->instances().SetAdminState(
                InstanceKey{"default", "web", id}, AdminState::kEnabled, "",
                "tester", std::move(done));
          }).ok());
}

std::vector<Event> HealthChanges(Fixture& f, const std::string& id) {
  ChangeLog::EventsQuery query;
  query.filter = InstanceKey{"default", "web", id};
  query.limit = 1000;
  auto page = f.registry->change_log().ListEvents(query);
  REQUIRE(page.ok());
  std::vector<Event> changes;
  for (Event& event : page->events) {
    if (event.cause == EventCause::kHealthChanged)
      changes.push_back(std::move(event));
  }
  return changes;
}

}  // namespace

TEST_CASE("a heartbeat that revives a TTL instance commits before it answers",
          "[registry][heartbeat]") {
  Fixture f;
  std::unique_ptr<healthchecker::HealthChecker> checker = StartChecker(f);
  const auto registered = f.Register(MakeInstance("t", CheckKind::kTtl));
  const uint64_t incarnation = registered.instance->create_revision;
  REQUIRE(registered.instance->health == Health::kStarting);
  const uint64_t before = f.Revision();

  auto first = f.Heartbeat("t", incarnation);
  REQUIRE(first.ok());
  CHECK((*first)->health == Health::kPassing);
  // Already committed when the answer came.
  CHECK(f.Revision() == before + 1);
  auto stored = f.registry->instances().Get(InstanceKey{"default", "web", "t"});
  REQUIRE(stored.ok());
  CHECK((*stored)->health == Health::kPassing);
  CHECK((*stored)->check_output() == "ttl: heartbeat received");

  // The checker heard of it too and writes nothing more; a second
  // heartbeat changes nothing and writes nothing.
  AwaitCommitted(f, "t");
  auto second = f.Heartbeat("t", incarnation);
  REQUIRE(second.ok());
  CHECK((*second)->health == Health::kPassing);
  AwaitCommitted(f, "t");
  CHECK(f.Revision() == before + 1);
  std::vector<Event> changes = HealthChanges(f, "t");
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].reason == "starting -> passing: ttl: heartbeat received");

  // The TTL still runs out: silence for longer than the TTL is CRITICAL.
  for (int i = 0; i < 60; ++i) {
    f.clock.Advance(absl::Milliseconds(250));
    checker->TEST_RunDue();
  }
  AwaitCommitted(f, "t");
  stored = f.registry->instances().Get(InstanceKey{"default", "web", "t"});
  REQUIRE(stored.ok());
  CHECK((*stored)->health == Health::kCritical);

  // A heartbeat revives a CRITICAL instance the same way.
  auto revived = f.Heartbeat("t", incarnation);
  REQUIRE(revived.ok());
  CHECK((*revived)->health == Health::kPassing);
  AwaitCommitted(f, "t");
  changes = HealthChanges(f, "t");
  REQUIRE(changes.size() == 3);
  CHECK(changes[1].instance->health == Health::kCritical);
  CHECK(changes[2].instance->health == Health::kPassing);
  checker->Stop();
}

TEST_CASE("without a checker a heartbeat writes nothing and changes nothing",
          "[registry][heartbeat]") {
  Fixture f;
  const auto registered = f.Register(MakeInstance("t", CheckKind::kTtl));
  const uint64_t before = f.Revision();
  auto answer = f.Heartbeat("t", registered.instance->create_revision);
  REQUIRE(answer.ok());
  CHECK((*answer)->health == Health::kStarting);
  CHECK(f.Revision() == before);
  CHECK(absl::IsInvalidArgument(f.Heartbeat("t", 0).status()));
  CHECK(absl::IsNotFound(f.Heartbeat("nope", 5).status()));
}

TEST_CASE(
    "ListEvents pages end on revision boundaries unless one revision fills "
    "a page",
    "[registry][list_events]") {
  Fixture f;
  Realm prod;
  prod.name = "prod";
  REQUIRE(Await<Realm>([&](auto done) {
            f.registry->realms().Create(prod, "tester", std::move(done));
          }).ok());
  const auto register_in = [&](const std::string& realm,
                               const std::string& id) {
    REQUIRE(Await<Instances::RegisterResult>([&](auto done) {
              f.registry->instances().Register(realm, MakeInstance(id),
                                               "tester", std::move(done));
            }).ok());
  };
  for (const char* id : {"a", "b", "c", "d", "e"}) register_in("prod", id);
  register_in("default", "x");
  // One revision with five events.
  REQUIRE(Await<Realms::DeleteResult>([&](auto done) {
            f.registry->realms().Delete("prod", true, "tester",
                                        std::move(done));
          }).ok());
  REQUIRE(Await<Realm>([&](auto done) {
            f.registry->realms().Create(prod, "tester", std::move(done));
          }).ok());
  register_in("prod", "f");
  const std::vector<std::string> expected = {
      "put a",    "put b",    "put c",    "put d",    "put e", "delete a",
      "delete b", "delete c", "delete d", "delete e", "put f"};

  for (uint32_t limit = 1; limit <= 12; ++limit) {
    INFO("limit " << limit);
    ChangeLog::EventsQuery query;
    query.filter.realm = "prod";
    query.limit = limit;
    std::vector<std::string> seen;
    for (int pages = 0; pages < 20; ++pages) {
      auto page = f.registry->change_log().ListEvents(query);
      REQUIRE(page.ok());
      REQUIRE_FALSE(page->events.empty());
      CHECK(page->events.size() <= limit);
      for (const Event& event : page->events) {
        seen.push_back((event.type == EventType::kPut ? "put " : "delete ") +
                       event.instance->id);
      }
      if (page->next_revision == 0) break;
      if (page->next_event_index != 0) {
        // Inside a revision only when that revision is the whole page.
        CHECK(page->events.front().revision == page->next_revision);
        CHECK(page->events.back().revision == page->next_revision);
      } else {
        CHECK(page->events.back().revision < page->next_revision);
      }
      query.from_revision = page->next_revision;
      query.from_event_index = page->next_event_index;
    }
    CHECK(seen == expected);
  }

  ChangeLog::EventsQuery bad;
  bad.filter.realm = "prod";
  bad.from_event_index = 2;
  auto refused = f.registry->change_log().ListEvents(bad);
  CHECK(absl::IsInvalidArgument(refused.status()));
  CHECK_THAT(std::string(refused.status().message()),
             Catch::StartsWith("from_event_index: "));
}

}  // namespace muster::registry

namespace muster::registry {
namespace {

std::vector<std::string> ActorsOf(Fixture& f, const InstanceKey& key) {
  ChangeLog::EventsQuery query;
  query.filter = key;
  query.limit = 100;
  auto page = f.registry->change_log().ListEvents(query);
  REQUIRE(page.ok());
  std::vector<std::string> actors;
  for (const Event& event : page->events) {
    actors.push_back(
        absl::StrCat(EventCauseName(event.cause), " by ", event.actor));
  }
  return actors;
}

}  // namespace

TEST_CASE("every change records the actor that made it", "[registry][audit]") {
  Fixture f;
  CHECK(f.registry->realms().Get("default")->modified_by == "musterd");
  Realm prod;
  prod.name = "prod";
  REQUIRE(Await<Realm>([&](auto done) {
            f.registry->realms().Create(prod, "token:admin", std::move(done));
          }).ok());
  Realms::SettingsUpdate update;
  update.name = "prod";
  update.description = "production";
  REQUIRE(Await<Realm>([&](auto done) {
            f.registry->realms().Update(update, "cert:CN=ops", std::move(done));
          }).ok());
  CHECK(f.registry->realms().Get("prod")->modified_by == "cert:CN=ops");

  const InstanceKey a{"prod", "web", "a"};
  auto registered = Await<Instances::RegisterResult>([&](auto done) {
    f.registry->instances().Register("prod", MakeInstance("a", CheckKind::kTtl),
                                     "token:web", std::move(done));
  });
  REQUIRE(registered.ok());
  const uint64_t incarnation = registered->instance->create_revision;
  REQUIRE(Await<std::shared_ptr<const Instance>>([&](auto done) {
            f.registry->instances().SetAdminState(a, AdminState::kDraining,
                                                  "deploy", "token:ops",
                                                  std::move(done));
          }).ok());
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->checker_bridge().ReportHealth(
                {"prod", "web", "a"}, incarnation, Health::kCritical,
                "ttl expired", std::move(done));
          }).ok());
  REQUIRE(Await<uint64_t>([&](auto done) {
            f.registry->instances().Deregister(a, 0, "token:web",
                                               std::move(done));
          }).ok());
  CHECK(ActorsOf(f, a) ==
        std::vector<std::string>{
            "registered by token:web", "admin-changed by token:ops",
            "health-changed by health-checker", "deregistered by token:web"});

  const InstanceKey b{"prod", "web", "b"};
  auto evicted = Await<Instances::RegisterResult>([&](auto done) {
    f.registry->instances().Register("prod", MakeInstance("b", CheckKind::kTtl),
                                     "token:web", std::move(done));
  });
  REQUIRE(evicted.ok());
  REQUIRE(AwaitStatus([&](auto done) {
            f.registry->checker_bridge().Evict(
                {"prod", "web", "b"}, evicted->instance->create_revision,
                "evicted: critical for 1m", std::move(done));
          }).ok());
  const InstanceKey c{"prod", "web", "c"};
  REQUIRE(Await<Instances::RegisterResult>([&](auto done) {
            f.registry->instances().Register("prod", MakeInstance("c"),
                                             "token:web", std::move(done));
          }).ok());
  REQUIRE(Await<Realms::DeleteResult>([&](auto done) {
            f.registry->realms().Delete("prod", true, "token:admin",
                                        std::move(done));
          }).ok());
  // The log of a deleted realm is read once a realm of that name exists.
  REQUIRE(Await<Realm>([&](auto done) {
            f.registry->realms().Create(prod, "token:admin", std::move(done));
          }).ok());
  CHECK(ActorsOf(f, b) ==
        std::vector<std::string>{"registered by token:web",
                                 "evicted by health-checker"});
  CHECK(ActorsOf(f, c) ==
        std::vector<std::string>{"registered by token:web",
                                 "realm-deleted by token:admin"});
}

}  // namespace muster::registry
