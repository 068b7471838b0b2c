// The replicated registry: several Registry replicas in one process, each
// on its own EtcdStore, over one real etcd member (testkit/etcd_cluster.h).
// What the daemons rely on: one revision order for every replica, writes
// compared on what they read, the incarnation fence across replicas,
// fenced verdicts, ownership, history from etcd, and eviction protection
// over the whole realm.

#include "store/etcd/etcd_store.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "registry/registry.h"
#include "testkit/etcd_cluster.h"
#include "tests/support/await.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::registry {
namespace {

using muster::testing::Await;
using muster::testing::AwaitStatus;
using muster::testing::EtcdCluster;
using muster::testing::Eventually;
using muster::testing::TempDir;

// One replica: its store, metrics and registry.
struct Replica {
  Metrics metrics;
  std::unique_ptr<EtcdStore> store;
  std::unique_ptr<Registry> registry;
};

class Cluster {
 public:
  Cluster() {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> started =
        EtcdCluster::Start(1, dir_.path());
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    etcd_ = *std::move(started);
  }
  ~Cluster() {
    for (auto& replica : replicas_) replica->registry->Stop();
  }

  Replica& Add(const std::string& id, double protection_share = 0.5) {
    auto replica = std::make_unique<Replica>();
    EtcdStore::Options options;
    options.client.endpoints = etcd_->endpoints();
    options.client.call_timeout = absl::Seconds(5);
    options.replica_id = id;
    options.advertise_address = "127.0.0.1:1";
    options.lease_ttl = absl::Seconds(2);
    absl::StatusOr<std::unique_ptr<EtcdStore>> store =
        EtcdStore::Open(std::move(options));
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    replica->store = *std::move(store);
    Registry::Options registry_options;
    registry_options.eviction_protection_share = protection_share;
    absl::StatusOr<std::unique_ptr<Registry>> registry =
        Registry::Create(std::move(registry_options), *replica->store,
                         Clock::Real(), replica->metrics);
    INFO(registry.status().ToString());
    REQUIRE(registry.ok());
    replica->registry = *std::move(registry);
    REQUIRE(replica->registry->Start().ok());
    replicas_.push_back(std::move(replica));
    return *replicas_.back();
  }

  EtcdCluster& etcd() { return *etcd_; }

