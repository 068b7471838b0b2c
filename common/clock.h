#pragma once

#include "absl/time/time.h"

namespace muster {

// Clock is the only source of time for library code, so that tests can
// drive thresholds, TTLs and eviction with a fake clock.
// Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;

  virtual absl::Time Now() const = 0;

  // Time since an arbitrary fixed point that never jumps (NTP steps only
  // Now()) and keeps counting while the process is stopped. Only
  // differences are meaningful. The default stands in with Now() for
  // clocks that have no monotonic source.
  virtual absl::Duration Monotonic() const { return Now() - absl::UnixEpoch(); }

  // The process-wide wall clock.
  static Clock& Real();

 protected:
  Clock() = default;
};

}  // namespace muster
