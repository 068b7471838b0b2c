#include "cli/duration.h"

#include <catch2/catch.hpp>

#include "cli/errors.h"

namespace muster::cli {
namespace {

absl::Duration Parsed(const std::string& text) {
  absl::StatusOr<absl::Duration> d = ParseDuration("--interval", text);
  INFO(text << ": " << d.status().ToString());
  REQUIRE(d.ok());
  return *d;
}

TEST_CASE("ParseDuration reads the documented forms", "[duration]") {
  CHECK(Parsed("10s") == absl::Seconds(10));
  CHECK(Parsed("1m") == absl::Minutes(1));
  CHECK(Parsed("500ms") == absl::Milliseconds(500));
  CHECK(Parsed("1h30m") == absl::Minutes(90));
  CHECK(Parsed("2d") == absl::Hours(48));
  CHECK(Parsed("1.5s") == absl::Milliseconds(1500));
  CHECK(Parsed(".5s") == absl::Milliseconds(500));
  CHECK(Parsed("0") == absl::ZeroDuration());
  CHECK(Parsed("0s") == absl::ZeroDuration());
  CHECK(Parsed("250us") == absl::Microseconds(250));
  CHECK(Parsed("7ns") == absl::Nanoseconds(7));
  CHECK(Parsed("1m1s1ms") == absl::Milliseconds(61001));
}

TEST_CASE("ParseDuration rejects bad values as usage errors", "[duration]") {
  for (const char* text :
       {"", "10", "5x", "-1s", "s", "1.s5", "1 s", " 1s", "1s ", "inf",
        "1h-30m", "+1s", "10S", "1e3s", "99999999999999999s", "1000000d"}) {
    absl::StatusOr<absl::Duration> d = ParseDuration("--interval", text);
    INFO("input: \"" << text << "\"");
    REQUIRE_FALSE(d.ok());
    CHECK(ExitCodeFor(d.status()) == kExitUsage);
    CHECK(std::string(d.status().message()).find("--interval") == 0);
  }
}

TEST_CASE("ParseDuration names the problem", "[duration]") {
  CHECK(std::string(ParseDuration("--ttl", "10").status().message())
            .find("missing unit") != std::string::npos);
  CHECK(std::string(ParseDuration("--ttl", "-3s").status().message())
            .find("negative") != std::string::npos);
  CHECK(std::string(ParseDuration("--ttl", "3w").status().message())
            .find("unknown unit") != std::string::npos);
}

TEST_CASE("FormatCompactDuration is compact and reads back", "[duration]") {
  CHECK(FormatCompactDuration(absl::ZeroDuration()) == "0s");
  CHECK(FormatCompactDuration(absl::Milliseconds(500)) == "500ms");
  CHECK(FormatCompactDuration(absl::Seconds(90)) == "1m30s");
  CHECK(FormatCompactDuration(absl::Hours(2)) == "2h");
  CHECK(FormatCompactDuration(absl::Hours(24 * 30)) == "30d");
  CHECK(FormatCompactDuration(absl::Milliseconds(1250)) == "1s250ms");
  CHECK(FormatCompactDuration(-absl::Seconds(3)) == "-3s");
  CHECK(FormatCompactDuration(absl::Microseconds(1500)) == "1ms");
  for (absl::Duration d :
       {absl::Milliseconds(1), absl::Seconds(59), absl::Minutes(61),
        absl::Hours(25) + absl::Milliseconds(7), absl::Hours(24 * 365)}) {
    CHECK(Parsed(FormatCompactDuration(d)) == d);
  }
}

TEST_CASE("Proto duration conversion keeps nanoseconds", "[duration]") {
  absl::Duration d = absl::Seconds(3) + absl::Nanoseconds(250);
  google::protobuf::Duration proto = ToProtoDuration(d);
  CHECK(proto.seconds() == 3);
  CHECK(proto.nanos() == 250);
  CHECK(FromProtoDuration(proto) == d);
}

}  // namespace
}  // namespace muster::cli
