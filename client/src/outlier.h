#pragma once

// Outlier ejection for one service: an endpoint whose last `failures`
// calls all failed is ejected (skipped by the picker) for a while.
// Not thread-safe: the resolver calls it under its lock.
//
// - The n-th ejection of an endpoint lasts base_time * 2^(n-1), at most
//   max_time. The count n falls back to zero once the endpoint has gone
//   max_time without being ejected again.
// - A success resets the endpoint's run of failures.
// - At most max_share of the service's endpoints are ejected at once:
//   an ejection that would pass the share does not happen (so the only
//   endpoint of a service, with any share below 1, is never ejected). The
//   endpoint keeps its run of failures and is ejected by a later failure
//   once the share allows.
// - Ejections end on the clock; an endpoint that leaves the set is
//   forgotten (Retain).

#include <chrono>
#include <cstddef>
#include <map>
#include <set>
#include <string>

#include "muster/client/clock.h"

namespace muster::client::internal {

struct OutlierOptions {
  // Consecutive failures that eject; 0 turns ejection off.
  int failures = 5;
  std::chrono::milliseconds base_time{10000};
  std::chrono::milliseconds max_time{300000};
  // 0..1 of the service's endpoints.
  double max_share = 0.5;
};

class OutlierDetector {
 public:
  // `clock` must outlive the detector.
  OutlierDetector(OutlierOptions options, const Clock* clock);

  // The outcome of one call to endpoint `id`, one of `endpoint_count`
  // endpoints the service has now.
  void Report(const std::string& id, bool success, size_t endpoint_count);
  // Ejected now.
  bool IsEjected(const std::string& id) const;
  // The ids ejected now.
  std::set<std::string> Ejected() const;
  // Forgets every endpoint not in `ids`.
  void Retain(const std::set<std::string>& ids);

 private:
  struct State {
    int consecutive_failures = 0;
    // Ejections so far (the next lasts base * 2^times).
    int times_ejected = 0;
    // The current or last ejection ends here; meaningful when
    // times_ejected > 0.
    Clock::TimePoint ejected_until;
  };

  bool EjectedAt(const State& state, Clock::TimePoint now) const;

  const OutlierOptions options_;
  const Clock* const clock_;
  std::map<std::string, State> states_;
};

}  // namespace muster::client::internal
