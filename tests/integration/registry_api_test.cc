// Register, get, list, heartbeat and deregister over gRPC against an
// in-process musterd with RocksDB.

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

using muster::v1::Instance;

muster::v1::RegisterResponse MustRegister(TestServer& server,
                                          const std::string& realm,
                                          const Instance& instance) {
  muster::v1::RegisterRequest request;
  request.set_realm(realm);
  *request.mutable_instance() = instance;
  muster::v1::RegisterResponse response;
  grpc::Status status =
      server.registry().Register(Context().get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response;
}

grpc::Status Get(TestServer& server, const std::string& realm,
                 const std::string& service, const std::string& id,
                 Instance* out) {
  muster::v1::GetInstanceRequest request;
  request.set_realm(realm);
  request.set_service(service);
  request.set_id(id);
  return server.registry().GetInstance(Context().get(), request, out);
}

grpc::Status Heartbeat(TestServer& server, const std::string& service,
                       const std::string& id, uint64_t incarnation) {
  muster::v1::HeartbeatRequest request;
  request.set_service(service);
  request.set_id(id);
  request.set_incarnation(incarnation);
  muster::v1::HeartbeatResponse response;
  return server.registry().Heartbeat(Context().get(), request, &response);
}

grpc::Status Deregister(TestServer& server, const std::string& realm,
                        const std::string& service, const std::string& id) {
  muster::v1::DeregisterRequest request;
  request.set_realm(realm);
  request.set_service(service);
  request.set_id(id);
  muster::v1::DeregisterResponse response;
  return server.registry().Deregister(Context().get(), request, &response);
}

std::vector<std::string> ListIds(TestServer& server,
                                 muster::v1::ListInstancesRequest request) {
  std::vector<std::string> ids;
  for (int pages = 0; pages < 1000; ++pages) {
    muster::v1::ListInstancesResponse response;
    grpc::Status status =
        server.registry().ListInstances(Context().get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    for (const auto& instance : response.instances()) {
      ids.push_back(instance.service() + "/" + instance.id());
    }
    if (response.next_page_token().empty()) return ids;
    request.set_page_token(response.next_page_token());
  }
  FAIL("pagination did not end");
  return ids;
}

}  // namespace

TEST_CASE("register then get returns the stored instance with revisions",
          "[integration]") {
  TestServer server;
  Instance instance = MakeInstance("web", "web-1", "10.1.2.3", 8443);
  instance.add_tags("blue");
  (*instance.mutable_metadata())["owner"] = "team-a";
  instance.set_zone("zone-a");
  instance.set_version("1.2.3");
  auto registered = MustRegister(server, "default", instance);
  CHECK(registered.created());
  CHECK(registered.instance().create_revision() == registered.revision());
  CHECK(registered.instance().health() ==
        muster::v1::HEALTH_PASSING);  // check kind NONE

  Instance got;
  REQUIRE(Get(server, "default", "web", "web-1", &got).ok());
  CHECK(got.address() == "10.1.2.3");
  CHECK(got.port() == 8443);
  CHECK(got.tags_size() == 1);
  CHECK(got.metadata().at("owner") == "team-a");
  CHECK(got.zone() == "zone-a");
  CHECK(got.weight() == 1);
  CHECK(got.admin_state() == muster::v1::ADMIN_STATE_ENABLED);
  CHECK(got.create_revision() == registered.revision());
  CHECK(got.modify_revision() == registered.revision());
  CHECK(got.registered_at().seconds() > 0);

  Instance missing;
  CHECK(Get(server, "default", "web", "web-2", &missing).error_code() ==
        grpc::NOT_FOUND);
  CHECK(Get(server, "nowhere", "web", "web-1", &missing).error_code() ==
        grpc::NOT_FOUND);
}

TEST_CASE("register without an id gets a generated one", "[integration]") {
  TestServer server;
  auto first = MustRegister(server, "", MakeInstance("api", ""));
  auto second = MustRegister(server, "", MakeInstance("api", ""));
  CHECK_FALSE(first.instance().id().empty());
  CHECK(first.instance().id() != second.instance().id());
}

TEST_CASE("re-register is idempotent and keeps the incarnation",
          "[integration]") {
  TestServer server;
  Instance instance = MakeInstance("web", "w1");
  auto first = MustRegister(server, "default", instance);
  auto again = MustRegister(server, "default", instance);
  CHECK_FALSE(again.created());
  CHECK(again.revision() ==
        first.revision());  // nothing changed, nothing written
  CHECK(again.instance().create_revision() ==
        first.instance().create_revision());

  instance.set_port(9090);
  auto changed = MustRegister(server, "default", instance);
  CHECK_FALSE(changed.created());
  CHECK(changed.revision() == first.revision() + 1);
  CHECK(changed.instance().create_revision() ==
        first.instance().create_revision());
  CHECK(changed.instance().port() == 9090);

  REQUIRE(Deregister(server, "default", "web", "w1").ok());
  auto fresh = MustRegister(server, "default", instance);
  CHECK(fresh.created());
  CHECK(fresh.instance().create_revision() > changed.revision());
}

TEST_CASE("heartbeats check the incarnation and never resurrect",
          "[integration]") {
  TestServer server;
  Instance instance = MakeInstance("web", "w1");
  instance.mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
  instance.mutable_check()->mutable_ttl()->set_seconds(30);
  auto first = MustRegister(server, "default", instance);
  const uint64_t old_incarnation = first.instance().create_revision();
  CHECK(first.instance().health() == muster::v1::HEALTH_STARTING);
  REQUIRE(Heartbeat(server, "web", "w1", old_incarnation).ok());

  Instance got;
  REQUIRE(Get(server, "default", "web", "w1", &got).ok());
  CHECK(got.last_heartbeat_at().seconds() > 0);

  REQUIRE(Deregister(server, "default", "web", "w1").ok());
  CHECK(Heartbeat(server, "web", "w1", old_incarnation).error_code() ==
        grpc::NOT_FOUND);
  CHECK(Get(server, "default", "web", "w1", &got).error_code() ==
        grpc::NOT_FOUND);

  auto second = MustRegister(server, "default", instance);
  grpc::Status stale = Heartbeat(server, "web", "w1", old_incarnation);
  CHECK(stale.error_code() == grpc::FAILED_PRECONDITION);
  CHECK_THAT(stale.error_message(), Catch::Contains("incarnation"));
  CHECK(
      Heartbeat(server, "web", "w1", second.instance().create_revision()).ok());
  CHECK(Heartbeat(server, "web", "w1", 0).error_code() ==
        grpc::INVALID_ARGUMENT);
}

TEST_CASE("list filters by routable, tags, metadata and zone",
          "[integration]") {
  TestServer server;
  for (int i = 0; i < 6; ++i) {
    Instance instance = MakeInstance("web", "w" + std::to_string(i));
    if (i % 2 == 0) instance.add_tags("even");
    if (i < 3) instance.add_tags("low");
    (*instance.mutable_metadata())["rack"] = i < 4 ? "r1" : "r2";
    instance.set_zone(i % 3 == 0 ? "za" : "zb");
    MustRegister(server, "default", instance);
  }
  MustRegister(server, "default", MakeInstance("db", "d1"));
  // Drain w0 so it is not routable.
  muster::v1::SetAdminStateRequest drain;
  drain.set_service("web");
  drain.set_id("w0");
  drain.set_admin_state(muster::v1::ADMIN_STATE_DRAINING);
  drain.set_reason("maintenance");
  Instance drained;
  REQUIRE(
      server.registry().SetAdminState(Context().get(), drain, &drained).ok());
  CHECK(drained.admin_state() == muster::v1::ADMIN_STATE_DRAINING);
  CHECK(drained.admin_reason() == "maintenance");

  muster::v1::ListInstancesRequest all;
  CHECK(ListIds(server, all).size() == 7);

  muster::v1::ListInstancesRequest web;
  web.set_service("web");
  CHECK(ListIds(server, web).size() == 6);

  muster::v1::ListInstancesRequest routable = web;
  routable.set_routable_only(true);
  CHECK(ListIds(server, routable) ==
        std::vector<std::string>{"web/w1", "web/w2", "web/w3", "web/w4",
                                 "web/w5"});

  muster::v1::ListInstancesRequest tags = web;
  tags.add_tags("even");
  tags.add_tags("low");
  CHECK(ListIds(server, tags) == std::vector<std::string>{"web/w0", "web/w2"});

  muster::v1::ListInstancesRequest meta = web;
  (*meta.mutable_metadata())["rack"] = "r2";
  CHECK(ListIds(server, meta) == std::vector<std::string>{"web/w4", "web/w5"});

  muster::v1::ListInstancesRequest zone = web;
  zone.set_zone("za");
  CHECK(ListIds(server, zone) == std::vector<std::string>{"web/w0", "web/w3"});

  muster::v1::ListInstancesRequest combined = zone;
  combined.set_routable_only(true);
  CHECK(ListIds(server, combined) == std::vector<std::string>{"web/w3"});
}

TEST_CASE("list paginates without gaps or repeats", "[integration]") {
  TestServer server;
  std::set<std::string> expected;
  for (const char* service : {"alpha", "beta", "gamma"}) {
    for (int i = 0; i < 25; ++i) {
      std::string id = "i" + std::to_string(100 + i);
      MustRegister(server, "default", MakeInstance(service, id));
      expected.insert(std::string(service) + "/" + id);
    }
  }
  for (uint32_t page_size : {1u, 7u, 25u, 1000u}) {
    muster::v1::ListInstancesRequest request;
    request.set_page_size(page_size);
    std::vector<std::string> ids = ListIds(server, request);
    CHECK(ids.size() == expected.size());
    CHECK(std::set<std::string>(ids.begin(), ids.end()) == expected);
    CHECK(std::is_sorted(ids.begin(), ids.end()));
  }
  muster::v1::ListInstancesRequest one_service;
  one_service.set_service("beta");
  one_service.set_page_size(10);
  muster::v1::ListInstancesResponse first;
  REQUIRE(server.registry()
              .ListInstances(Context().get(), one_service, &first)
              .ok());
  CHECK(first.instances_size() == 10);
  CHECK_FALSE(first.next_page_token().empty());
  CHECK(first.revision() ==
        75 + 1);  // 75 registrations after the default realm

  muster::v1::ListInstancesRequest bad = one_service;
  bad.set_page_token("not a token!");
  muster::v1::ListInstancesResponse ignored;
  CHECK(server.registry()
            .ListInstances(Context().get(), bad, &ignored)
            .error_code() == grpc::INVALID_ARGUMENT);
}

TEST_CASE("list services counts instances and routable ones", "[integration]") {
  TestServer server;
  MustRegister(server, "default", MakeInstance("web", "a"));
  MustRegister(server, "default", MakeInstance("web", "b"));
  Instance ttl = MakeInstance("web", "c");
  ttl.mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
  ttl.mutable_check()->mutable_ttl()->set_seconds(10);
  MustRegister(server, "default", ttl);  // STARTING: not routable
  MustRegister(server, "default", MakeInstance("db", "a"));
  muster::v1::ListServicesRequest request;
  muster::v1::ListServicesResponse response;
  REQUIRE(
      server.registry().ListServices(Context().get(), request, &response).ok());
  REQUIRE(response.services_size() == 2);
  CHECK(response.services(0).name() == "db");
  CHECK(response.services(0).instance_count() == 1);
  CHECK(response.services(1).name() == "web");
  CHECK(response.services(1).instance_count() == 3);
  CHECK(response.services(1).routable_count() == 2);
}

TEST_CASE("list services pages by page_size and verifies its tokens",
          "[integration][services]") {
  TestServer server;
  const std::vector<std::string> names = {"api", "db", "queue", "web",
                                          "worker"};
  // Registered out of order: pages come in name order anyway.
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    MustRegister(server, "default", MakeInstance(*it, "a"));
  }
  muster::v1::ListServicesRequest request;
  request.set_page_size(2);
  std::vector<std::string> seen;
  std::vector<int> page_sizes;
  uint64_t revision = 0;
  for (int pages = 0; pages < 10; ++pages) {
    muster::v1::ListServicesResponse response;
    grpc::Status status =
        server.registry().ListServices(Context().get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    if (pages == 0) revision = response.revision();
    CHECK(response.revision() == revision);
    page_sizes.push_back(response.services_size());
    for (const auto& service : response.services()) {
      seen.push_back(service.name());
      CHECK(service.instance_count() == 1);
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  CHECK(page_sizes == std::vector<int>{2, 2, 1});
  CHECK(seen == names);

  SECTION("a page size of 0 is every service that fits one reply") {
    muster::v1::ListServicesRequest all;
    muster::v1::ListServicesResponse response;
    REQUIRE(
        server.registry().ListServices(Context().get(), all, &response).ok());
    CHECK(response.services_size() == 5);
    CHECK(response.next_page_token().empty());
  }
  SECTION("a token that is not the daemon's names page_token") {
    muster::v1::ListServicesRequest bad;
    bad.set_page_size(2);
    bad.set_page_token("not a token!");
    muster::v1::ListServicesResponse response;
    grpc::Status status =
        server.registry().ListServices(Context().get(), bad, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::StartsWith("page_token: "));
  }
  SECTION("a token of another realm names page_token") {
    muster::v1::CreateRealmRequest create;
    create.set_name("staging");
    muster::v1::Realm realm;
    REQUIRE(server.realms().CreateRealm(Context().get(), create, &realm).ok());
    muster::v1::ListServicesRequest first;
    first.set_page_size(2);
    muster::v1::ListServicesResponse page;
    REQUIRE(server.registry().ListServices(Context().get(), first, &page).ok());
    REQUIRE_FALSE(page.next_page_token().empty());
    muster::v1::ListServicesRequest other;
    other.set_realm("staging");
    other.set_page_token(page.next_page_token());
    muster::v1::ListServicesResponse response;
    grpc::Status status =
        server.registry().ListServices(Context().get(), other, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::StartsWith("page_token: "));
  }
  SECTION("a page size over 1000 names page_size") {
    muster::v1::ListServicesRequest big;
    big.set_page_size(1001);
    muster::v1::ListServicesResponse response;
    grpc::Status status =
        server.registry().ListServices(Context().get(), big, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::StartsWith("page_size: "));
  }
}

TEST_CASE("realms are isolated", "[integration]") {
  TestServer server;
  muster::v1::CreateRealmRequest create;
  create.set_name("staging");
  muster::v1::Realm realm;
  REQUIRE(server.realms().CreateRealm(Context().get(), create, &realm).ok());
  MustRegister(server, "default",
               MakeInstance("web", "same", "10.0.0.1", 1000));
  MustRegister(server, "staging",
               MakeInstance("web", "same", "10.0.0.2", 2000));

  Instance in_default;
  Instance in_staging;
  REQUIRE(Get(server, "default", "web", "same", &in_default).ok());
  REQUIRE(Get(server, "staging", "web", "same", &in_staging).ok());
  CHECK(in_default.port() == 1000);
  CHECK(in_staging.port() == 2000);
  CHECK(in_staging.realm() == "staging");

  REQUIRE(Deregister(server, "staging", "web", "same").ok());
  CHECK(Get(server, "default", "web", "same", &in_default).ok());
  CHECK(Get(server, "staging", "web", "same", &in_staging).error_code() ==
        grpc::NOT_FOUND);

  muster::v1::ListInstancesRequest list;
  list.set_realm("staging");
  CHECK(ListIds(server, list).empty());
}

TEST_CASE("unknown realms are refused or auto-created", "[integration]") {
  SECTION("refused by default") {
    TestServer server;
    muster::v1::RegisterRequest request;
    request.set_realm("prod");
    *request.mutable_instance() = MakeInstance("web", "w1");
    muster::v1::RegisterResponse response;
    grpc::Status status =
        server.registry().Register(Context().get(), request, &response);
    CHECK(status.error_code() == grpc::NOT_FOUND);
    CHECK_THAT(status.error_message(), Catch::Contains("realm \"prod\""));
  }
  SECTION("auto-created when configured") {
    TestServer::Options options;
    options.registry.auto_create_realms = true;
    TestServer server(options);
    MustRegister(server, "prod", MakeInstance("web", "w1"));
    muster::v1::GetRealmRequest get;
    get.set_name("prod");
    muster::v1::Realm realm;
    CHECK(server.realms().GetRealm(Context().get(), get, &realm).ok());
  }
}

TEST_CASE("concurrent registrations are group-committed and all durable",
          "[integration]") {
  TestServer server;
  constexpr int kThreads = 16;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        muster::v1::RegisterRequest request;
        *request.mutable_instance() = MakeInstance(
            "svc", "t" + std::to_string(t) + "-" + std::to_string(i));
        muster::v1::RegisterResponse response;
        if (!server.registry()
                 .Register(Context().get(), request, &response)
                 .ok())
          ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(failures == 0);
  // Fewer synced writes than registrations: requests shared commits.
  Histogram& groups = server.metrics().GetHistogram("muster_commit_group_ops",
                                                    "", SizeBuckets());
  CHECK(groups.Count() < kThreads * kPerThread);
  server.Restart();
  muster::v1::ListInstancesRequest list;
  list.set_page_size(1000);
  CHECK(ListIds(server, list).size() == kThreads * kPerThread);
  muster::v1::ServerInfo info;
  REQUIRE(server.registry().GetServerInfo(Context().get(), {}, &info).ok());
  CHECK(info.revision() == kThreads * kPerThread + 1);
}

}  // namespace muster::testing