 private:
  TempDir dir_;
  std::unique_ptr<EtcdCluster> etcd_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

Instance Web(const std::string& id, const std::string& address = "10.0.0.1") {
  Instance instance;
  instance.service = "web";
  instance.id = id;
  instance.address = address;
  instance.port = 8080;
  return instance;
}

absl::StatusOr<Instances::RegisterResult> Register(Replica& replica,
                                                   Instance instance) {
  return Await<Instances::RegisterResult>([&](auto done) {
    replica.registry->instances().Register("default", std::move(instance),
                                           "test", std::move(done));
  });
}

// Waits until the replica has applied `revision`.
bool Reaches(Replica& replica, uint64_t revision) {
  return AwaitStatus([&](auto done) {
           replica.registry->WhenApplied(
               revision, absl::Now() + absl::Seconds(10), std::move(done));
         })
      .ok();
}

std::vector<std::string> EventLines(Replica& replica) {
  ChangeLog::EventsQuery query;
  query.filter.realm = "default";
  query.limit = 1000;
  absl::StatusOr<ChangeLog::EventsPage> page =
      replica.registry->change_log().ListEvents(query);
  INFO(page.status().ToString());
  REQUIRE(page.ok());
  std::vector<std::string> lines;
  for (const Event& event : page->events) {
    lines.push_back(absl::StrCat(
        event.revision, " ", EventCauseName(event.cause), " ",
        event.instance->Key().ToString(), " ", event.instance->create_revision,
        " ", event.instance->modify_revision));
  }
  return lines;
}

TEST_CASE("replicas on one etcd see the same revisions, records and events",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  Replica& b = cluster.Add("b");

  absl::StatusOr<Instances::RegisterResult> created = Register(a, Web("w1"));
  REQUIRE(created.ok());
  // The result carries etcd's revision, not a placeholder.
  CHECK(created->revision < kPendingRevision);
  CHECK(created->instance->create_revision == created->revision);
  CHECK(created->instance->modify_revision == created->revision);

  REQUIRE(Reaches(b, created->revision));
  absl::StatusOr<std::shared_ptr<const Instance>> seen =
      b.registry->instances().Get({"default", "web", "w1"});
  REQUIRE(seen.ok());
  CHECK((*seen)->create_revision == created->revision);
  CHECK((*seen)->address == "10.0.0.1");

  // An update on the other replica keeps the incarnation.
  absl::StatusOr<Instances::RegisterResult> updated =
      Register(b, Web("w1", "10.0.0.2"));
  REQUIRE(updated.ok());
  CHECK_FALSE(updated->created);
  CHECK(updated->revision > created->revision);
  CHECK(updated->instance->create_revision == created->revision);
  REQUIRE(Reaches(a, updated->revision));
  CHECK(
      a.registry->instances().Get({"default", "web", "w1"}).value()->address ==
      "10.0.0.2");

  // The same events at the same revisions on both, from the change log.
  const std::vector<std::string> on_a = EventLines(a);
  CHECK(on_a == EventLines(b));
  REQUIRE(on_a.size() == 2);
  CHECK(on_a[0] == absl::StrCat(created->revision,
                                " registered default/web/w1 ",
                                created->revision, " ", created->revision));
}

TEST_CASE("writes to the same records from two replicas are serialized",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  Replica& b = cluster.Add("b");
  REQUIRE(Register(a, Web("w1")).ok());

  // Both replicas flip the same instance's admin state as fast as they
  // can: every write is prepared against what its replica last applied,
  // so a stale one loses in etcd and is prepared again.
  std::atomic<int> failures{0};
  auto flip = [&](Replica& replica, const std::string& reason) {
    for (int i = 0; i < 40; ++i) {
      absl::StatusOr<std::shared_ptr<const Instance>> result =
          Await<std::shared_ptr<const Instance>>([&](auto done) {
            replica.registry->instances().SetAdminState(
                {"default", "web", "w1"},
                i % 2 == 0 ? AdminState::kDraining : AdminState::kEnabled,
                absl::StrCat(reason, i), "test", std::move(done));
          });
      if (!result.ok()) {
        ++failures;
        UNSCOPED_INFO(result.status().ToString());
      }
    }
  };
  std::thread flip_a([&] { flip(a, "a"); });
  std::thread flip_b([&] { flip(b, "b"); });
  flip_a.join();
  flip_b.join();
  CHECK(failures == 0);
  const uint64_t conflicts =
      a.metrics.GetCounter("muster_commit_conflicts_total", "").Value() +
      b.metrics.GetCounter("muster_commit_conflicts_total", "").Value();
  INFO("conflicts " << conflicts);
  CHECK(conflicts > 0);

  // 80 writes, 80 events after the registration, in one order on both.
  const uint64_t last = std::max(a.registry->change_log().GetStats().revision,
                                 b.registry->change_log().GetStats().revision);
  REQUIRE(Reaches(a, last));
  REQUIRE(Reaches(b, last));
  const std::vector<std::string> on_a = EventLines(a);
  CHECK(on_a == EventLines(b));
  CHECK(on_a.size() == 81);
  std::set<std::string> revisions;
  for (const std::string& line : on_a)
    revisions.insert(line.substr(0, line.find(' ')));
  CHECK(revisions.size() == on_a.size());
}

TEST_CASE("two replicas racing to register the same instance both succeed",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  Replica& b = cluster.Add("b");
  // Each registration changes the address, so every one writes; the
  // loser of a race is prepared again from its request, which must still
  // be whole.
  std::atomic<int> failures{0};
  auto race = [&](Replica& replica, const std::string& prefix) {
    for (int i = 0; i < 30; ++i) {
      absl::StatusOr<Instances::RegisterResult> result =
          Register(replica, Web("w1", absl::StrCat(prefix, i % 200)));
      if (!result.ok()) {
        ++failures;
        UNSCOPED_INFO(result.status().ToString());
      }
    }
  };
  std::thread on_a([&] { race(a, "10.1.0."); });
  std::thread on_b([&] { race(b, "10.2.0."); });
  on_a.join();
  on_b.join();
  CHECK(failures == 0);
  CHECK(a.metrics.GetCounter("muster_commit_conflicts_total", "").Value() +
            b.metrics.GetCounter("muster_commit_conflicts_total", "").Value() >
        0);
  // One incarnation throughout.
  const std::vector<std::string> lines = EventLines(a);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.front().find(" registered ") != std::string::npos);
}

TEST_CASE("the incarnation fences a stale deregistration on any replica",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  Replica& b = cluster.Add("b");
  absl::StatusOr<Instances::RegisterResult> first = Register(a, Web("w1"));
  REQUIRE(first.ok());
  REQUIRE(Reaches(b, first->revision));
  absl::StatusOr<uint64_t> gone = Await<uint64_t>([&](auto done) {
    b.registry->instances().Deregister({"default", "web", "w1"},
                                       first->instance->create_revision, "test",
                                       std::move(done));
  });
  REQUIRE(gone.ok());
  CHECK(*gone > first->revision);
  absl::StatusOr<Instances::RegisterResult> second = Register(a, Web("w1"));
  REQUIRE(second.ok());
  CHECK(second->created);
  CHECK(second->instance->create_revision > first->instance->create_revision);
  REQUIRE(Reaches(b, second->revision));
  absl::StatusOr<uint64_t> stale = Await<uint64_t>([&](auto done) {
    b.registry->instances().Deregister({"default", "web", "w1"},
                                       first->instance->create_revision, "test",
                                       std::move(done));
  });
  CHECK(absl::IsFailedPrecondition(stale.status()));
  CHECK(a.registry->instances().Get({"default", "web", "w1"}).ok());
}

TEST_CASE("an answer read from a stale view is confirmed with etcd first",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  Replica& b = cluster.Add("b");
  for (int i = 0; i < 20; ++i) {
    // Written on a, then at once changed on b, which may not have the
    // registration yet: b's NOT_FOUND would be stale, so it checks with
    // etcd, catches up and deregisters.
    absl::StatusOr<Instances::RegisterResult> created =
        Register(a, Web(absl::StrCat("w", i)));
    REQUIRE(created.ok());
    absl::StatusOr<uint64_t> gone = Await<uint64_t>([&](auto done) {
      b.registry->instances().Deregister(
          {"default", "web", absl::StrCat("w", i)}, 0, "test", std::move(done));
    });
    INFO(gone.status().ToString());
    REQUIRE(gone.ok());
    CHECK(*gone > created->revision);
  }
  // Some of those were stale on b (how many depends on timing).
  WARN("b prepared again "
       << b.metrics.GetCounter("muster_commit_conflicts_total", "").Value()
       << " times");
  // A genuine NOT_FOUND stays one.
  absl::StatusOr<uint64_t> missing = Await<uint64_t>([&](auto done) {
    b.registry->instances().Deregister({"default", "web", "never"}, 0, "test",
                                       std::move(done));
  });
  CHECK(absl::IsNotFound(missing.status()));
}

TEST_CASE("each instance has exactly one owner among the live replicas",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  Replica& b = cluster.Add("b");
  Replica& c = cluster.Add("c");
  std::vector<Replica*> all = {&a, &b, &c};
  for (Replica* replica : all) {
    REQUIRE(Eventually([&] {
      return replica->store->GetStatus().replicas.size() == 3 &&
             replica->registry->checker_bridge()
                 .OwnerOf({"default", "web", "x"})
                 .has_value();
    }));
  }
  int owned[3] = {0, 0, 0};
  for (int i = 0; i < 300; ++i) {
    const InstanceKey key{"default", "web", absl::StrCat("i", i)};
    int owners = 0;
    for (int r = 0; r < 3; ++r) {
      if (all[r]->registry->checker_bridge().Owns(key)) {
        ++owners;
        ++owned[r];
      }
    }
    REQUIRE(owners == 1);
    // Every replica names the same owner.
    CHECK(a.registry->checker_bridge().OwnerOf(key)->id ==
          c.registry->checker_bridge().OwnerOf(key)->id);
  }
  // Rendezvous hashing spreads them (each gets a fair part of 300).
  for (int count : owned) CHECK(count > 50);

  // When c leaves, its instances go to a and b; theirs stay where they are.
  std::vector<std::string> before;
  for (int i = 0; i < 300; ++i) {
    before.push_back(a.registry->checker_bridge()
                         .OwnerOf({"default", "web", absl::StrCat("i", i)})
                         ->id);
  }
  c.store->Leave();
  REQUIRE(Eventually([&] {
    return a.store->GetStatus().replicas.size() == 2 &&
           b.store->GetStatus().replicas.size() == 2 &&
           a.registry->checker_bridge().OwnerOf({"default", "web", "i0"})->id !=
               "c";
  }));
  for (int i = 0; i < 300; ++i) {
    const std::string owner =
        a.registry->checker_bridge()
            .OwnerOf({"default", "web", absl::StrCat("i", i)})
            ->id;
    CHECK(owner != "c");
    if (before[i] != "c") CHECK(owner == before[i]);
  }
}

TEST_CASE("a replica that left cannot write a verdict, a member can",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  Replica& b = cluster.Add("b");
  Instance checked = Web("w1");
  checked.mutable_check()->kind = CheckKind::kTtl;
  checked.mutable_check()->ttl = absl::Seconds(30);
  absl::StatusOr<Instances::RegisterResult> created = Register(a, checked);
  REQUIRE(created.ok());
  REQUIRE(Reaches(b, created->revision));
  const uint64_t incarnation = created->instance->create_revision;

  a.store->Leave();
  absl::Status refused = AwaitStatus([&](auto done) {
    a.registry->checker_bridge().ReportHealth({"default", "web", "w1"},
                                              incarnation, Health::kCritical,
                                              "from a", std::move(done));
  });
  INFO(refused.ToString());
  CHECK(absl::IsUnavailable(refused));
  absl::Status accepted = AwaitStatus([&](auto done) {
    b.registry->checker_bridge().ReportHealth({"default", "web", "w1"},
                                              incarnation, Health::kPassing,
                                              "from b", std::move(done));
  });
  CHECK(accepted.ok());
  CHECK(b.registry->instances().Get({"default", "web", "w1"}).value()->health ==
        Health::kPassing);
}

TEST_CASE("eviction protection counts the whole realm across replicas",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  Replica& b = cluster.Add("b");
  std::vector<uint64_t> incarnations;
  for (int i = 0; i < 4; ++i) {
    Instance checked = Web(absl::StrCat("w", i));
    checked.mutable_check()->kind = CheckKind::kTtl;
    checked.mutable_check()->ttl = absl::Seconds(30);
    absl::StatusOr<Instances::RegisterResult> created = Register(a, checked);
    REQUIRE(created.ok());
    incarnations.push_back(created->instance->create_revision);
  }
  // Three of four critical, verdicts from both replicas: 75% > 50%.
  for (int i = 0; i < 3; ++i) {
    Replica& from = i % 2 == 0 ? a : b;
    REQUIRE(Reaches(from, a.registry->change_log().GetStats().revision));
    REQUIRE(AwaitStatus([&](auto done) {
              from.registry->checker_bridge().ReportHealth(
                  {"default", "web", absl::StrCat("w", i)}, incarnations[i],
                  Health::kCritical, "down", std::move(done));
            }).ok());
  }
  REQUIRE(Reaches(b, a.registry->change_log().GetStats().revision));
  absl::Status held = AwaitStatus([&](auto done) {
    b.registry->checker_bridge().Evict({"default", "web", "w0"},
                                       incarnations[0], "critical too long",
                                       std::move(done));
  });
  INFO(held.ToString());
  CHECK(absl::IsFailedPrecondition(held));
  CHECK(held.message().find("eviction protection") != absl::string_view::npos);
  // Back under the share (two of four critical is 50%): evictions go on,
  // and the second replica's attempt at the same one finds it gone.
  REQUIRE(AwaitStatus([&](auto done) {
            a.registry->checker_bridge().ReportHealth(
                {"default", "web", "w2"}, incarnations[2], Health::kPassing,
                "up", std::move(done));
          }).ok());
  REQUIRE(Reaches(b, a.registry->change_log().GetStats().revision));
  CHECK(AwaitStatus([&](auto done) {
          b.registry->checker_bridge().Evict({"default", "web", "w0"},
                                             incarnations[0], "critical",
                                             std::move(done));
        }).ok());
  absl::Status again = AwaitStatus([&](auto done) {
    a.registry->checker_bridge().Evict(
        {"default", "web", "w0"}, incarnations[0], "critical", std::move(done));
  });
  CHECK(absl::IsNotFound(again));
  int evicted = 0;
  for (const std::string& line : EventLines(a)) {
    if (line.find(" evicted ") != std::string::npos) ++evicted;
  }
  CHECK(evicted == 1);
}

TEST_CASE("a replica started later reads the history from etcd", "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Instances::RegisterResult> created =
        Register(a, Web(absl::StrCat("w", i)));
    REQUIRE(created.ok());
    last = created->revision;
  }
  Replica& late = cluster.Add("late");
  REQUIRE(Reaches(late, last));
  // Its watch hub never saw these: they come from etcd's history.
  const std::vector<std::string> history = EventLines(late);
  CHECK(history == EventLines(a));
  CHECK(history.size() == 5);

