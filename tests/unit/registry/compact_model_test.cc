// The compact in-memory layout of instances (registry/model.h) and of the
// index (registry/index.h): what each keeps out of line or shares must
// behave as plain values.

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "registry/index.h"
#include "registry/model.h"

namespace muster::registry {
namespace {

CheckSpec HttpCheck(const std::string& url) {
  CheckSpec check;
  check.kind = CheckKind::kHttp;
  check.interval = absl::Seconds(10);
  check.timeout = absl::Seconds(2);
  check.http_url = url;
  check.http_headers = {{"X-A", "1"}};
  return check;
}

Instance MakeInstance(const std::string& realm, const std::string& service,
                      const std::string& id, uint64_t revision = 1) {
  Instance instance;
  instance.realm = realm;
  instance.service = service;
  instance.id = id;
  instance.address = "10.0.0.1";
  instance.port = 80;
  instance.health = Health::kPassing;
  instance.create_revision = revision;
  instance.modify_revision = revision;
  return instance;
}

TEST_CASE("an instance without a check, reason or output holds no block",
          "[model]") {
  const Instance plain;
  // Every empty instance answers with the same shared defaults.
  const CheckSpec* no_check = &plain.check();
  CHECK(plain.check() == CheckSpec());
  CHECK(plain.admin_reason().empty());
  CHECK(plain.check_output().empty());

  Instance instance;
  instance.set_check(CheckSpec());
  instance.set_admin_reason("");
  instance.set_check_output("");
  CHECK(&instance.check() == no_check);

  // Setting a field allocates; clearing every one lets go again.
  instance.set_admin_reason("maintenance");
  CHECK(&instance.check() != no_check);
  CHECK(instance.admin_reason() == "maintenance");
  CHECK(instance.check() == CheckSpec());
  instance.set_check_output("HTTP 503");
  instance.set_admin_reason("");
  CHECK(&instance.check() != no_check);
  instance.set_check_output("");
  CHECK(&instance.check() == no_check);
  CHECK(instance.check_output().empty());
}

TEST_CASE("copies of an instance share its check until one changes",
          "[model]") {
  Instance a = MakeInstance("default", "web", "a");
  a.set_check(HttpCheck("http://10.0.0.1/health"));
  a.set_check_output("HTTP 200");
  a.set_admin_reason("deploy");

  Instance b = a;
  CHECK(&b.check() == &a.check());
  CHECK(b.SameRegistration(a));

  // A change to the copy leaves the original as it was.
  b.mutable_check()->http_url = "http://10.0.0.2/health";
  CHECK(&b.check() != &a.check());
  CHECK(a.check().http_url == "http://10.0.0.1/health");
  CHECK(b.check().http_url == "http://10.0.0.2/health");
  CHECK(b.check_output() == "HTTP 200");
  CHECK(b.admin_reason() == "deploy");
  CHECK_FALSE(b.SameRegistration(a));

  Instance c = a;
  c.set_check_output("HTTP 500");
  c.set_admin_reason("");
  CHECK(a.check_output() == "HTTP 200");
  CHECK(a.admin_reason() == "deploy");
  CHECK(c.check() == a.check());
  CHECK(c.SameRegistration(a));

  // The only holder changes its block in place.
  Instance d = MakeInstance("default", "web", "d");
  d.set_check(HttpCheck("http://10.0.0.4/health"));
  const CheckSpec* before = &d.check();
  d.mutable_check()->timeout = absl::Seconds(3);
  CHECK(&d.check() == before);
  CHECK(d.check().timeout == absl::Seconds(3));

  // Moves carry the block along and leave no sharing behind.
  Instance e = std::move(d);
  CHECK(&e.check() == before);
  CHECK(e.check().http_url == "http://10.0.0.4/health");
}

TEST_CASE("encoded size bounds count the out-of-line fields", "[model]") {
  Instance plain = MakeInstance("default", "web", "a");
  const size_t base = EncodedSizeBound(plain);
  Instance checked = plain;
  checked.set_check(HttpCheck(std::string(1000, 'u')));
  checked.set_check_output(std::string(300, 'o'));
  checked.set_admin_reason(std::string(200, 'r'));
  CHECK(EncodedSizeBound(checked) >= base + 1000 + 300 + 200 + 2 + 1);
}

// Threads copy one shared const instance (as readers of the index do) and
// change their copies: the original never changes.
TEST_CASE("copies made on many threads change independently", "[model]") {
  Instance original = MakeInstance("default", "web", "a");
  original.set_check(HttpCheck("http://10.0.0.1/health"));
  original.set_check_output("HTTP 200");
  const auto shared = std::make_shared<const Instance>(original);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([shared, t] {
      for (int i = 0; i < 2000; ++i) {
        Instance copy = *shared;
        copy.mutable_check()->http_url = absl::StrCat("http://h", t, "/", i);
        copy.set_check_output(absl::StrCat(i));
        Instance again = copy;
        again.set_admin_reason("x");
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(shared->check().http_url == "http://10.0.0.1/health");
  CHECK(shared->check_output() == "HTTP 200");
  CHECK(shared->admin_reason().empty());
}

std::vector<std::string> ListIds(const Index& index, const std::string& realm,
                                 const std::string& service, uint32_t page) {
  std::vector<std::string> ids;
  ListQuery query;
  query.realm = realm;
  query.service = service;
  query.page_size = page;
  for (;;) {
    auto listed = index.List(query);
    REQUIRE(listed.ok());
    for (const auto& instance : listed->instances) {
      ids.push_back(instance->service + "/" + instance->id);
    }
    if (listed->next_page_token.empty()) break;
    query.page_token = listed->next_page_token;
  }
  return ids;
}

// Stores load in key order, which the index uses as a hint; any other
// order must give the same index.
TEST_CASE("the index loads instances in any order", "[index]") {
  std::vector<Instance> instances;
  for (const std::string realm : {"default", "other"}) {
    for (const std::string service : {"api", "db", "web"}) {
      for (int i = 0; i < 150; ++i) {
        instances.push_back(MakeInstance(realm, service, absl::StrCat("i", i)));
      }
    }
  }
  auto load = [](std::vector<Instance> order) {
    auto index = std::make_unique<Index>();
    StoredState state;
    state.revision = 10;
    for (const std::string name : {"default", "other"}) {
      Realm realm;
      realm.name = name;
      state.realms.push_back(realm);
    }
    for (Instance& instance : order) {
      state.instances.push_back(
          std::make_shared<const Instance>(std::move(instance)));
    }
    index->Load(std::move(state));
    return index;
  };
  std::vector<Instance> sorted = instances;
  std::sort(
      sorted.begin(), sorted.end(),
      [](const Instance& a, const Instance& b) { return a.Key() < b.Key(); });
  std::vector<Instance> shuffled = instances;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));

  auto in_order = load(sorted);
  auto in_chaos = load(shuffled);
  for (const Index* index : {in_order.get(), in_chaos.get()}) {
    CHECK(index->InstanceCount() == instances.size());
    uint64_t revision = 0;
    auto services = index->Services("other", &revision);
    REQUIRE(services.ok());
    REQUIRE(services->size() == 3);
    CHECK((*services)[1].name == "db");
    CHECK((*services)[1].instances == 150);
    CHECK((*services)[1].routable == 150);
    CHECK(index->FindInstance(InstanceKey{"other", "web", "i77"}) != nullptr);
    CHECK(index->FindInstance(InstanceKey{"other", "web", "i150"}) == nullptr);
  }
  const std::vector<std::string> listed = ListIds(*in_order, "default", "", 7);
  CHECK(listed.size() == 450);
  CHECK(std::is_sorted(listed.begin(), listed.end()));
  CHECK(ListIds(*in_chaos, "default", "", 7) == listed);
  CHECK(ListIds(*in_chaos, "other", "web", 1000) ==
        ListIds(*in_order, "other", "web", 1000));

  uint64_t revision = 0;
  std::vector<std::shared_ptr<const Instance>> all =
      in_chaos->AllInstances(&revision);
  REQUIRE(all.size() == instances.size());
  CHECK(std::is_sorted(
      all.begin(), all.end(),
      [](const auto& a, const auto& b) { return a->Key() < b->Key(); }));
}

// The index keeps a service's instances in B-tree nodes, which move them
// as instances come and go; each keeps its heartbeat through that.
TEST_CASE("heartbeats survive instances moving in the index", "[index]") {
  Index index;
  StoredState state;
  state.revision = 1;
  Realm realm;
  realm.name = "default";
  state.realms.push_back(realm);
  for (int i = 0; i < 10; ++i) {
    state.instances.push_back(std::make_shared<const Instance>(
        MakeInstance("default", "web", absl::StrCat("m", i))));
  }
  index.Load(std::move(state));
  const absl::Time at = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(index
                .Heartbeat(InstanceKey{"default", "web", absl::StrCat("m", i)},
                           1, at + absl::Seconds(i))
                .ok());
  }

  // Many inserts before, between and after them, then most of them gone.
  uint64_t revision = 1;
  for (int round = 0; round < 3; ++round) {
    CommitBatch batch;
    batch.revision = ++revision;
    for (int i = 0; i < 500; ++i) {
      for (const char* prefix : {"a", "n", "z"}) {
        batch.put_instances.push_back(MakeInstance(
            "default", "web", absl::StrCat(prefix, round, "-", i), revision));
      }
    }
    index.Apply(batch);
  }
  CommitBatch deletes;
  deletes.revision = ++revision;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 500; i += 3) {
      for (const char* prefix : {"a", "n", "z"}) {
        deletes.delete_instances.push_back(
            InstanceKey{"default", "web", absl::StrCat(prefix, round, "-", i)});
      }
    }
  }
  index.Apply(deletes);

  // A replaced instance of the same incarnation keeps its heartbeat.
  CommitBatch update;
  update.revision = ++revision;
  Instance drained = MakeInstance("default", "web", "m3");
  drained.admin_state = AdminState::kDraining;
  drained.modify_revision = revision;
  update.put_instances.push_back(drained);
  index.Apply(update);

  for (int i = 0; i < 10; ++i) {
    const InstanceKey key{"default", "web", absl::StrCat("m", i)};
    CHECK(index.LastHeartbeat(key) == at + absl::Seconds(i));
  }
  CHECK(index.FindInstance(InstanceKey{"default", "web", "m3"})->admin_state ==
        AdminState::kDraining);
  CHECK(index.InstanceCount() == 10 + 3 * 1500 - 3 * 3 * 167);
  uint64_t seen = 0;
  auto services = index.Services("default", &seen);
  REQUIRE(services.ok());
  REQUIRE(services->size() == 1);
  CHECK((*services)[0].instances == index.InstanceCount());
  CHECK((*services)[0].routable == index.InstanceCount() - 1);
}

}  // namespace
}  // namespace muster::registry
