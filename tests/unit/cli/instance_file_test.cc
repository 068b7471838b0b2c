// register -f's file formats: JSON and YAML, a list or {"instances": [...]},
// every field, and errors naming the file, the entry and the field.

#include "cli/instance_file.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cli/errors.h"

namespace muster::cli {
namespace {

std::vector<v1::RegisterRequest> ParseOk(const std::string& text) {
  absl::StatusOr<std::vector<v1::RegisterRequest>> r =
      ParseInstanceFile("instances.yaml", text, "prod");
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

// The error message for `text`, REQUIRing a usage error.
std::string ParseError(const std::string& text) {
  absl::StatusOr<std::vector<v1::RegisterRequest>> r =
      ParseInstanceFile("instances.yaml", text, "prod");
  REQUIRE_FALSE(r.ok());
  CHECK(ExitCodeFor(r.status()) == kExitUsage);
  return std::string(r.status().message());
}

TEST_CASE("A YAML list with every field", "[instance_file]") {
  std::vector<v1::RegisterRequest> r = ParseOk(R"(
- service: web
  id: web-1
  address: 10.0.0.7
  port: 8080
  tags: [canary, v2]
  metadata: {team: payments, owner: ""}
  weight: 10
  zone: eu-1
  version: 1.4.2
  check:
    kind: http
    http_url: http://10.0.0.7:8080/health
    http_method: HEAD
    http_headers: {X-Probe: muster}
    http_follow_redirects: true
    interval: 10s
    timeout: 500ms
    deregister_after: 1h30m
    healthy_threshold: 2
    unhealthy_threshold: 5
- service: batch
  address: 10.0.0.9
  port: 9000
  check: {kind: ttl, ttl: 30s}
)");
  REQUIRE(r.size() == 2);
  CHECK(r[0].realm() == "prod");
  const v1::Instance& web = r[0].instance();
  CHECK(web.service() == "web");
  CHECK(web.id() == "web-1");
  CHECK(web.address() == "10.0.0.7");
  CHECK(web.port() == 8080);
  CHECK(web.tags_size() == 2);
  CHECK(web.tags(1) == "v2");
  CHECK(web.metadata().at("team") == "payments");
  CHECK(web.metadata().at("owner").empty());
  CHECK(web.weight() == 10);
  CHECK(web.zone() == "eu-1");
  CHECK(web.version() == "1.4.2");
  const v1::CheckSpec& check = web.check();
  CHECK(check.kind() == v1::CHECK_KIND_HTTP);
  CHECK(check.http_url() == "http://10.0.0.7:8080/health");
  CHECK(check.http_method() == "HEAD");
  CHECK(check.http_headers().at("X-Probe") == "muster");
  CHECK(check.http_follow_redirects());
  CHECK(check.interval().seconds() == 10);
  CHECK(check.timeout().nanos() == 500000000);
  CHECK(check.deregister_after().seconds() == 5400);
  CHECK(check.healthy_threshold() == 2);
  CHECK(check.unhealthy_threshold() == 5);
  const v1::Instance& batch = r[1].instance();
  CHECK(batch.id().empty());
  CHECK(batch.check().kind() == v1::CHECK_KIND_TTL);
  CHECK(batch.check().ttl().seconds() == 30);
}

TEST_CASE("JSON, both shapes, and lowerCamelCase names", "[instance_file]") {
  SECTION("an object with instances") {
    std::vector<v1::RegisterRequest> r = ParseOk(R"({"instances": [
      {"service": "api", "id": "api-1", "address": "api.internal",
       "port": 9090, "check": {"kind": "grpc", "grpcService": "api.v1",
       "grpcTls": true, "tlsServerName": "api.internal"}},
      {"service": "db", "address": "10.0.0.3", "port": "5432",
       "check": {"kind": "CHECK_KIND_TCP"}}]})");
    REQUIRE(r.size() == 2);
    CHECK(r[0].instance().check().kind() == v1::CHECK_KIND_GRPC);
    CHECK(r[0].instance().check().grpc_service() == "api.v1");
    CHECK(r[0].instance().check().grpc_tls());
    CHECK(r[0].instance().check().tls_server_name() == "api.internal");
    CHECK(r[1].instance().port() == 5432);
    CHECK(r[1].instance().check().kind() == v1::CHECK_KIND_TCP);
  }
  SECTION("a list, no check means none") {
    std::vector<v1::RegisterRequest> r =
        ParseOk(R"([{"service": "web", "address": "10.0.0.1", "port": 80}])");
    REQUIRE(r.size() == 1);
    CHECK(r[0].instance().check().kind() == v1::CHECK_KIND_NONE);
  }
  SECTION("YAML object shape, check as a word") {
    std::vector<v1::RegisterRequest> r = ParseOk(
        "instances:\n"
        "  - {service: web, address: h, port: 1, check: tcp}\n");
    CHECK(r[0].instance().check().kind() == v1::CHECK_KIND_TCP);
  }
}

TEST_CASE("A bad entry names the file, the entry and the field",
          "[instance_file]") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"- {service: web, address: h, port: x}",
       "instances.yaml: instance 1 (line 1): port: want an integer in "
       "1..65535, got \"x\""},
      {"- {service: web, address: h}", "instance 1 (line 1): port: required"},
      {"- {address: h, port: 1}", "instance 1 (line 1): service: required"},
      {"- {service: web, address: h, port: 1, colour: red}",
       "instance 1 (line 1): unknown field \"colour\""},
      {"- {service: web, address: h, port: 1, tags: canary}",
       "tags: want a list"},
      {"- {service: web, address: h, port: 1, weight: -1}", "weight: "},
      {"- {service: web, address: h, port: 1, check: {ttl: 3s}}",
       "check.kind: required"},
      {"- {service: web, address: h, port: 1, check: {kind: magic}}",
       "check.kind: want ttl, http, tcp, grpc or none, got \"magic\""},
      {"- {service: web, address: h, port: 1, check: {kind: ttl}}",
       "check.ttl: required"},
      {"- {service: web, address: h, port: 1, check: {kind: ttl, ttl: 3s, "
       "interval: 1s}}",
       "check.interval: does not apply to a check of kind ttl"},
      {"- {service: web, address: h, port: 1, check: {kind: tcp, "
       "http_url: x}}",
       "check.http_url: does not apply to a check of kind tcp"},
      {"- {service: web, address: h, port: 1, check: {kind: http}}",
       "check.http_url: required"},
      {"- {service: web, address: h, port: 1, check: {kind: ttl, ttl: soon}}",
       "check.ttl: "},
      {"- {service: web, address: h, port: 1, check: {kind: http, "
       "http_url: u, http_follow_redirects: maybe}}",
       "check.http_follow_redirects: want true or false, got \"maybe\""},
      {"- {service: web, address: h, port: 1, check: {kind: grpc, "
       "tls_skip_verify: true}}",
       "need grpc_tls: true"},
      {"- {service: web, id: a, address: h, port: 1}\n"
       "- {service: web, id: a, address: h, port: 2}",
       "instances.yaml: instance 2 (line 2): id: web/a is also instance 1"},
      {"- 42", "instance 1 (line 1): want an object"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    std::string message = ParseError(c.text);
    INFO(message);
    CHECK(message.find(c.message) != std::string::npos);
  }
}

TEST_CASE("The entry number and line point at the bad entry",
          "[instance_file]") {
  CHECK(ParseError("instances:\n"
                   "  - {service: web, address: h, port: 1}\n"
                   "  - {service: web, address: h, port: 2}\n"
                   "  - service: web\n"
                   "    address: h\n"
                   "    port: 70000\n") ==
        "instances.yaml: instance 3 (line 4): port: want an integer in "
        "1..65535, got \"70000\"");
}

TEST_CASE("A file that is not a list of instances", "[instance_file]") {
  CHECK(ParseError("") ==
        "instances.yaml: want a list of instances, or an object "
        "{\"instances\": [...]}");
  CHECK(ParseError("[]") == "instances.yaml: no instances in the file");
  CHECK(ParseError("{\"items\": []}").find("unknown field \"items\"") !=
        std::string::npos);
  CHECK(ParseError("- {service: web\n  address: [")
            .find("instances.yaml: line ") == 0);
  CHECK(ParseError("service: web").find("unknown field \"service\"") !=
        std::string::npos);
}

}  // namespace
}  // namespace muster::cli
