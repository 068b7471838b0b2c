#include "healthchecker/prober.h"

#include <errno.h>

#include <catch2/catch.hpp>
#include <string>

namespace muster::healthchecker {
namespace {

TEST_CASE("output is capped at 4 KiB on a character boundary", "[prober]") {
  REQUIRE(SanitizeOutput(std::string(10000, 'a')).size() ==
          kMaxProbeOutputBytes);
  std::string euros;
  for (int i = 0; i < 2000; ++i) euros += "\xE2\x82\xAC";  // U+20AC, 3 bytes
  const std::string capped = SanitizeOutput(euros);
  REQUIRE(capped.size() <= kMaxProbeOutputBytes);
  REQUIRE(capped.size() % 3 == 0);
}

TEST_CASE("output is valid utf-8 without control characters", "[prober]") {
  REQUIRE(SanitizeOutput("HTTP 200\nok\tfine") == "HTTP 200\nok\tfine");
  REQUIRE(SanitizeOutput(std::string("a\0b\x1b[31m", 8)) == "a b [31m");
  REQUIRE(SanitizeOutput("caf\xC3\xA9") == "caf\xC3\xA9");
  REQUIRE(SanitizeOutput("bad \xC3 \xFF \xED\xA0\x80 end") ==
          "bad ? ? ??? end");
  REQUIRE(SanitizeOutput("cut \xE2\x82") == "cut ??");
}

TEST_CASE("probe errors read like operators expect", "[prober]") {
  REQUIRE(TimeoutOutput(absl::Seconds(2)) == "timeout after 2s");
  REQUIRE(TimeoutOutput(absl::Milliseconds(300)) == "timeout after 300ms");
  REQUIRE(ErrnoOutput("connect", ECONNREFUSED) ==
          "connect: connection refused");
  REQUIRE(ProbeResultName(ProbeResult::kWarning) == "warning");
}

}  // namespace
}  // namespace muster::healthchecker
