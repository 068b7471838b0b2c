#include "registry/index.h"

#include <catch2/catch.hpp>

namespace muster::registry {
namespace {

Instance MakeInstance(const std::string& realm, const std::string& service,
                      const std::string& id, Health health = Health::kPassing) {
  Instance instance;
  instance.realm = realm;
  instance.service = service;
  instance.id = id;
  instance.address = "10.0.0.1";
  instance.port = 80;
  instance.health = health;
  instance.create_revision = 1;
  return instance;
}

void LoadInto(Index& index, std::vector<Instance> instances) {
  StoredState state;
  state.revision = 10;
  Realm realm;
  realm.name = "default";
  state.realms.push_back(realm);
  for (Instance& instance : instances) {
    state.instances.push_back(
        std::make_shared<const Instance>(std::move(instance)));
  }
  index.Load(std::move(state));
}

}  // namespace

TEST_CASE("index counts instances, routable ones and health", "[index]") {
  Index index;
  StoredState state;
  state.revision = 3;
  Realm realm;
  realm.name = "default";
  state.realms.push_back(realm);
  for (Instance instance :
       {MakeInstance("default", "web", "a"),
        MakeInstance("default", "web", "b", Health::kCritical),
        MakeInstance("default", "db", "c", Health::kWarning)}) {
    state.instances.push_back(
        std::make_shared<const Instance>(std::move(instance)));
  }
  index.Load(std::move(state));
  uint64_t revision = 0;
  auto services = index.Services("default", &revision);
  REQUIRE(services.ok());
  CHECK(revision == 3);
  REQUIRE(services->size() == 2);
  CHECK((*services)[0].name == "db");
  CHECK((*services)[0].routable == 1);
  CHECK((*services)[1].instances == 2);
  CHECK((*services)[1].routable == 1);

  // A drain, then a delete, keep the counts right.
  CommitBatch batch;
  batch.revision = 4;
  Instance drained = MakeInstance("default", "web", "a");
  drained.admin_state = AdminState::kDraining;
  batch.put_instances.push_back(drained);
  batch.delete_instances.push_back(InstanceKey{"default", "db", "c"});
  index.Apply(batch);
  services = index.Services("default", &revision);
  REQUIRE(services.ok());
  CHECK(revision == 4);
  REQUIRE(services->size() == 1);
  CHECK((*services)[0].routable == 0);
  CHECK(index.InstanceCount() == 2);
  std::vector<RealmCounts> realms = index.Realms(&revision);
  REQUIRE(realms.size() == 1);
  CHECK(realms[0].by_health[static_cast<int>(Health::kCritical)] == 1);
  CHECK(realms[0].by_health[static_cast<int>(Health::kPassing)] == 1);
}

TEST_CASE("index pages resume strictly after the token", "[index]") {
  std::vector<Instance> instances;
  for (const char* service : {"a", "b"}) {
    for (int i = 0; i < 5; ++i)
      instances.push_back(MakeInstance("default", service, std::to_string(i)));
  }
  Index index;
  LoadInto(index, instances);
  ListQuery query;
  query.realm = "default";
  query.page_size = 3;
  std::vector<std::string> seen;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = index.List(query);
    REQUIRE(page.ok());
    for (const auto& instance : page->instances)
      seen.push_back(instance->service + instance->id);
    if (page->next_page_token.empty()) break;
    query.page_token = page->next_page_token;
  }
  CHECK(seen == std::vector<std::string>{"a0", "a1", "a2", "a3", "a4", "b0",
                                         "b1", "b2", "b3", "b4"});
  ListQuery missing;
  missing.realm = "nope";
  CHECK(absl::IsNotFound(index.List(missing).status()));
  ListQuery garbage;
  garbage.realm = "default";
  garbage.page_token = "%%%";
  CHECK(absl::IsInvalidArgument(index.List(garbage).status()));
}

TEST_CASE("index heartbeats check the incarnation", "[index]") {
  Index index;
  LoadInto(index, {MakeInstance("default", "web", "a")});
  InstanceKey key{"default", "web", "a"};
  CHECK_FALSE(index.LastHeartbeat(key).has_value());
  const absl::Time at = absl::FromUnixSeconds(1000);
  REQUIRE(index.Heartbeat(key, 1, at).ok());
  CHECK(index.LastHeartbeat(key) == at);
  CHECK(absl::IsFailedPrecondition(index.Heartbeat(key, 2, at).status()));
  CHECK(absl::IsNotFound(
      index.Heartbeat(InstanceKey{"default", "web", "zz"}, 1, at).status()));
  // A new incarnation forgets the old heartbeats.
  CommitBatch batch;
  batch.revision = 11;
  Instance again = MakeInstance("default", "web", "a");
  again.create_revision = 11;
  batch.put_instances.push_back(again);
  index.Apply(batch);
  CHECK_FALSE(index.LastHeartbeat(key).has_value());
}

}  // namespace muster::registry
