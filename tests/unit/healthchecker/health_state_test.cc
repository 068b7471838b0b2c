#include "healthchecker/health_state.h"

#include <catch2/catch.hpp>

namespace muster::healthchecker {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

HealthState MakeState(uint32_t healthy, uint32_t unhealthy,
                      Health initial = Health::kStarting,
                      absl::Time critical_not_before = absl::InfinitePast()) {
  HealthState::Options options;
  options.healthy_threshold = healthy;
  options.unhealthy_threshold = unhealthy;
  options.initial = initial;
  options.critical_not_before = critical_not_before;
  return HealthState(options);
}

TEST_CASE("starting passes after healthy_threshold successes",
          "[health_state]") {
  HealthState state = MakeState(2, 3);
  REQUIRE(state.health() == Health::kStarting);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kPending);
  REQUIRE(state.health() == Health::kStarting);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kPassing);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kUnchanged);
  REQUIRE(state.consecutive_successes() == 3);
}

TEST_CASE(
    "default thresholds: first success passes, three failures go critical",
    "[health_state]") {
  HealthState state = MakeState(0, 0);
  REQUIRE(state.healthy_threshold() == kDefaultHealthyThreshold);
  REQUIRE(state.unhealthy_threshold() == kDefaultUnhealthyThreshold);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kPassing);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kPending);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kPending);
  REQUIRE(state.health() == Health::kPassing);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kCritical);
  REQUIRE(state.consecutive_failures() == 3);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kUnchanged);
}

TEST_CASE("a success resets the failure streak", "[health_state]") {
  HealthState state = MakeState(1, 2, Health::kPassing);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kPending);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kUnchanged);
  REQUIRE(state.consecutive_failures() == 0);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kPending);
  REQUIRE(state.health() == Health::kPassing);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kCritical);
}

TEST_CASE("critical needs healthy_threshold successes to recover",
          "[health_state]") {
  HealthState state = MakeState(3, 1, Health::kCritical);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kPending);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kPending);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kUnchanged);
  REQUIRE(state.consecutive_successes() == 0);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kPending);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kPending);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kPassing);
}

TEST_CASE("a warning is its own state and still alive", "[health_state]") {
  HealthState state = MakeState(1, 3);
  REQUIRE(state.Record(ProbeResult::kWarning, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kWarning);
  REQUIRE(state.Record(ProbeResult::kWarning, kT0) == Transition::kUnchanged);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kPassing);
  REQUIRE(state.Record(ProbeResult::kWarning, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kWarning);
  // Warnings count as alive.
  REQUIRE(state.consecutive_successes() == 4);
}

TEST_CASE("recovering from critical ends in warning when the last answer warns",
          "[health_state]") {
  HealthState state = MakeState(2, 1, Health::kCritical);
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kPending);
  REQUIRE(state.Record(ProbeResult::kWarning, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kWarning);
}

TEST_CASE("restart grace holds critical back until its end", "[health_state]") {
  const absl::Time grace_end = kT0 + absl::Seconds(10);
  HealthState state = MakeState(1, 1, Health::kPassing, grace_end);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0 + absl::Seconds(3)) ==
          Transition::kPending);
  REQUIRE(state.health() == Health::kPassing);
  REQUIRE(
      state.Record(ProbeResult::kFailure, grace_end - absl::Nanoseconds(1)) ==
      Transition::kPending);
  REQUIRE(state.Record(ProbeResult::kFailure, grace_end) ==
          Transition::kChanged);
  REQUIRE(state.health() == Health::kCritical);
}

TEST_CASE("restart grace does not delay recovery", "[health_state]") {
  HealthState state = MakeState(1, 1, Health::kStarting, kT0 + absl::Hours(1));
  REQUIRE(state.Record(ProbeResult::kSuccess, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kPassing);
}

TEST_CASE("starting goes critical after unhealthy_threshold failures",
          "[health_state]") {
  HealthState state = MakeState(1, 2);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kPending);
  REQUIRE(state.health() == Health::kStarting);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0) == Transition::kChanged);
  REQUIRE(state.health() == Health::kCritical);
}

TEST_CASE("a delayed grace holds a failure back until it ends",
          "[health_state]") {
  HealthState state = MakeState(1, 1, Health::kPassing);
  state.DelayCritical(kT0 + absl::Seconds(10));
  state.DelayCritical(kT0 + absl::Seconds(5));  // never backwards
  REQUIRE(state.critical_not_before() == kT0 + absl::Seconds(10));
  REQUIRE(state.Record(ProbeResult::kFailure, kT0 + absl::Seconds(9)) ==
          Transition::kPending);
  REQUIRE(state.health() == Health::kPassing);
  REQUIRE(state.Record(ProbeResult::kFailure, kT0 + absl::Seconds(10)) ==
          Transition::kChanged);
  REQUIRE(state.health() == Health::kCritical);
}

}  // namespace
}  // namespace muster::healthchecker
