#include "registry/index.h"

#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "registry/limits.h"

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

namespace muster::registry {
namespace {

// A page token is good only for the query it came from and the index that
// made it: anything forged, altered or carried over is INVALID_ARGUMENT.
TEST_CASE("index page tokens are verified", "[index][page_token]") {
  std::vector<Instance> instances;
  for (int i = 0; i < 6; ++i) {
    instances.push_back(MakeInstance("default", "web", std::to_string(i)));
  }
  Index index;
  LoadInto(index, instances);
  ListQuery query;
  query.realm = "default";
  query.page_size = 2;
  auto first = index.List(query);
  REQUIRE(first.ok());
  REQUIRE_FALSE(first->next_page_token.empty());
  const std::string token = first->next_page_token;

  auto refused = [&index](ListQuery q) {
    absl::StatusOr<InstancePage> page = index.List(q);
    INFO(page.status().ToString());
    REQUIRE(absl::IsInvalidArgument(page.status()));
    CHECK(absl::StartsWith(page.status().message(), "page_token: "));
  };
  SECTION("the token works for its own query") {
    query.page_token = token;
    auto next = index.List(query);
    REQUIRE(next.ok());
    REQUIRE(next->instances.size() == 2);
    CHECK(next->instances[0]->id == "2");
  }
  SECTION("a forged position (the old, unauthenticated format)") {
    query.page_token =
        absl::WebSafeBase64Escape(std::string("web\0"
                                              "3",
                                              5));
    refused(query);
  }
  SECTION("an altered token") {
    std::string raw;
    REQUIRE(absl::WebSafeBase64Unescape(token, &raw));
    raw[0] ^= 0x01;
    query.page_token = absl::WebSafeBase64Escape(raw);
    refused(query);
  }
  SECTION("a token of another query") {
    query.page_token = token;
    query.tags = {"canary"};
    refused(query);
    query.tags.clear();
    query.routable_only = true;
    refused(query);
  }
  SECTION("a token of another index (a restarted daemon)") {
    Index other;
    LoadInto(other, instances);
    query.page_token = token;
    absl::StatusOr<InstancePage> page = other.List(query);
    CHECK(absl::IsInvalidArgument(page.status()));
  }
  SECTION("the page size may change between pages") {
    query.page_token = token;
    query.page_size = 10;
    auto rest = index.List(query);
    REQUIRE(rest.ok());
    CHECK(rest->instances.size() == 4);
    CHECK(rest->next_page_token.empty());
  }
}

// Pages stop by bytes as well as by count, always with one instance, and
// paging still returns every instance once.
TEST_CASE("index pages are bounded by bytes", "[index][page_bytes]") {
  std::vector<Instance> instances;
  for (int i = 0; i < 100; ++i) {
    Instance instance =
        MakeInstance("default", "web", std::to_string(1000 + i));
    // About 60 KiB each: near the 64 KiB limit.
    for (int k = 0; k < 120; ++k) {
      instance.metadata.emplace_back(absl::StrCat("key-", 1000 + k),
                                     std::string(490, 'v'));
    }
    instances.push_back(std::move(instance));
  }
  Index index;
  LoadInto(index, instances);
  ListQuery query;
  query.realm = "default";
  query.page_size = limits::kMaxPageSize;
  size_t seen = 0;
  int pages = 0;
  for (; pages < 100; ++pages) {
    auto page = index.List(query);
    REQUIRE(page.ok());
    REQUIRE_FALSE(page->instances.empty());
    size_t bytes = 0;
    for (const auto& instance : page->instances) {
      bytes += EncodedSizeBound(*instance);
    }
    CHECK(bytes <= limits::kMaxReplyBytes);
    seen += page->instances.size();
    if (page->next_page_token.empty()) break;
    query.page_token = page->next_page_token;
  }
  CHECK(seen == 100);
  CHECK(pages >= 2);
}

}  // namespace
}  // namespace muster::registry

namespace muster::registry {
namespace {

TEST_CASE("index service pages follow their tokens", "[index][services]") {
  std::vector<Instance> instances;
  for (int i = 0; i < 7; ++i) {
    instances.push_back(MakeInstance("default", absl::StrCat("svc-", i), "a"));
  }
  Index index;
  LoadInto(index, instances);
  std::vector<std::string> names;
  std::string token;
  for (int pages = 0; pages < 10; ++pages) {
    absl::StatusOr<ServicesPage> page =
        index.ServicesPaged("default", 3, token);
    REQUIRE(page.ok());
    CHECK(page->services.size() <= 3);
    for (const ServiceCounts& counts : page->services) {
      names.push_back(counts.name);
    }
    token = page->next_page_token;
    if (token.empty()) break;
  }
  CHECK(names == std::vector<std::string>{"svc-0", "svc-1", "svc-2", "svc-3",
                                          "svc-4", "svc-5", "svc-6"});
  // No count limit: one page.
  absl::StatusOr<ServicesPage> all = index.ServicesPaged("default", 0, "");
  REQUIRE(all.ok());
  CHECK(all->services.size() == 7);
  CHECK(all->next_page_token.empty());
  // A token is for its realm and this index only.
  absl::StatusOr<ServicesPage> first = index.ServicesPaged("default", 2, "");
  REQUIRE(first.ok());
  CHECK(absl::IsInvalidArgument(
      index.ServicesPaged("default", 2, "c3ZjLTE").status()));
  Index other;
  LoadInto(other, instances);
  CHECK(absl::IsInvalidArgument(
      other.ServicesPaged("default", 2, first->next_page_token).status()));
  CHECK(absl::IsNotFound(index.ServicesPaged("nope", 0, "").status()));
}

// 40,000 services with 63-byte names do not fit one 2 MiB reply.
TEST_CASE("index service pages are bounded by bytes",
          "[index][services][page_bytes]") {
  std::vector<Instance> instances;
  for (int i = 0; i < 40000; ++i) {
    instances.push_back(MakeInstance(
        "default", absl::StrCat(std::string(55, 's'), 10000000 + i), "a"));
  }
  Index index;
  LoadInto(index, instances);
  size_t seen = 0;
  int pages = 0;
  std::string token;
  for (; pages < 100; ++pages) {
    absl::StatusOr<ServicesPage> page =
        index.ServicesPaged("default", 0, token);
    REQUIRE(page.ok());
    REQUIRE_FALSE(page->services.empty());
    size_t bytes = 0;
    for (const ServiceCounts& counts : page->services) {
      bytes += 32 + counts.name.size();
    }
    CHECK(bytes <= limits::kMaxReplyBytes);
    seen += page->services.size();
    token = page->next_page_token;
    if (token.empty()) break;
  }
  CHECK(seen == 40000);
  CHECK(pages >= 1);
}

}  // namespace
}  // namespace muster::registry
