#pragma once

// The client library's only source of time, so that tests can drive
// backoff, retry budgets, outlier ejection and staleness with a fake
// clock. Implementations must be thread-safe.

#include <chrono>
#include <memory>

namespace muster::client {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;

  // Monotonic time; only differences are meaningful.
  virtual TimePoint Now() const = 0;
  // Blocks the calling thread for `duration` (a fake clock advances
  // itself instead and returns at once).
  virtual void SleepFor(Duration duration) = 0;

  // std::chrono::steady_clock and std::this_thread::sleep_for.
  static std::shared_ptr<Clock> Real();
};

}  // namespace muster::client
