#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "checkapi/target_source.h"
#include "healthchecker/eviction_policy.h"
#include "healthchecker/health_state.h"
#include "healthchecker/prober.h"

namespace muster::healthchecker {

// One checked incarnation (Envoy's ActiveHealthCheckSession): the target
// as last upserted, its HealthState, its last output, and what the
// registry has committed. Reports are reconciled: whenever the verdict
// differs from the committed health and no report is in flight, one is
// sent, so a failed report is retried and output alone never reports.
// Not thread-safe: the HealthChecker guards every session.
class CheckSession final {
 public:
  // `now` is when the checker learned the target: the restart grace (a
  // full interval, or the TTL) runs from it.
  CheckSession(uint64_t id, const Target& target, absl::Time now);

  // True when `next` must be checked afresh (a new schedule and state):
  // another incarnation, address, port or check spec.
  bool NeedsRestart(const Target& next) const;
  // Takes a same-spec upsert: admin state and committed health.
  void Update(const Target& next);

  Transition Record(ProbeResult result, std::string output, absl::Time now);
  // The checker did not run for `stalled` until `now`: the restart grace
  // again (a full interval, or the TTL, from `now`), and a critical
  // instance's eviction countdown does not count the stall.
  void GraceAfterStall(absl::Time now, absl::Duration stalled);

  // When the verdict differs from the committed health and no report is
  // in flight: marks one in flight and returns the health to report.
  std::optional<Health> StartReport();
  // The report of `reported` finished with `status`.
  void FinishReport(Health reported, const absl::Status& status);

  ProbeRequest MakeProbeRequest() const;
  // The host probes are counted against: the URL's host for HTTP.
  std::string ProbeHost() const;
  EvictionPolicy::Member PolicyMember() const;
  // Without the eviction and heartbeat fields, which live elsewhere.
  HealthDetail Detail() const;

  uint64_t id() const { return id_; }
  const Target& target() const { return target_; }
  const HealthState& state() const { return state_; }
  const std::string& output() const { return output_; }
  absl::Time grace_until() const { return grace_until_; }
  absl::Time critical_since() const { return critical_since_; }

  // Handles in the Scheduler: the periodic check, or the TTL timer.
  std::optional<uint64_t> check_id;
  std::optional<uint64_t> ttl_timer;

 private:
  const uint64_t id_;
  Target target_;
  absl::Time grace_until_;
  HealthState state_;
  Health committed_;
  bool report_in_flight_ = false;
  std::string output_;
  std::optional<absl::Time> last_checked_at_;
  absl::Time critical_since_;
  // Stalls since it became critical, added to its eviction countdown.
  absl::Duration stalled_while_critical_;
};

}  // namespace muster::healthchecker
