#include "cli/flag_values.h"

#include <catch2/catch.hpp>

#include "cli/errors.h"

namespace muster::cli {
namespace {

TEST_CASE("ParseKeyValue splits at the first equals sign", "[flags]") {
  auto kv = ParseKeyValue("--meta", "team=payments");
  REQUIRE(kv.ok());
  CHECK(kv->first == "team");
  CHECK(kv->second == "payments");

  kv = ParseKeyValue("--meta", "expr=a=b");
  REQUIRE(kv.ok());
  CHECK(kv->first == "expr");
  CHECK(kv->second == "a=b");

  kv = ParseKeyValue("--meta", "owner=");
  REQUIRE(kv.ok());
  CHECK(kv->first == "owner");
  CHECK(kv->second.empty());
}

TEST_CASE("ParseKeyValue rejects a missing key or equals sign", "[flags]") {
  for (const char* text : {"team", "=x", "", "="}) {
    auto kv = ParseKeyValue("--meta", text);
    INFO(text);
    REQUIRE_FALSE(kv.ok());
    CHECK(ExitCodeFor(kv.status()) == kExitUsage);
    CHECK(std::string(kv.status().message()).rfind("--meta:", 0) == 0);
  }
}

TEST_CASE("ParseKeyValues refuses a key given twice", "[flags]") {
  auto map = ParseKeyValues("--meta", {"a=1", "b=2"});
  REQUIRE(map.ok());
  CHECK(map->size() == 2);
  CHECK(map->at("b") == "2");
  auto dup = ParseKeyValues("--meta", {"a=1", "a=2"});
  REQUIRE_FALSE(dup.ok());
  CHECK(std::string(dup.status().message()).find("\"a\" given twice") !=
        std::string::npos);
}

TEST_CASE("ParsePort accepts 1..65535 only", "[flags]") {
  CHECK(*ParsePort("--port", "1") == 1);
  CHECK(*ParsePort("--port", "65535") == 65535);
  for (const char* text : {"0", "65536", "-1", "80a", "", " 80", "+80",
                           "99999999999999999999999"}) {
    INFO(text);
    auto port = ParsePort("--port", text);
    REQUIRE_FALSE(port.ok());
    CHECK(ExitCodeFor(port.status()) == kExitUsage);
  }
}

TEST_CASE("ParseUnsigned honours its bounds", "[flags]") {
  CHECK(*ParseUnsigned("--n", "18446744073709551615", 0, UINT64_MAX) ==
        UINT64_MAX);
  CHECK_FALSE(ParseUnsigned("--n", "18446744073709551616", 0, UINT64_MAX).ok());
  CHECK_FALSE(ParseUnsigned("--n", "11", 1, 10).ok());
  CHECK_FALSE(ParseUnsigned("--n", "0", 1, 10).ok());
}

TEST_CASE("ParseShare accepts fractions above 0 up to 1", "[flags]") {
  CHECK(*ParseShare("--s", "0.5") == 0.5);
  CHECK(*ParseShare("--s", "1") == 1.0);
  for (const char* text : {"0", "1.01", "-0.5", "nan", "half", ""}) {
    INFO(text);
    CHECK_FALSE(ParseShare("--s", text).ok());
  }
}

TEST_CASE("ValidateAddress wants host:port", "[flags]") {
  for (const char* ok : {"127.0.0.1:7400", "localhost:1", "[::1]:7400",
                         "musterd.internal:65535", "unix:/run/muster.sock"}) {
    INFO(ok);
    CHECK(ValidateAddress("--addr", ok).ok());
  }
  for (const char* bad :
       {"127.0.0.1", "127.0.0.1:", ":7400", "host:0", "host:99999", "::1:7400",
        "[::1:7400", "unix:", "host:port"}) {
    INFO(bad);
    absl::Status s = ValidateAddress("--addr", bad);
    REQUIRE_FALSE(s.ok());
    CHECK(ExitCodeFor(s) == kExitUsage);
  }
}

TEST_CASE("ParseAddresses takes one address or a comma-separated list",
          "[flags]") {
  CHECK(*ParseAddresses("--addr", "127.0.0.1:7400") ==
        std::vector<std::string>{"127.0.0.1:7400"});
  CHECK(*ParseAddresses("--addr", "10.0.0.1:7400, [::1]:7401,h:1") ==
        std::vector<std::string>{"10.0.0.1:7400", "[::1]:7401", "h:1"});
  for (const char* bad : {"a:1,", ",a:1", "a:1,,b:2", "a:1,b", ""}) {
    INFO(bad);
    absl::StatusOr<std::vector<std::string>> parsed =
        ParseAddresses("--addr", bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(ExitCodeFor(parsed.status()) == kExitUsage);
    CHECK(parsed.status().message().find("--addr: ") == 0);
  }
}

}  // namespace
}  // namespace muster::cli
