#pragma once

// A muster::client::Clock for tests: time moves only when the test
// advances it or when the code under test sleeps (SleepFor advances the
// clock at once and records the sleep). Thread-safe.

#include <chrono>
#include <mutex>
#include <vector>

#include "muster/client/clock.h"

namespace muster::client::testing {

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void SleepFor(Duration duration) override {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += duration;
    sleeps_.push_back(duration);
  }

  void Advance(Duration by) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += by;
  }
  // Every SleepFor so far, in order.
  std::vector<Duration> sleeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }

 private:
  mutable std::mutex mu_;
  // Not the steady clock's epoch, so that code subtracting from Now()
  // does not go below it.
  TimePoint now_ = TimePoint() + std::chrono::hours(24);
  std::vector<Duration> sleeps_;
};

}  // namespace muster::client::testing
