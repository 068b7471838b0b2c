#include "dns/rate_limiter.h"

#include <catch2/catch.hpp>

namespace muster::dns {
namespace {

TEST_CASE("the DNS rate limit allows a burst then the rate per source",
          "[dns]") {
  RateLimiter limiter(10, 20);
  const absl::Time start = absl::FromUnixSeconds(1000);
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += limiter.Allow("a", start) ? 1 : 0;
  CHECK(allowed == 20);
  // Another source has its own bucket.
  CHECK(limiter.Allow("b", start));
  // Half a second refills five tokens.
  allowed = 0;
  for (int i = 0; i < 50; ++i) {
    allowed += limiter.Allow("a", start + absl::Milliseconds(500)) ? 1 : 0;
  }
  CHECK(allowed == 5);
}

TEST_CASE("a DNS rate of 0 is unlimited", "[dns]") {
  RateLimiter limiter(0, 0);
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(limiter.Allow("a", absl::FromUnixSeconds(1)));
  }
}

}  // namespace
}  // namespace muster::dns
