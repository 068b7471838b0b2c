// LogLimiter on the fake clock: a burst per window, the lines dropped
// counted and handed to the next line let through.

#include "common/log_limiter.h"

#include <catch2/catch.hpp>

#include "tests/support/fake_clock.h"

namespace muster {
namespace {

using muster::testing::FakeClock;

TEST_CASE("log limiter: a burst per window, then drops are counted",
          "[log_limiter]") {
  FakeClock clock;
  LogLimiter limiter(clock, {3, absl::Seconds(10)});
  uint64_t dropped = 99;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(limiter.Allow(&dropped));
    CHECK(dropped == 0);
  }
  CHECK_FALSE(limiter.Allow(&dropped));
  CHECK_FALSE(limiter.Allow(&dropped));
  CHECK(limiter.DroppedTotal() == 2);

  // Still the same window one tick before it ends.
  clock.Advance(absl::Seconds(10) - absl::Nanoseconds(1));
  CHECK_FALSE(limiter.Allow(&dropped));
  CHECK(limiter.DroppedTotal() == 3);

  // A new window: the first line carries the count of the dropped ones.
  clock.Advance(absl::Nanoseconds(1));
  REQUIRE(limiter.Allow(&dropped));
  CHECK(dropped == 3);
  REQUIRE(limiter.Allow(&dropped));
  CHECK(dropped == 0);
  CHECK(limiter.DroppedTotal() == 3);
}

TEST_CASE("log limiter: the window follows the monotonic clock",
          "[log_limiter]") {
  FakeClock clock;
  LogLimiter limiter(clock, {1, absl::Seconds(10)});
  uint64_t dropped = 0;
  REQUIRE(limiter.Allow(&dropped));
  // A wall-clock step (NTP) opens no new window.
  clock.Set(clock.Now() + absl::Hours(1));
  CHECK_FALSE(limiter.Allow(&dropped));
  clock.Advance(absl::Seconds(10));
  REQUIRE(limiter.Allow(&dropped));
  CHECK(dropped == 1);
}

}  // namespace
}  // namespace muster
