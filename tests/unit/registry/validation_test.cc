#include "registry/validation.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "registry/limits.h"

namespace muster::registry {
namespace {

// Requires `status` to be INVALID_ARGUMENT with a message that starts
// with `prefix` and contains `fragment`.
void RequireInvalidPrefix(const absl::Status& status, const std::string& prefix,
                          const std::string& fragment = "") {
  const std::string message(status.message());
  INFO("status: " << status.ToString() << "\nexpected prefix: " << prefix);
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(absl::StartsWith(message, prefix));
  REQUIRE(absl::StrContains(message, fragment));
}

// As above, for a message that starts with "<path>: ".
void RequireInvalid(const absl::Status& status, const std::string& path,
                    const std::string& fragment = "") {
  RequireInvalidPrefix(status, path + ": ", fragment);
}

void RequireOk(const absl::Status& status) {
  INFO("status: " << status.ToString());
  REQUIRE(status.ok());
}

using FieldCheck = absl::Status (*)(absl::string_view, absl::string_view);

// Requires `validate(value, field)` to accept every value.
void RequireAllOk(FieldCheck validate, const std::string& field,
                  const std::vector<std::string>& values) {
  for (const std::string& value : values) {
    CAPTURE(value);
    RequireOk(validate(value, field));
  }
}

// Requires `validate(value, field)` to refuse every value, naming `field`.
void RequireAllInvalid(FieldCheck validate, const std::string& field,
                       const std::vector<std::string>& values) {
  for (const std::string& value : values) {
    CAPTURE(value);
    RequireInvalid(validate(value, field), field);
  }
}

// A string of exactly `size` bytes that starts with `prefix` (unique
// prefixes give unique strings).
std::string Sized(const std::string& prefix, size_t size) {
  REQUIRE(prefix.size() <= size);
  return prefix + std::string(size - prefix.size(), 'x');
}

CheckSpec Check(CheckKind kind) {
  CheckSpec check;
  check.kind = kind;
  if (kind == CheckKind::kTtl) check.ttl = absl::Seconds(30);
  if (kind == CheckKind::kHttp) check.http_url = "http://10.0.0.1:8080/healthz";
  return check;
}

Instance ValidInstance() {
  Instance instance;
  instance.realm = "prod";
  instance.service = "web";
  instance.id = "web-1";
  instance.address = "10.0.0.1";
  instance.port = 8080;
  instance.tags = {"canary", "v2"};
  instance.metadata = {{"owner", "team-a"}};
  instance.zone = "eu-west-1a";
  instance.version = "1.2.3";
  instance.set_check(Check(CheckKind::kHttp));
  return instance;
}

const CheckKind kAllKinds[] = {CheckKind::kNone, CheckKind::kTtl,
                               CheckKind::kHttp, CheckKind::kTcp,
                               CheckKind::kGrpc};

TEST_CASE("ValidateName accepts names of the realm rule", "[validation]") {
  RequireAllOk(ValidateName, "realm",
               {"a", "0", "prod", "a-b", "eu-west-1", "9lives", "a--b",
                std::string(limits::kMaxNameBytes, 'a')});
}

TEST_CASE("ValidateName refuses names outside the realm rule", "[validation]") {
  RequireAllInvalid(
      ValidateName, "instance.zone",
      {"", "Prod", "-ab", "ab-", "-", "a_b", "a.b", "a b", "caf\xc3\xa9",
       std::string("a\0b", 3), std::string(limits::kMaxNameBytes + 1, 'a')});
  SECTION("the message names the value and the rule") {
    const absl::Status status = ValidateName("Prod", "realm");
    REQUIRE(
        std::string(status.message()) ==
        "realm: \"Prod\" does not match [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
  }
  SECTION("too long and empty names say so") {
    RequireInvalid(ValidateName(std::string(64, 'a'), "realm"), "realm",
                   "is 64 bytes; at most 63 allowed");
    RequireInvalid(ValidateName("", "realm"), "realm", "is required");
  }
}

TEST_CASE("ValidateInstanceId accepts 1 to 128 id characters", "[validation]") {
  RequireAllOk(ValidateInstanceId, "instance.id",
               {"a", "web-1", "A.b_c:d-9", "10.0.0.1:8080", "...",
                std::string(limits::kMaxInstanceIdBytes, 'Z')});
}

TEST_CASE("ValidateInstanceId refuses bad ids", "[validation]") {
  RequireAllInvalid(
      ValidateInstanceId, "id",
      {"", "a/b", "a b", "a\x01", "caf\xc3\xa9", "a@b", std::string("a\0", 2),
       std::string(limits::kMaxInstanceIdBytes + 1, 'a')});
  RequireInvalid(ValidateInstanceId("a/b", "id"), "id",
                 "\"a/b\" has character '/' at byte 1");
  RequireInvalid(ValidateInstanceId(std::string("ab\x01", 3), "id"), "id",
                 "character 0x01 at byte 2");
}

TEST_CASE("ValidateAddress accepts IP literals and hostnames", "[validation]") {
  const std::string l63(63, 'a');
  RequireAllOk(
      ValidateAddress, "instance.address",
      {"10.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "2001:db8::1",
       "::ffff:10.0.0.1", "FE80::1", "localhost", "web-1.prod.example.com",
       "A.B", "1.2.3.4a", "xn--bcher-kva.example", l63 + ".com",
       // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 bytes, the limit.
       l63 + "." + l63 + "." + l63 + "." + std::string(61, 'd')});
}

TEST_CASE("ValidateAddress refuses malformed addresses", "[validation]") {
  const std::string l63(63, 'a');
  std::vector<std::string> addresses = {
      "",        "256.0.0.1", "1.2.3",          "1.2.3.4.5",    "123",
      "::g",     "1::2::3",   "[::1]",          "fe80::1%eth0", "10.0.0.1:8080",
      "-a.com",  "a-.com",    "a..b",           ".a",           "a.",
      "a_b.com", "a b",       "caf\xc3\xa9.com"};
  addresses.push_back(std::string("::1\0", 4));
  addresses.push_back(std::string("host\0x", 6));
  addresses.push_back(std::string(64, 'a') + ".com");
  addresses.push_back(l63 + "." + l63 + "." + l63 + "." + std::string(62, 'd'));
  RequireAllInvalid(ValidateAddress, "instance.address", addresses);
  RequireInvalid(ValidateAddress("1.2.3", "a"), "a", "not a valid IPv4");
  RequireInvalid(ValidateAddress("::g", "a"), "a", "not a valid IPv6");
  RequireInvalid(ValidateAddress("a-.com", "a"), "a", "starts or ends");
  RequireInvalid(ValidateAddress(std::string(254, 'a'), "a"), "a",
                 "is 254 bytes; at most 253 allowed");
}

TEST_CASE("ValidateRegistration accepts a complete instance", "[validation]") {
  RequireOk(ValidateRegistration(ValidInstance()));
  Instance instance = ValidInstance();
  SECTION("id, zone, version, tags and metadata are optional") {
    instance.id.clear();
    instance.zone.clear();
    instance.version.clear();
    instance.tags.clear();
    instance.metadata.clear();
    instance.set_check(CheckSpec());
    RequireOk(ValidateRegistration(instance));
  }
  SECTION("each check kind") {
    for (CheckKind kind : kAllKinds) {
      instance.set_check(Check(kind));
      RequireOk(ValidateRegistration(instance));
    }
  }
}

TEST_CASE("ValidateRegistration checks the endpoint", "[validation]") {
  Instance instance = ValidInstance();
  SECTION("service is a required name") {
    for (const char* service : {"", "Web"}) {
      instance.service = service;
      RequireInvalid(ValidateRegistration(instance), "instance.service");
    }
  }
  SECTION("a set id must be valid") {
    instance.id = "web/1";
    RequireInvalid(ValidateRegistration(instance), "instance.id");
  }
  SECTION("address is required") {
    instance.address.clear();
    RequireInvalid(ValidateRegistration(instance), "instance.address");
  }
  SECTION("port is 1 to 65535") {
    for (uint32_t port : {1u, 65535u}) {
      instance.port = port;
      RequireOk(ValidateRegistration(instance));
    }
    for (uint32_t port : {0u, 65536u}) {
      instance.port = port;
      RequireInvalid(ValidateRegistration(instance), "instance.port");
    }
  }
}

TEST_CASE("ValidateRegistration checks tags", "[validation]") {
  Instance instance = ValidInstance();
  instance.tags.clear();
  for (size_t i = 0; i < limits::kMaxTags; ++i) {
    instance.tags.push_back(absl::StrCat("tag", i));
  }
  RequireOk(ValidateRegistration(instance));
  SECTION("one tag too many") {
    instance.tags.push_back("one-more");
    RequireInvalid(ValidateRegistration(instance), "instance.tags",
                   "65 tags; at most 64 allowed");
  }
  SECTION("tag length is 1 to 128 bytes") {
    instance.tags[1] = std::string(limits::kMaxTagBytes, 't');
    RequireOk(ValidateRegistration(instance));
    instance.tags[1] += "t";
    RequireInvalid(ValidateRegistration(instance), "instance.tags[1]");
    instance.tags[1].clear();
    RequireInvalid(ValidateRegistration(instance), "instance.tags[1]");
  }
  SECTION("tags have no control characters") {
    instance.tags = {"caf\xc3\xa9", "a b"};
    RequireOk(ValidateRegistration(instance));
    for (const std::string& bad :
         std::vector<std::string>{"a\nb", "\x7f", "a\tb", "x\xc2\x85"}) {
      CAPTURE(bad);
      instance.tags = {"ok", "fine", bad};
      RequireInvalid(ValidateRegistration(instance), "instance.tags[2]",
                     "control character");
    }
  }
}

TEST_CASE("ValidateRegistration checks metadata", "[validation]") {
  Instance instance = ValidInstance();
  instance.metadata.clear();
  for (size_t i = 0; i < limits::kMaxMetadataPairs; ++i) {
    instance.metadata.emplace_back(absl::StrCat("key", i), "v");
  }
  RequireOk(ValidateRegistration(instance));
  SECTION("one pair too many") {
    instance.metadata.emplace_back("zzz", "v");
    RequireInvalid(ValidateRegistration(instance), "instance.metadata",
                   "65 pairs; at most 64 allowed");
  }
  SECTION("keys are 1 to 128 bytes") {
    const std::string key(limits::kMaxMetadataKeyBytes, 'k');
    instance.metadata = {{key, "v"}};
    RequireOk(ValidateRegistration(instance));
    instance.metadata = {{key + "k", "v"}};
    // Long keys are cut short in the path.
    RequireInvalid(ValidateRegistration(instance),
                   "instance.metadata[\"" + std::string(64, 'k') + "...\"]",
                   "key is 129 bytes; at most 128 allowed");
    instance.metadata = {{"", "v"}};
    RequireInvalid(ValidateRegistration(instance), "instance.metadata[\"\"]");
  }
  SECTION("keys have no control characters") {
    instance.metadata = {{"a\x01", "v"}};
    RequireInvalid(ValidateRegistration(instance),
                   "instance.metadata[\"a\\x01\"]", "control character");
  }
  SECTION("values are at most 512 bytes") {
    instance.metadata = {{"owner", std::string(512, 'v')}, {"empty", ""}};
    RequireOk(ValidateRegistration(instance));
    instance.metadata = {{"owner", std::string(513, 'v')}};
    RequireInvalid(ValidateRegistration(instance),
                   "instance.metadata[\"owner\"]");
    instance.metadata = {{"owner", std::string(600, 'v')}};
    REQUIRE(std::string(ValidateRegistration(instance).message()) ==
            "instance.metadata[\"owner\"]: value is 600 bytes; at most 512 "
            "allowed");
  }
}

TEST_CASE("ValidateRegistration checks weight zone version", "[validation]") {
  Instance instance = ValidInstance();
  SECTION("weight is at most 10000") {
    for (uint32_t weight : {0u, 1u, 10000u}) {
      instance.weight = weight;
      RequireOk(ValidateRegistration(instance));
    }
    instance.weight = 10001;
    RequireInvalid(ValidateRegistration(instance), "instance.weight");
  }
  SECTION("zone follows the name rule when set") {
    instance.zone = std::string(63, 'z');
    RequireOk(ValidateRegistration(instance));
    for (const std::string& zone :
         std::vector<std::string>{std::string(64, 'z'), "EU", "eu_west"}) {
      instance.zone = zone;
      RequireInvalid(ValidateRegistration(instance), "instance.zone");
    }
  }
  SECTION("version is at most 128 bytes") {
    instance.version = std::string(limits::kMaxVersionBytes, 'v');
    RequireOk(ValidateRegistration(instance));
    instance.version += "v";
    RequireInvalid(ValidateRegistration(instance), "instance.version");
  }
  SECTION("the check is validated under instance.check") {
    instance.mutable_check()->interval = absl::Milliseconds(500);
    RequireInvalid(ValidateRegistration(instance), "instance.check.interval");
  }
}

TEST_CASE("ValidateRegistration caps the total size", "[validation]") {
  // Every field at or under its own limit, adding up to exactly 64 KiB.
  Instance instance;
  instance.realm = "prod";        // 4
  instance.service = "web";       // 3
  instance.address = "10.0.0.1";  // 8
  instance.port = 80;
  instance.set_check(Check(CheckKind::kHttp));
  instance.mutable_check()->http_url = "http://h/";  // 9
  for (size_t i = 0; i < 16; ++i) {                  // 16 * (128 + 1024)
    instance.mutable_check()->http_headers.emplace_back(
        Sized(absl::StrCat("h", i, "-"), 128), std::string(1024, 'v'));
  }
  for (size_t i = 0; i < 64; ++i) {  // 64 * 128
    instance.tags.push_back(Sized(absl::StrCat("t", i, "-"), 128));
  }
  for (size_t i = 0; i < 64; ++i) {  // 64 * 128 + 63 * 480 + 456
    instance.metadata.emplace_back(Sized(absl::StrCat("k", i, "-"), 128),
                                   std::string(i < 63 ? 480 : 456, 'v'));
  }
  REQUIRE(4 + 3 + 8 + 9 + 16 * (128 + 1024) + 64 * 128 + 64 * 128 + 63 * 480 +
              456 ==
          limits::kMaxInstanceBytes);
  RequireOk(ValidateRegistration(instance));
  instance.version = "1";
  RequireInvalid(ValidateRegistration(instance), "instance",
                 "65537 bytes; at most 65536 allowed");
}

TEST_CASE("ValidateCheckSpec accepts known kinds only", "[validation]") {
  for (CheckKind kind : kAllKinds) {
    CAPTURE(static_cast<int>(kind));
    RequireOk(ValidateCheckSpec(Check(kind), "instance.check"));
  }
  CheckSpec check;
  check.kind = static_cast<CheckKind>(9);
  RequireInvalid(ValidateCheckSpec(check, "instance.check"),
                 "instance.check.kind");
}

// Sets `member` of `check` to each value of `good` (each must pass) and
// of `bad` (each must fail with a message on `path`).
template <typename T>
void RequireField(CheckSpec check, T CheckSpec::*member,
                  const std::string& path, const std::vector<T>& good,
                  const std::vector<T>& bad) {
  for (const T& value : good) {
    CAPTURE(value);
    check.*member = value;
    RequireOk(ValidateCheckSpec(check, "c"));
  }
  for (const T& value : bad) {
    CAPTURE(value);
    check.*member = value;
    RequireInvalid(ValidateCheckSpec(check, "c"), path);
  }
}

TEST_CASE("ValidateCheckSpec bounds interval and timeout", "[validation]") {
  RequireField(Check(CheckKind::kTcp), &CheckSpec::interval, "c.interval",
               {absl::ZeroDuration(), absl::Seconds(1), absl::Hours(24)},
               {absl::Milliseconds(999), absl::Hours(24) + absl::Nanoseconds(1),
                absl::Seconds(-1), absl::InfiniteDuration()});
  CheckSpec slow = Check(CheckKind::kTcp);
  slow.interval = absl::Hours(2);
  RequireField(slow, &CheckSpec::timeout, "c.timeout",
               {absl::ZeroDuration(), absl::Milliseconds(100), absl::Hours(1)},
               {absl::Milliseconds(99), absl::Hours(1) + absl::Nanoseconds(1),
                absl::Milliseconds(-100)});
  SECTION("negative durations say so") {
    slow.interval = absl::Seconds(-1);
    RequireInvalid(ValidateCheckSpec(slow, "c"), "c.interval", "is negative");
  }
  SECTION("timeout is shorter than interval") {
    slow.interval = absl::Seconds(5);
    RequireField(slow, &CheckSpec::timeout, "c.timeout",
                 {absl::Seconds(5) - absl::Nanoseconds(1)},
                 {absl::Seconds(5), absl::Seconds(6)});
    slow.timeout = absl::Seconds(5);
    RequireInvalid(ValidateCheckSpec(slow, "c"), "c.timeout",
                   "must be shorter than interval 5s");
  }
  SECTION("ttl and none checks set neither") {
    for (CheckKind kind : {CheckKind::kTtl, CheckKind::kNone}) {
      RequireField(Check(kind), &CheckSpec::interval, "c.interval", {},
                   {absl::Seconds(10)});
      RequireField(Check(kind), &CheckSpec::timeout, "c.timeout", {},
                   {absl::Seconds(1)});
    }
  }
}

TEST_CASE("ValidateCheckSpec requires ttl for ttl only", "[validation]") {
  RequireField(Check(CheckKind::kTtl), &CheckSpec::ttl, "c.ttl",
               {absl::Seconds(1), absl::Hours(24)},
               {absl::ZeroDuration(), absl::Milliseconds(999),
                absl::Hours(24) + absl::Nanoseconds(1), absl::Seconds(-30)});
  for (CheckKind kind : {CheckKind::kNone, CheckKind::kHttp, CheckKind::kTcp,
                         CheckKind::kGrpc}) {
    RequireField(Check(kind), &CheckSpec::ttl, "c.ttl", {absl::ZeroDuration()},
                 {absl::Seconds(30)});
  }
  CheckSpec check = Check(CheckKind::kTcp);
  check.ttl = absl::Seconds(30);
  RequireInvalid(ValidateCheckSpec(check, "c"), "c.ttl",
                 "must be unset for tcp checks");
  check = Check(CheckKind::kTtl);
  check.ttl = absl::ZeroDuration();
  RequireInvalid(ValidateCheckSpec(check, "c"), "c.ttl", "is required");
}

TEST_CASE("ValidateCheckSpec bounds thresholds and eviction", "[validation]") {
  for (CheckKind kind :
       {CheckKind::kTtl, CheckKind::kHttp, CheckKind::kTcp, CheckKind::kGrpc}) {
    CAPTURE(static_cast<int>(kind));
    RequireField(Check(kind), &CheckSpec::healthy_threshold,
                 "c.healthy_threshold", {0, 1, 10}, {11, 100});
    RequireField(Check(kind), &CheckSpec::unhealthy_threshold,
                 "c.unhealthy_threshold", {0, 1, 10}, {11, 100});
    RequireField(Check(kind), &CheckSpec::deregister_after,
                 "c.deregister_after",
                 {absl::ZeroDuration(), absl::Minutes(1), absl::Hours(24 * 30)},
                 {absl::Seconds(59), absl::Hours(24 * 30) + absl::Seconds(1),
                  absl::Minutes(-5)});
  }
  SECTION("none checks set neither") {
    RequireField(CheckSpec(), &CheckSpec::healthy_threshold,
                 "c.healthy_threshold", {0}, {1});
    RequireField(CheckSpec(), &CheckSpec::unhealthy_threshold,
                 "c.unhealthy_threshold", {0}, {3});
    RequireField(CheckSpec(), &CheckSpec::deregister_after,
                 "c.deregister_after", {absl::ZeroDuration()},
                 {absl::Minutes(5)});
  }
}

TEST_CASE("ValidateCheckSpec checks the http url and method", "[validation]") {
  const std::string base = "http://example.com/";
  RequireField(
      Check(CheckKind::kHttp), &CheckSpec::http_url, "c.http_url",
      {"https://example.com", "HTTP://Example.com",
       "http://10.0.0.1:8080/healthz?full=1#top", "http://[::1]:8080/x",
       "http://u:p@h/", Sized(base, limits::kMaxUrlBytes)},
      {"", "ftp://example.com/", "/healthz", "example.com/healthz",
       "http:/example.com", "http://", "http:///healthz", "http://:80/",
       "http://user@/", "http://a b/", "http://a/\tb", "http://a/\x01",
       "http://a/\n", std::string("http://a/\0", 10),
       Sized(base, limits::kMaxUrlBytes + 1)});
  RequireField(Check(CheckKind::kHttp), &CheckSpec::http_method,
               "c.http_method", {"", "GET", "HEAD", "POST"},
               {"get", "PUT", "DELETE", "GET "});
}

TEST_CASE("ValidateCheckSpec checks the http headers", "[validation]") {
  CheckSpec check = Check(CheckKind::kHttp);
  SECTION("at most 16 headers") {
    for (int i = 0; i < 16; ++i) {
      check.http_headers.emplace_back(absl::StrCat("X-H", i), "v");
    }
    RequireOk(ValidateCheckSpec(check, "c"));
    check.http_headers.emplace_back("X-More", "v");
    RequireInvalid(ValidateCheckSpec(check, "c"), "c.http_headers",
                   "17 headers; at most 16 allowed");
  }
  SECTION("names are tokens of 1 to 128 bytes") {
    for (const std::string& name : std::vector<std::string>{
             "X-Token", "a!#$%&'*+-.^_`|~9", std::string(128, 'n')}) {
      check.http_headers = {{name, "v"}};
      RequireOk(ValidateCheckSpec(check, "c"));
    }
    for (const std::string& name : std::vector<std::string>{
             "X Bad", "X:Bad", "X\x01", "caf\xc3\xa9", std::string(129, 'n')}) {
      check.http_headers = {{name, "v"}};
      RequireInvalidPrefix(ValidateCheckSpec(check, "c"), "c.http_headers[\"");
    }
    check.http_headers = {{"X Bad", "v"}};
    RequireInvalid(ValidateCheckSpec(check, "c"), "c.http_headers[\"X Bad\"]",
                   "not a valid http token");
    check.http_headers = {{"", "v"}};
    RequireInvalid(ValidateCheckSpec(check, "c"), "c.http_headers[\"\"]");
  }
  SECTION("values are at most 1024 bytes without control characters") {
    check.http_headers = {{"X-V", std::string(1024, 'v')}, {"X-E", ""}};
    RequireOk(ValidateCheckSpec(check, "c"));
    for (const std::string& value : std::vector<std::string>{
             std::string(1025, 'v'), "a\rb", "a\nb", std::string("a\0b", 3),
             "a\tb", "a\x7f", "a\xc2\x85"}) {
      check.http_headers = {{"X-V", value}};
      RequireInvalid(ValidateCheckSpec(check, "c"), "c.http_headers[\"X-V\"]");
    }
  }
}

TEST_CASE("ValidateCheckSpec keeps http fields to http", "[validation]") {
  for (CheckKind kind :
       {CheckKind::kNone, CheckKind::kTtl, CheckKind::kTcp, CheckKind::kGrpc}) {
    CAPTURE(static_cast<int>(kind));
    RequireField(Check(kind), &CheckSpec::http_url, "c.http_url", {},
                 {"http://a/"});
    RequireField(Check(kind), &CheckSpec::http_method, "c.http_method", {},
                 {"GET"});
    RequireField(Check(kind), &CheckSpec::http_headers, "c.http_headers", {},
                 {{{"X-A", "b"}}});
    RequireField(Check(kind), &CheckSpec::http_follow_redirects,
                 "c.http_follow_redirects", {false}, {true});
  }
}

TEST_CASE("ValidateCheckSpec keeps grpc_service to grpc", "[validation]") {
  RequireField(Check(CheckKind::kGrpc), &CheckSpec::grpc_service,
               "c.grpc_service",
               {"", std::string(limits::kMaxGrpcServiceBytes, 's')},
               {std::string(limits::kMaxGrpcServiceBytes + 1, 's')});
  for (CheckKind kind :
       {CheckKind::kNone, CheckKind::kTtl, CheckKind::kHttp, CheckKind::kTcp}) {
    RequireField(Check(kind), &CheckSpec::grpc_service, "c.grpc_service", {},
                 {"muster.v1.Registry"});
  }
}

absl::StatusOr<CheckSpec> Resolve(
    const CheckSpec& check,
    absl::Duration realm_default = absl::ZeroDuration()) {
  return ResolveCheckSpec(check, realm_default, "instance.check");
}

// Resolves a spec that must be valid.
CheckSpec Resolved(const CheckSpec& check,
                   absl::Duration realm_default = absl::ZeroDuration()) {
  absl::StatusOr<CheckSpec> resolved = Resolve(check, realm_default);
  RequireOk(resolved.status());
  return *resolved;
}

TEST_CASE("ResolveCheckSpec fills the defaults of each kind", "[validation]") {
  SECTION("none comes back empty") {
    const CheckSpec resolved = Resolved(CheckSpec());
    REQUIRE(resolved == CheckSpec());
  }
  SECTION("ttl gets thresholds and deregister_after only") {
    const CheckSpec resolved = Resolved(Check(CheckKind::kTtl));
    REQUIRE(resolved.ttl == absl::Seconds(30));
    REQUIRE(resolved.interval == absl::ZeroDuration());
    REQUIRE(resolved.timeout == absl::ZeroDuration());
    REQUIRE(resolved.healthy_threshold == kDefaultHealthyThreshold);
    REQUIRE(resolved.unhealthy_threshold == kDefaultUnhealthyThreshold);
    REQUIRE(resolved.deregister_after == kDefaultDeregisterAfter);
  }
  SECTION("http gets everything and GET") {
    const CheckSpec resolved = Resolved(Check(CheckKind::kHttp));
    REQUIRE(resolved.interval == kDefaultCheckInterval);
    REQUIRE(resolved.timeout == kDefaultCheckTimeout);
    REQUIRE(resolved.healthy_threshold == kDefaultHealthyThreshold);
    REQUIRE(resolved.unhealthy_threshold == kDefaultUnhealthyThreshold);
    REQUIRE(resolved.deregister_after == kDefaultDeregisterAfter);
    REQUIRE(resolved.http_method == "GET");
  }
  SECTION("set fields are kept") {
    CheckSpec check = Check(CheckKind::kHttp);
    check.interval = absl::Seconds(30);
    check.timeout = absl::Seconds(7);
    check.healthy_threshold = 2;
    check.unhealthy_threshold = 5;
    check.deregister_after = absl::Hours(1);
    check.http_method = "HEAD";
    const CheckSpec resolved = Resolved(check, absl::Hours(2));
    REQUIRE(resolved == check);
  }
  SECTION("tcp and grpc use no http method") {
    for (CheckKind kind : {CheckKind::kTcp, CheckKind::kGrpc}) {
      const CheckSpec resolved = Resolved(Check(kind));
      REQUIRE(resolved.http_method.empty());
      REQUIRE(resolved.timeout == kDefaultCheckTimeout);
    }
  }
}

TEST_CASE("ResolveCheckSpec uses the realm deregister_after", "[validation]") {
  for (CheckKind kind : {CheckKind::kTtl, CheckKind::kTcp}) {
    for (absl::Duration realm : {absl::Minutes(1), absl::Hours(24 * 30)}) {
      const CheckSpec resolved = Resolved(Check(kind), realm);
      REQUIRE(resolved.deregister_after == realm);
    }
  }
  SECTION("a realm default outside the limits is a bug of the caller") {
    for (absl::Duration realm :
         {absl::Seconds(59), absl::Hours(24 * 30) + absl::Seconds(1),
          absl::Minutes(-1)}) {
      REQUIRE(Resolve(Check(CheckKind::kTcp), realm).status().code() ==
              absl::StatusCode::kInternal);
    }
  }
}

TEST_CASE("ResolveCheckSpec caps the default timeout", "[validation]") {
  CheckSpec check = Check(CheckKind::kTcp);
  const std::pair<absl::Duration, absl::Duration> cases[] = {
      {absl::Seconds(1), absl::Milliseconds(500)},
      {absl::Seconds(3), absl::Milliseconds(1500)},
      {absl::Seconds(4), absl::Seconds(2)},
      {absl::Seconds(5), absl::Seconds(2)},
      {absl::Hours(24), absl::Seconds(2)}};
  for (const auto& [interval, timeout] : cases) {
    CAPTURE(absl::FormatDuration(interval));
    check.interval = interval;
    const CheckSpec resolved = Resolved(check);
    REQUIRE(resolved.timeout == timeout);
  }
}

TEST_CASE("ResolveCheckSpec refuses invalid specs", "[validation]") {
  CheckSpec check = Check(CheckKind::kGrpc);
  check.timeout = kDefaultCheckInterval - absl::Milliseconds(1);
  RequireOk(Resolve(check).status());
  check.timeout = kDefaultCheckInterval;
  RequireInvalid(Resolve(check).status(), "instance.check.timeout",
                 "shorter than interval 10s (the default)");
  check = Check(CheckKind::kHttp);
  check.http_url = "ftp://a/";
  RequireInvalid(Resolve(check).status(), "instance.check.http_url");
  check = Check(CheckKind::kTtl);
  check.ttl = absl::ZeroDuration();
  RequireInvalid(Resolve(check).status(), "instance.check.ttl");
}

TEST_CASE("ResolveCheckSpec is idempotent", "[validation]") {
  CheckSpec short_interval = Check(CheckKind::kHttp);
  short_interval.interval = absl::Seconds(1);
  CheckSpec full = Check(CheckKind::kGrpc);
  full.grpc_service = "svc";
  full.healthy_threshold = 10;
  for (const CheckSpec& check :
       {CheckSpec(), Check(CheckKind::kTtl), Check(CheckKind::kHttp),
        Check(CheckKind::kTcp), short_interval, full}) {
    for (absl::Duration realm : {absl::ZeroDuration(), absl::Hours(1)}) {
      const CheckSpec once = Resolved(check, realm);
      const CheckSpec twice = Resolved(once, realm);
      REQUIRE(twice == once);
    }
  }
}

TEST_CASE("ValidateRealmSettings checks every setting", "[validation]") {
  Realm realm;
  realm.name = "prod";
  RequireOk(ValidateRealmSettings(realm));
  SECTION("name and description") {
    for (const char* name : {"", "Prod", "prod_1"}) {
      realm.name = name;
      RequireInvalid(ValidateRealmSettings(realm), "name");
    }
    realm.name = "prod";
    realm.description = std::string(limits::kMaxDescriptionBytes, 'd');
    RequireOk(ValidateRealmSettings(realm));
    realm.description += "d";
    RequireInvalid(ValidateRealmSettings(realm), "settings.description");
  }
  SECTION("eviction protection share") {
    for (double share : {0.0, 0.5, 1.0}) {
      realm.eviction_protection_share = share;
      RequireOk(ValidateRealmSettings(realm));
    }
    for (double share :
         {-0.01, 1.01, std::nan(""), std::numeric_limits<double>::infinity(),
          -std::numeric_limits<double>::infinity()}) {
      CAPTURE(share);
      realm.eviction_protection_share = share;
      RequireInvalid(ValidateRealmSettings(realm),
                     "settings.eviction_protection_share");
    }
  }
  SECTION("default deregister_after") {
    for (absl::Duration after :
         {absl::ZeroDuration(), absl::Minutes(1), absl::Hours(24 * 30)}) {
      realm.default_deregister_after = after;
      RequireOk(ValidateRealmSettings(realm));
    }
    for (absl::Duration after :
         {absl::Seconds(59), absl::Hours(24 * 30) + absl::Seconds(1),
          absl::Minutes(-1)}) {
      realm.default_deregister_after = after;
      RequireInvalid(ValidateRealmSettings(realm),
                     "settings.default_deregister_after");
    }
  }
}

TEST_CASE("ValidateListQuery checks every field", "[validation]") {
  ListQuery query;
  query.realm = "prod";
  RequireOk(ValidateListQuery(query));
  SECTION("realm is required and follows the rule") {
    for (const char* realm : {"", "Prod"}) {
      query.realm = realm;
      RequireInvalid(ValidateListQuery(query), "realm");
    }
  }
  SECTION("service and zone follow the rule when set") {
    query.service = "web";
    query.zone = "eu-1";
    RequireOk(ValidateListQuery(query));
    query.service = "Web";
    RequireInvalid(ValidateListQuery(query), "service");
    query.service = "web";
    query.zone = "EU";
    RequireInvalid(ValidateListQuery(query), "zone");
  }
  SECTION("page size is at most 1000") {
    for (uint32_t size : {0u, 1u, 1000u}) {
      query.page_size = size;
      RequireOk(ValidateListQuery(query));
    }
    query.page_size = 1001;
    RequireInvalid(ValidateListQuery(query), "page_size");
  }
  SECTION("at most 64 non-empty tags") {
    for (size_t i = 0; i < limits::kMaxFilterTags; ++i) {
      query.tags.push_back(absl::StrCat("t", i));
    }
    RequireOk(ValidateListQuery(query));
    query.tags.push_back("more");
    RequireInvalid(ValidateListQuery(query), "tags");
    query.tags = {"a", ""};
    RequireInvalid(ValidateListQuery(query), "tags[1]");
  }
  SECTION("at most 64 pairs with non-empty keys") {
    for (size_t i = 0; i < limits::kMaxFilterMetadata; ++i) {
      query.metadata.emplace_back(absl::StrCat("k", i), "");
    }
    RequireOk(ValidateListQuery(query));
    query.metadata.emplace_back("more", "v");
    RequireInvalid(ValidateListQuery(query), "metadata");
    query.metadata = {{"", "v"}};
    RequireInvalid(ValidateListQuery(query), "metadata[\"\"]");
  }
}

TEST_CASE("ValidateReason caps length and control chars", "[validation]") {
  RequireAllOk(ValidateReason, "reason",
               {"", "maintenance: kernel upgrade", "caf\xc3\xa9",
                std::string(limits::kMaxReasonBytes, 'r')});
  RequireAllInvalid(ValidateReason, "reason",
                    {std::string(limits::kMaxReasonBytes + 1, 'r'), "a\nb",
                     "a\tb", std::string("a\0b", 3), "\x1b[31m", "x\xc2\x9f"});
}

TEST_CASE("TruncateUtf8 cuts at a character boundary", "[validation]") {
  const std::string e_acute = "\xc3\xa9";        // 2 bytes
  const std::string euro = "\xe2\x82\xac";       // 3 bytes
  const std::string smile = "\xf0\x9f\x98\x80";  // 4 bytes
  REQUIRE(TruncateUtf8("abc", 3) == "abc");
  REQUIRE(TruncateUtf8("abc", 10) == "abc");
  REQUIRE(TruncateUtf8("abc", 2) == "ab");
  REQUIRE(TruncateUtf8("abc", 0).empty());
  REQUIRE(TruncateUtf8("a" + e_acute, 2) == "a");
  REQUIRE(TruncateUtf8("a" + e_acute, 3) == "a" + e_acute);
  for (size_t max : {1, 2, 3}) {
    REQUIRE(TruncateUtf8("a" + euro + "b", max) == "a");
  }
  REQUIRE(TruncateUtf8("a" + euro + "b", 4) == "a" + euro);
  for (size_t max : {0, 1, 2, 3}) {
    REQUIRE(TruncateUtf8(smile + smile, max).empty());
  }
  for (size_t max : {4, 5, 6, 7}) {
    REQUIRE(TruncateUtf8(smile + smile, max) == smile);
  }
  SECTION("check output keeps at most 4 KiB") {
    const std::string output = std::string(4095, 'o') + e_acute;
    REQUIRE(TruncateUtf8(output, limits::kMaxCheckOutputBytes) ==
            std::string(4095, 'o'));
  }
  SECTION("malformed input is not eaten whole") {
    const std::string junk = "a" + std::string(8, '\x80');
    const std::string cut = TruncateUtf8(junk, 6);
    REQUIRE(!cut.empty());
    REQUIRE(cut.size() <= 6);
  }
}

}  // namespace
}  // namespace muster::registry

namespace muster::registry {
namespace {

// One rule for control characters: every string field a client sets
// refuses C0 (tab and newline included), DEL and C1, naming the field.
TEST_CASE("every free-text field refuses control characters",
          "[validation][control]") {
  const std::vector<std::string> bad = {
      "a\tb", "a\nb", "a\x01", std::string("a\0b", 3), "a\x7f", "a\xc2\x9f"};
  for (const std::string& value : bad) {
    CAPTURE(value);
    Instance instance = ValidInstance();
    instance.tags = {value};
    RequireInvalid(ValidateRegistration(instance), "instance.tags[0]",
                   "control character");
    instance = ValidInstance();
    instance.metadata = {{"k", value}};
    RequireInvalid(ValidateRegistration(instance), "instance.metadata[\"k\"]",
                   "control character");
    instance = ValidInstance();
    instance.version = value;
    RequireInvalid(ValidateRegistration(instance), "instance.version",
                   "control character");
    instance = ValidInstance();
    instance.set_check(Check(CheckKind::kGrpc));
    instance.mutable_check()->grpc_service = value;
    RequireInvalid(ValidateRegistration(instance),
                   "instance.check.grpc_service", "control character");
    instance = ValidInstance();
    instance.mutable_check()->http_headers = {{"X-V", value}};
    RequireInvalid(ValidateRegistration(instance),
                   "instance.check.http_headers[\"X-V\"]", "control character");

    Realm realm;
    realm.name = "prod";
    realm.description = value;
    RequireInvalid(ValidateRealmSettings(realm), "settings.description",
                   "control character");

    ListQuery query;
    query.realm = "prod";
    query.tags = {value};
    RequireInvalid(ValidateListQuery(query), "tags[0]", "control character");
    query.tags.clear();
    query.metadata = {{"k", value}};
    RequireInvalid(ValidateListQuery(query), "metadata[\"k\"]",
                   "control character");

    RequireInvalid(ValidateReason(value, "reason"), "reason",
                   "control character");
  }
  // Printable text, UTF-8 included, is fine everywhere.
  Instance instance = ValidInstance();
  instance.version = "1.2.3 (build \xc3\xa9t\xc3\xa9)";
  instance.metadata = {{"note", "caf\xc3\xa9 \xe2\x9c\x93"}};
  RequireOk(ValidateRegistration(instance));
}

}  // namespace
}  // namespace muster::registry
