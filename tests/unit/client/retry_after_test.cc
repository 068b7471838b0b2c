#include "client/src/retry_after.h"

#include <catch2/catch.hpp>
#include <chrono>

namespace muster::client::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

// Sun, 06 Nov 1994 08:49:37 GMT.
const system_clock::time_point kDate = system_clock::from_time_t(784111777);

TEST_CASE("retry-after delta-seconds", "[client][retry_after]") {
  CHECK(ParseRetryAfter("3", kDate) == milliseconds(3000));
  CHECK(ParseRetryAfter("0", kDate) == milliseconds(0));
  CHECK(ParseRetryAfter(" 120 ", kDate) == milliseconds(120000));
  // Absurdly large values are capped, not overflowed.
  std::optional<milliseconds> huge =
      ParseRetryAfter("99999999999999999999999", kDate);
  REQUIRE(huge.has_value());
  CHECK(*huge >= std::chrono::hours(24));
}

TEST_CASE("retry-after http dates in the three forms",
          "[client][retry_after]") {
  CHECK(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT") == kDate);
  CHECK(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT") == kDate);
  CHECK(ParseHttpDate("Sun Nov  6 08:49:37 1994") == kDate);
  CHECK(ParseRetryAfter("Sun, 06 Nov 1994 08:49:47 GMT", kDate) ==
        milliseconds(10000));
  // A date already past: no wait.
  CHECK(ParseRetryAfter("Sun, 06 Nov 1994 08:49:00 GMT", kDate) ==
        milliseconds(0));
}

TEST_CASE("retry-after garbage is ignored", "[client][retry_after]") {
  for (const char* value :
       {"", "  ", "soon", "-1", "3.5", "1e3", "3 seconds",
        "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT trailing"}) {
    INFO(value);
    CHECK_FALSE(ParseRetryAfter(value, kDate).has_value());
  }
}

}  // namespace
}  // namespace muster::client::internal
