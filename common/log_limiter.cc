#include "common/log_limiter.h"

namespace muster {

bool LogLimiter::Allow(uint64_t* dropped) {
  const absl::Duration now = clock_.Monotonic();
  absl::MutexLock lock(&mu_);
  if (window_start_ == absl::InfiniteDuration() ||
      now - window_start_ >= options_.window) {
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= options_.burst) {
    ++dropped_;
    ++dropped_total_;
    return false;
  }
  ++used_;
  *dropped = dropped_;
  dropped_ = 0;
  return true;
}

uint64_t LogLimiter::DroppedTotal() const {
  absl::MutexLock lock(&mu_);
  return dropped_total_;
}

}  // namespace muster
