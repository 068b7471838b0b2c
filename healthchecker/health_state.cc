#include "healthchecker/health_state.h"

namespace muster::healthchecker {

HealthState::HealthState(const Options& options)
    : healthy_threshold_(options.healthy_threshold > 0
                             ? options.healthy_threshold
                             : kDefaultHealthyThreshold),
      unhealthy_threshold_(options.unhealthy_threshold > 0
                               ? options.unhealthy_threshold
                               : kDefaultUnhealthyThreshold),
      critical_not_before_(options.critical_not_before),
      health_(options.initial) {}

void HealthState::DelayCritical(absl::Time until) {
  if (until > critical_not_before_) critical_not_before_ = until;
}

Transition HealthState::Record(ProbeResult result, absl::Time now) {
  if (result == ProbeResult::kFailure) {
    successes_ = 0;
    ++failures_;
    if (health_ == Health::kCritical) return Transition::kUnchanged;
    if (failures_ < unhealthy_threshold_ || now < critical_not_before_) {
      return Transition::kPending;
    }
    health_ = Health::kCritical;
    return Transition::kChanged;
  }

  failures_ = 0;
  ++successes_;
  const Health alive =
      result == ProbeResult::kWarning ? Health::kWarning : Health::kPassing;
  if (health_ == Health::kPassing || health_ == Health::kWarning) {
    // Both are routable: no hysteresis between them.
    if (health_ == alive) return Transition::kUnchanged;
    health_ = alive;
    return Transition::kChanged;
  }
  if (successes_ < healthy_threshold_) return Transition::kPending;
  health_ = alive;
  return Transition::kChanged;
}

}  // namespace muster::healthchecker
