#pragma once

// A measured point of the bench: what a closed loop did (LoadResult),
// the sum of several rounds, and the noise guard around a point
// (RunPoint: bench/noise.h measures, this re-runs). No gRPC here, so that
// tests/unit/bench can test the rule.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bench/noise.h"

namespace muster::bench {

struct LoadResult {
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<double> latencies_ms;
  double wall_seconds = 0;
  // Requests issued (their seq numbers were first_seq .. first_seq +
  // issued - 1).
  uint64_t issued = 0;
  // The noise guard: the cores other programs used during the kept
  // attempt(s), times their wall time (-1: not measured); whether one was
  // over the threshold; re-runs made; the answers and wall time of the
  // discarded attempts (their errors count in `errors`; the servers'
  // CPU measured around a guarded run covers them too).
  double other_core_seconds = -1;
  bool noisy = false;
  int retries = 0;
  uint64_t discarded_ok = 0;
  double discarded_seconds = 0;
};

// Cores used by other programs during `r` (-1: not measured).
inline double OtherCores(const LoadResult& r) {
  return r.other_core_seconds < 0
             ? -1
             : r.other_core_seconds / std::max(r.wall_seconds, 1e-9);
}

// The wall time a server's CPU measured around the run covers: the kept
// attempt and the discarded ones.
inline double MeasuredSeconds(const LoadResult& r) {
  return r.wall_seconds + r.discarded_seconds;
}

// Adds one run's counts and latencies to `total` (a point measured in
// several rounds); the first error seen is kept.
inline void Accumulate(const LoadResult& r, LoadResult* total) {
  total->ok += r.ok;
  total->errors += r.errors;
  total->wall_seconds += r.wall_seconds;
  total->issued += r.issued;
  if (r.other_core_seconds >= 0) {
    total->other_core_seconds =
        std::max(total->other_core_seconds, 0.0) + r.other_core_seconds;
  }
  total->noisy = total->noisy || r.noisy;
  total->retries += r.retries;
  total->discarded_ok += r.discarded_ok;
  total->discarded_seconds += r.discarded_seconds;
  total->latencies_ms.insert(total->latencies_ms.end(), r.latencies_ms.begin(),
                             r.latencies_ms.end());
  if (total->first_error.empty()) total->first_error = r.first_error;
}

// RunPoint's rule with an injected meter: `meter(run)` calls `run` and
// returns the cores other programs used meanwhile. Runs
// `once(first_seq)`, which runs the point from request number
// `first_seq` and returns what it did; while the attempt was noisy (over
// policy.threshold_cores) and had no errors, up to policy.retries times
// more, numbering on (so no request is repeated). Returns the quietest
// attempt with the others' answers, wall time and errors folded in
// (discarded_ok, discarded_seconds, errors), `issued` over every
// attempt, its other CPU, `noisy` and `retries`.
inline LoadResult RunPointWith(
    const NoisePolicy& policy,
    const std::function<double(const std::function<void()>& run)>& meter,
    const std::function<LoadResult(uint64_t first_seq)>& once) {
  std::vector<LoadResult> attempts;
  uint64_t next_seq = 0;
  const GuardOutcome outcome = RunGuarded(policy, [&](int) -> AttemptNoise {
    LoadResult r;
    const double other = meter([&] { r = once(next_seq); });
    next_seq += r.issued;
    r.other_core_seconds = other * r.wall_seconds;
    const bool failed = r.errors > 0;
    attempts.push_back(std::move(r));
    return {other, failed};
  });
  LoadResult kept = std::move(attempts[outcome.kept]);
  for (size_t i = 0; i < attempts.size(); ++i) {
    if (static_cast<int>(i) == outcome.kept) continue;
    kept.discarded_ok += attempts[i].ok;
    kept.discarded_seconds += attempts[i].wall_seconds;
    kept.errors += attempts[i].errors;
    if (kept.first_error.empty()) kept.first_error = attempts[i].first_error;
  }
  kept.issued = next_seq;
  kept.noisy = outcome.noisy;
  kept.retries = outcome.attempts - 1;
  return kept;
}

// Runs one measured point under the process-wide noise guard
// (NoiseGuard::Global(): its policy, /proc/stat less the processes under
// test); without it (off, or no /proc), `once(0)` alone.
inline LoadResult RunPoint(
    const std::function<LoadResult(uint64_t first_seq)>& once) {
  NoiseGuard& guard = NoiseGuard::Global();
  if (!guard.enabled()) return once(0);
  return RunPointWith(
      guard.policy(),
      [&guard](const std::function<void()>& run) {
        const NoiseGuard::Sample before = guard.Take();
        run();
        return NoiseGuard::OtherCoresBetween(before, guard.Take());
      },
      once);
}

}  // namespace muster::bench
