#include "healthchecker/checker_metrics.h"

#include <string>

namespace muster::healthchecker {
namespace {

constexpr CheckKind kProbeKinds[] = {CheckKind::kHttp, CheckKind::kTcp,
                                     CheckKind::kGrpc};
constexpr ProbeResult kResultValues[] = {
    ProbeResult::kSuccess, ProbeResult::kWarning, ProbeResult::kFailure};
constexpr Health kHealthValues[] = {Health::kStarting, Health::kPassing,
                                    Health::kWarning, Health::kCritical};

}  // namespace

CheckerMetrics::CheckerMetrics(Metrics& metrics)
    : lag_(metrics.GetHistogram("muster_checker_schedule_lag_seconds",
                                "How late probes started after they were due.",
                                LatencyBuckets())),
      in_flight_(metrics.GetGauge("muster_checker_probes_in_flight",
                                  "Probes in flight.")),
      heartbeats_(
          metrics.GetCounter("muster_checker_heartbeats_total",
                             "TTL heartbeats taken by the health checker.")),
      evictions_(metrics.GetCounter("muster_checker_evictions_total",
                                    "Evictions sent to the registry.")),
      evictions_held_(metrics.GetCounter(
          "muster_checker_evictions_held_total",
          "Evictions held back by eviction protection (once per hold).")),
      paused_realms_(metrics.GetGauge(
          "muster_checker_eviction_paused_realms",
          "Realms whose evictions eviction protection pauses.")),
      targets_(metrics.GetGauge("muster_checker_targets",
                                "Instances being checked.")),
      stalls_(metrics.GetCounter(
          "muster_checker_stalls_total",
          "Stalls of the checker (the process or host stopped); each renews "
          "every check's restart grace.")) {
  for (size_t k = 0; k < kKinds; ++k) {
    const std::string kind(CheckKindName(kProbeKinds[k]));
    latency_[k] = &metrics.GetHistogram("muster_checker_probe_duration_seconds",
                                        "Time from probe start to its result.",
                                        LatencyBuckets(), {{"kind", kind}});
    for (size_t r = 0; r < kResults; ++r) {
      probes_[k][r] = &metrics.GetCounter(
          "muster_checker_probes_total",
          "Probes finished, by check kind and result.",
          {{"kind", kind},
           {"result", std::string(ProbeResultName(kResultValues[r]))}});
    }
  }
  for (size_t h = 0; h < transitions_.size(); ++h) {
    transitions_[h] = &metrics.GetCounter(
        "muster_checker_transitions_total",
        "Health changes decided by the checker.",
        {{"to", std::string(HealthName(kHealthValues[h]))}});
  }
}

size_t CheckerMetrics::KindIndex(CheckKind kind) {
  switch (kind) {
    case CheckKind::kTcp:
      return 1;
    case CheckKind::kGrpc:
      return 2;
    default:
      return 0;
  }
}

void CheckerMetrics::ProbeStarted(absl::Duration lag) {
  lag_.Observe(absl::ToDoubleSeconds(lag));
  in_flight_.Add(1);
}

void CheckerMetrics::ProbeFinished(CheckKind kind, ProbeResult result,
                                   absl::Duration latency) {
  in_flight_.Add(-1);
  const size_t r = result == ProbeResult::kSuccess   ? 0
                   : result == ProbeResult::kWarning ? 1
                                                     : 2;
  probes_[KindIndex(kind)][r]->Increment();
  latency_[KindIndex(kind)]->Observe(absl::ToDoubleSeconds(latency));
}

void CheckerMetrics::TransitionTo(Health health) {
  transitions_[static_cast<size_t>(health) - 1]->Increment();
}

}  // namespace muster::healthchecker
