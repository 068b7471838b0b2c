#pragma once

#include <array>
#include <cstddef>

#include "absl/time/time.h"
#include "checkapi/check_spec.h"
#include "common/metrics.h"
#include "healthchecker/prober.h"

namespace muster::healthchecker {

// The health checker's metrics, all named muster_checker_*:
//   probes_total{kind,result}            counter
//   probe_duration_seconds{kind}         histogram
//   schedule_lag_seconds                 histogram: how late a probe started
//   probes_in_flight                     gauge
//   transitions_total{to}                counter: health changes decided
//   heartbeats_total                     counter: TTL heartbeats taken
//   evictions_total                      counter: evictions sent to the
//                                        registry
//   evictions_held_total                 counter: evictions held back by
//                                        protection
//   eviction_paused_realms               gauge
//   targets                              gauge: instances being checked
//   stalls_total                         counter: stalls of the checker
//                                        (the process or host stopped)
// Handles are resolved once; thread-safe (the metrics are lock-free).
class CheckerMetrics final {
 public:
  explicit CheckerMetrics(Metrics& metrics);
  CheckerMetrics(const CheckerMetrics&) = delete;
  CheckerMetrics& operator=(const CheckerMetrics&) = delete;

  void ProbeStarted(absl::Duration lag);
  void ProbeFinished(CheckKind kind, ProbeResult result,
                     absl::Duration latency);
  void TransitionTo(Health health);
  void Heartbeat() { heartbeats_.Increment(); }
  void Evicted() { evictions_.Increment(); }
  void EvictionHeld() { evictions_held_.Increment(); }
  void SetPausedRealms(size_t count) {
    paused_realms_.Set(static_cast<double>(count));
  }
  void SetTargets(size_t count) { targets_.Set(static_cast<double>(count)); }
  void Stalled() { stalls_.Increment(); }

 private:
  // Probe kinds: HTTP, TCP, gRPC.
  static constexpr size_t kKinds = 3;
  static constexpr size_t kResults = 3;
  static size_t KindIndex(CheckKind kind);

  std::array<std::array<Counter*, kResults>, kKinds> probes_{};
  std::array<Histogram*, kKinds> latency_{};
  Histogram& lag_;
  Gauge& in_flight_;
  std::array<Counter*, 4> transitions_{};
  Counter& heartbeats_;
  Counter& evictions_;
  Counter& evictions_held_;
  Gauge& paused_realms_;
  Gauge& targets_;
  Counter& stalls_;
};

}  // namespace muster::healthchecker
