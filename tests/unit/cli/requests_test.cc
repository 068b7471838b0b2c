#include "cli/requests.h"

#include <catch2/catch.hpp>

#include "cli/errors.h"

namespace muster::cli {
namespace {

RegisterArgs Basic() {
  RegisterArgs args;
  args.service = "web";
  args.address = "10.0.0.7";
  args.port = "8080";
  return args;
}

void RequireUsage(const absl::StatusOr<v1::RegisterRequest>& r,
                  const std::string& part) {
  REQUIRE_FALSE(r.ok());
  INFO(r.status().ToString());
  CHECK(ExitCodeFor(r.status()) == kExitUsage);
  CHECK(std::string(r.status().message()).find(part) != std::string::npos);
}

TEST_CASE("Register request carries every instance field", "[requests]") {
  RegisterArgs args = Basic();
  args.id = "web-1";
  args.tags = {"canary", "v2"};
  args.meta = {"team=payments", "tier=1"};
  args.zone = "eu-1";
  args.weight = "20";
  args.version = "1.4.2";
  auto r = BuildRegisterRequest("prod", args);
  REQUIRE(r.ok());
  CHECK(r->realm() == "prod");
  const v1::Instance& i = r->instance();
  CHECK(i.service() == "web");
  CHECK(i.id() == "web-1");
  CHECK(i.address() == "10.0.0.7");
  CHECK(i.port() == 8080);
  CHECK(i.tags_size() == 2);
  CHECK(i.metadata().at("team") == "payments");
  CHECK(i.zone() == "eu-1");
  CHECK(i.weight() == 20);
  CHECK(i.version() == "1.4.2");
  CHECK(i.check().kind() == v1::CHECK_KIND_NONE);
  // Output-only fields stay unset.
  CHECK(i.create_revision() == 0);
  CHECK(i.health() == v1::HEALTH_UNSPECIFIED);
}

TEST_CASE("Register request builds each check kind", "[requests]") {
  RegisterArgs http = Basic();
  http.check_http = "http://10.0.0.7:8080/health";
  http.interval = "5s";
  http.check_timeout = "500ms";
  http.deregister_after = "1h30m";
  http.healthy_threshold = "2";
  http.unhealthy_threshold = "4";
  http.http_method = "HEAD";
  http.http_headers = {"Host=web.internal"};
  http.http_follow_redirects = true;
  auto r = BuildRegisterRequest("default", http);
  REQUIRE(r.ok());
  const v1::CheckSpec& c = r->instance().check();
  CHECK(c.kind() == v1::CHECK_KIND_HTTP);
  CHECK(c.http_url() == "http://10.0.0.7:8080/health");
  CHECK(c.interval().seconds() == 5);
  CHECK(c.timeout().nanos() == 500000000);
  CHECK(c.deregister_after().seconds() == 5400);
  CHECK(c.healthy_threshold() == 2);
  CHECK(c.unhealthy_threshold() == 4);
  CHECK(c.http_method() == "HEAD");
  CHECK(c.http_headers().at("Host") == "web.internal");
  CHECK(c.http_follow_redirects());

  RegisterArgs tcp = Basic();
  tcp.check_tcp = true;
  CHECK(BuildRegisterRequest("", tcp)->instance().check().kind() ==
        v1::CHECK_KIND_TCP);

  RegisterArgs grpc = Basic();
  grpc.check_grpc = "";
  auto g = BuildRegisterRequest("", grpc);
  REQUIRE(g.ok());
  CHECK(g->instance().check().kind() == v1::CHECK_KIND_GRPC);
  CHECK(g->instance().check().grpc_service().empty());
  grpc.check_grpc = "payments.v1.Api";
  CHECK(BuildRegisterRequest("", grpc)->instance().check().grpc_service() ==
        "payments.v1.Api");

  RegisterArgs ttl = Basic();
  ttl.check_ttl = "30s";
  ttl.deregister_after = "2m";
  auto t = BuildRegisterRequest("", ttl);
  REQUIRE(t.ok());
  CHECK(t->instance().check().kind() == v1::CHECK_KIND_TTL);
  CHECK(t->instance().check().ttl().seconds() == 30);
  CHECK(t->instance().check().deregister_after().seconds() == 120);
}

TEST_CASE("Register request rejects bad values before sending", "[requests]") {
  RegisterArgs a = Basic();
  a.port = "0";
  RequireUsage(BuildRegisterRequest("", a), "--port");

  a = Basic();
  a.meta = {"team"};
  RequireUsage(BuildRegisterRequest("", a), "--meta");

  a = Basic();
  a.weight = "heavy";
  RequireUsage(BuildRegisterRequest("", a), "--weight");

  a = Basic();
  a.check_tcp = true;
  a.check_ttl = "10s";
  RequireUsage(BuildRegisterRequest("", a), "choose one of");

  a = Basic();
  a.interval = "10s";
  RequireUsage(BuildRegisterRequest("", a), "need a check");

  a = Basic();
  a.check_ttl = "10s";
  a.interval = "10s";
  RequireUsage(BuildRegisterRequest("", a), "do not apply to --check-ttl");

  a = Basic();
  a.check_tcp = true;
  a.http_method = "GET";
  RequireUsage(BuildRegisterRequest("", a), "need --check-http");

  a = Basic();
  a.check_http = "";
  RequireUsage(BuildRegisterRequest("", a), "--check-http");

  a = Basic();
  a.check_tcp = true;
  a.interval = "10";
  RequireUsage(BuildRegisterRequest("", a), "--interval: invalid duration");

  a = Basic();
  a.check_ttl = "0s";
  RequireUsage(BuildRegisterRequest("", a), "longer than zero");

  a = Basic();
  a.check_tcp = true;
  a.unhealthy_threshold = "0";
  RequireUsage(BuildRegisterRequest("", a), "--unhealthy-threshold");
}

TEST_CASE("List request carries the filters", "[requests]") {
  ListArgs args;
  args.service = "web";
  args.routable_only = true;
  args.tags = {"canary"};
  args.meta = {"team=payments"};
  args.zone = "eu-1";
  auto r = BuildListRequest("prod", args);
  REQUIRE(r.ok());
  CHECK(r->realm() == "prod");
  CHECK(r->service() == "web");
  CHECK(r->routable_only());
  CHECK(r->tags(0) == "canary");
  CHECK(r->metadata().at("team") == "payments");
  CHECK(r->zone() == "eu-1");
  CHECK(r->page_size() > 0);
  CHECK(r->page_size() <= 1000);

  args.meta = {"=x"};
  CHECK(ExitCodeFor(BuildListRequest("prod", args).status()) == kExitUsage);
}

TEST_CASE("Realm and watch requests check their values", "[requests]") {
  RealmCreateArgs realm;
  realm.name = "staging";
  realm.description = "pre-production";
  realm.eviction_protection_share = "0.3";
  realm.default_deregister_after = "30m";
  auto r = BuildCreateRealmRequest(realm);
  REQUIRE(r.ok());
  CHECK(r->settings().eviction_protection_share() == 0.3);
  CHECK(r->settings().default_deregister_after().seconds() == 1800);
  realm.eviction_protection_share = "2";
  CHECK(ExitCodeFor(BuildCreateRealmRequest(realm).status()) == kExitUsage);

  WatchArgs watch;
  CHECK(BuildWatchRequest("prod", watch)->from_revision() == 0);
  watch.from_revision = "120";
  CHECK(BuildWatchRequest("prod", watch)->from_revision() == 120);
  watch.from_revision = "-1";
  CHECK(ExitCodeFor(BuildWatchRequest("prod", watch).status()) == kExitUsage);
}

}  // namespace
}  // namespace muster::cli