  // Compacted history is OUT_OF_RANGE, naming the oldest revision kept.
  REQUIRE(late.store->Compact(last).ok());
  ChangeLog::EventsQuery query;
  query.filter.realm = "default";
  query.from_revision = 1;
  absl::StatusOr<ChangeLog::EventsPage> page =
      late.registry->change_log().ListEvents(query);
  INFO(page.status().ToString());
  CHECK(absl::IsOutOfRange(page.status()));
}

TEST_CASE("a replica loads thousands of records page by page, at one revision",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  constexpr int kCount = 2500;
  absl::Mutex mu;
  int done = 0;
  int failed = 0;
  uint64_t last = 0;
  for (int i = 0; i < kCount; ++i) {
    a.registry->instances().Register(
        "default", Web(absl::StrCat("w", i)), "test",
        [&](absl::StatusOr<Instances::RegisterResult> result) {
          absl::MutexLock lock(&mu);
          ++done;
          if (!result.ok()) {
            ++failed;
          } else {
            last = std::max(last, result->revision);
          }
        });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* d) { return *d == kCount; }, &done));
  }
  REQUIRE(failed == 0);
  // Groups of many registrations share a transaction.
  CHECK(last < static_cast<uint64_t>(kCount));
  Replica& late = cluster.Add("late");
  const ChangeLog::Stats stats = late.registry->change_log().GetStats();
  CHECK(stats.instances == kCount);
  CHECK(stats.revision >= last);
}

TEST_CASE("a read at a minimum revision waits for it, or says how far behind",
          "[etcd]") {
  Cluster cluster;
  Replica& a = cluster.Add("a");
  const uint64_t now = a.registry->change_log().GetStats().revision;
  absl::Status behind = AwaitStatus([&](auto done) {
    a.registry->WhenApplied(now + 1000, absl::Now() + absl::Milliseconds(300),
                            std::move(done));
  });
  CHECK(absl::IsUnavailable(behind));
  CHECK(behind.message().find(absl::StrCat("revision ", now + 1000)) !=
        absl::string_view::npos);
  CHECK(a.registry->Staleness().has_value());
}

}  // namespace
}  // namespace muster::registry
