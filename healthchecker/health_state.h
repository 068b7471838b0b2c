#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "checkapi/check_spec.h"
#include "healthchecker/prober.h"

namespace muster::healthchecker {

// What one result did to an instance's health (Envoy's HealthTransition).
enum class Transition {
  kUnchanged,  // the health stays as it was
  kChanged,    // the health changed: report it
  kPending,    // the result disagrees with the health, but a threshold
               // (or the restart grace) holds the change back
};

// The verdict of one instance, as a pure threshold state machine: no
// clock, no I/O. Rules:
//  - successes and warnings are "alive" results, failures are not;
//  - STARTING or CRITICAL becomes alive after `healthy_threshold`
//    consecutive alive results (PASSING, or WARNING when the last one was
//    a warning); once alive, PASSING and WARNING follow the latest result;
//  - `unhealthy_threshold` consecutive failures make it CRITICAL, but not
//    before `critical_not_before` (the restart grace, renewed after a
//    stall): the change stays pending and happens with the first failure
//    after it.
// Not thread-safe; a value type.
class HealthState final {
 public:
  struct Options {
    // Zero means the documented default (kDefaultHealthyThreshold,
    // kDefaultUnhealthyThreshold).
    uint32_t healthy_threshold = 0;
    uint32_t unhealthy_threshold = 0;
    // The committed health the checker starts from.
    Health initial = Health::kStarting;
    absl::Time critical_not_before = absl::InfinitePast();
  };

  explicit HealthState(const Options& options);

  Transition Record(ProbeResult result, absl::Time now);
  // Moves critical_not_before to `until` (never backwards).
  void DelayCritical(absl::Time until);

  Health health() const { return health_; }
  uint32_t consecutive_successes() const { return successes_; }
  uint32_t consecutive_failures() const { return failures_; }
  uint32_t healthy_threshold() const { return healthy_threshold_; }
  uint32_t unhealthy_threshold() const { return unhealthy_threshold_; }
  absl::Time critical_not_before() const { return critical_not_before_; }

 private:
  uint32_t healthy_threshold_;
  uint32_t unhealthy_threshold_;
  absl::Time critical_not_before_;
  Health health_;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
};

}  // namespace muster::healthchecker
