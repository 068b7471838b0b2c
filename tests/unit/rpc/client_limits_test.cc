#include "rpc/client_limits.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/fake_clock.h"

namespace muster::registry {
namespace {

using muster::testing::FakeClock;

TEST_CASE("A token bucket allows its burst, then one request per refill",
          "[client_limits]") {
  FakeClock clock;
  RequestRateLimiter limiter({/*rate=*/10, /*burst=*/3, /*max_keys=*/16},
                             clock);
  for (int i = 0; i < 3; ++i) CHECK(limiter.Take("ci") == absl::ZeroDuration());
  // Empty: the next token comes in 100ms.
  CHECK(limiter.Take("ci") == absl::Milliseconds(100));
  clock.Advance(absl::Milliseconds(40));
  CHECK(limiter.Take("ci") == absl::Milliseconds(60));
  clock.Advance(absl::Milliseconds(60));
  CHECK(limiter.Take("ci") == absl::ZeroDuration());
  CHECK(limiter.Take("ci") > absl::ZeroDuration());
  // Another key has a bucket of its own.
  CHECK(limiter.Take("web") == absl::ZeroDuration());
  // Idle for long: full again, never more than the burst.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) CHECK(limiter.Take("ci") == absl::ZeroDuration());
  CHECK(limiter.Take("ci") > absl::ZeroDuration());
}

TEST_CASE("A rate of 0 never limits", "[client_limits]") {
  FakeClock clock;
  RequestRateLimiter limiter({/*rate=*/0, /*burst=*/1, /*max_keys=*/4}, clock);
  CHECK_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i)
    REQUIRE(limiter.Take("x") == absl::ZeroDuration());
  CHECK(limiter.KeyCount() == 0);
}

TEST_CASE("The rate limiter holds at most max_keys buckets",
          "[client_limits]") {
  FakeClock clock;
  RequestRateLimiter limiter({/*rate=*/10, /*burst=*/2, /*max_keys=*/8}, clock);
  // A flood of distinct peers, each making one request.
  for (int i = 0; i < 1000; ++i) {
    limiter.Take("peer-" + std::to_string(i));
    REQUIRE(limiter.KeyCount() <= 8);
  }
  // Busy clients keep their (empty) buckets across the flood: still
  // limited.
  RequestRateLimiter busy({/*rate=*/10, /*burst=*/2, /*max_keys=*/4}, clock);
  busy.Take("hog");
  busy.Take("hog");
  CHECK(busy.Take("hog") > absl::ZeroDuration());
  for (int i = 0; i < 100; ++i) busy.Take("new-" + std::to_string(i));
  CHECK(busy.Take("hog") > absl::ZeroDuration());
  // Once the idle buckets have refilled, a sweep makes room again.
  clock.Advance(absl::Seconds(1));
  CHECK(busy.Take("late") == absl::ZeroDuration());
  CHECK(busy.KeyCount() <= 4);
}

TEST_CASE("The watcher limiter caps open streams per key and releases them",
          "[client_limits]") {
  WatcherLimiter limiter(2);
  std::unique_ptr<WatcherLimiter::Lease> a = limiter.Acquire("ci");
  std::unique_ptr<WatcherLimiter::Lease> b = limiter.Acquire("ci");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(limiter.Acquire("ci") == nullptr);
  CHECK(limiter.Open("ci") == 2);
  // Another client is not affected.
  std::unique_ptr<WatcherLimiter::Lease> other = limiter.Acquire("web");
  CHECK(other != nullptr);
  a.reset();
  CHECK(limiter.Open("ci") == 1);
  CHECK(limiter.Acquire("ci") != nullptr);  // released at once
  b.reset();
  other.reset();
  CHECK(limiter.Open("ci") == 0);
  CHECK(limiter.Open("web") == 0);
}

TEST_CASE("A watcher limit of 0 is unlimited", "[client_limits]") {
  WatcherLimiter limiter(0);
  std::vector<std::unique_ptr<WatcherLimiter::Lease>> leases;
  for (int i = 0; i < 5000; ++i) leases.push_back(limiter.Acquire("x"));
  CHECK(leases.back() != nullptr);
  CHECK(limiter.Open("x") == 5000);
}

}  // namespace
}  // namespace muster::registry
