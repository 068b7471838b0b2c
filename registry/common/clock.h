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

  // The process-wide wall clock.
  static Clock& Real();

 protected:
  Clock() = default;
};

}  // namespace muster
