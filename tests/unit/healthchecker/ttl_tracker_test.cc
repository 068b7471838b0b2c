#include "healthchecker/ttl_tracker.h"

#include <catch2/catch.hpp>

namespace muster::healthchecker {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

TEST_CASE("a tracked session gets a full ttl of grace", "[ttl_tracker]") {
  TtlTracker tracker;
  tracker.Track(1, absl::Seconds(30), kT0);
  REQUIRE(tracker.Deadline(1) == kT0 + absl::Seconds(30));
  REQUIRE_FALSE(tracker.LastHeartbeat(1).has_value());
  REQUIRE_FALSE(tracker.TakeExpiry(1, kT0 + absl::Seconds(29)));
  REQUIRE(tracker.TakeExpiry(1, kT0 + absl::Seconds(30)));
  // Once per silence.
  REQUIRE_FALSE(tracker.TakeExpiry(1, kT0 + absl::Seconds(90)));
}

TEST_CASE("heartbeats move the deadline and re-arm expiry", "[ttl_tracker]") {
  TtlTracker tracker;
  tracker.Track(7, absl::Seconds(10), kT0);
  REQUIRE(tracker.Heartbeat(7, kT0 + absl::Seconds(8)));
  REQUIRE(tracker.Deadline(7) == kT0 + absl::Seconds(18));
  REQUIRE(tracker.LastHeartbeat(7) == kT0 + absl::Seconds(8));
  REQUIRE_FALSE(tracker.TakeExpiry(7, kT0 + absl::Seconds(12)));
  REQUIRE(tracker.TakeExpiry(7, kT0 + absl::Seconds(18)));
  REQUIRE(tracker.Heartbeat(7, kT0 + absl::Seconds(20)));
  REQUIRE(tracker.TakeExpiry(7, kT0 + absl::Seconds(31)));
}

TEST_CASE("a late heartbeat never moves the deadline back", "[ttl_tracker]") {
  TtlTracker tracker;
  tracker.Track(1, absl::Seconds(10), kT0);
  REQUIRE(tracker.Heartbeat(1, kT0 + absl::Seconds(9)));
  REQUIRE(tracker.Heartbeat(1, kT0 + absl::Seconds(2)));
  REQUIRE(tracker.Deadline(1) == kT0 + absl::Seconds(19));
  REQUIRE(tracker.LastHeartbeat(1) == kT0 + absl::Seconds(9));
}

TEST_CASE("untracked sessions take no heartbeat", "[ttl_tracker]") {
  TtlTracker tracker;
  REQUIRE_FALSE(tracker.Heartbeat(3, kT0));
  tracker.Track(3, absl::Seconds(5), kT0);
  REQUIRE(tracker.size() == 1);
  tracker.Untrack(3);
  REQUIRE_FALSE(tracker.Heartbeat(3, kT0));
  REQUIRE_FALSE(tracker.Deadline(3).has_value());
  REQUIRE(tracker.size() == 0);
}

TEST_CASE("renew gives a fresh ttl unless the silence was taken",
          "[ttl_tracker]") {
  TtlTracker tracker;
  tracker.Track(1, absl::Seconds(5), kT0);
  tracker.Track(2, absl::Seconds(5), kT0);
  REQUIRE(tracker.Heartbeat(1, kT0 + absl::Seconds(4)));
  REQUIRE(tracker.TakeExpiry(2, kT0 + absl::Seconds(5)));
  tracker.Renew(1, kT0 + absl::Seconds(30));
  tracker.Renew(2, kT0 + absl::Seconds(30));
  REQUIRE(tracker.Deadline(1) == kT0 + absl::Seconds(35));
  REQUIRE(tracker.Deadline(2) == kT0 + absl::Seconds(5));
  REQUIRE_FALSE(tracker.TakeExpiry(1, kT0 + absl::Seconds(34)));
  REQUIRE(tracker.TakeExpiry(1, kT0 + absl::Seconds(35)));
  // Never backwards.
  REQUIRE(tracker.Heartbeat(1, kT0 + absl::Seconds(100)));
  tracker.Renew(1, kT0 + absl::Seconds(50));
  REQUIRE(tracker.Deadline(1) == kT0 + absl::Seconds(105));
}

}  // namespace
}  // namespace muster::healthchecker
