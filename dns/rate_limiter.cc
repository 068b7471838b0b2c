#include "dns/rate_limiter.h"

#include <algorithm>

namespace muster::dns {

RateLimiter::RateLimiter(uint32_t rate, uint32_t burst)
    : rate_(rate), burst_(std::max<uint32_t>(burst, 1)) {}

bool RateLimiter::Allow(const std::string& source, absl::Time now) {
  if (rate_ <= 0) return true;
  if (buckets_.size() >= kMaxSources && !buckets_.contains(source)) {
    // Forget the sources whose buckets have refilled: they start full
    // again anyway.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      const double seconds = absl::ToDoubleSeconds(now - it->second.last);
      if (it->second.tokens + seconds * rate_ >= burst_) {
        buckets_.erase(it++);
      } else {
        ++it;
      }
    }
    if (buckets_.size() >= kMaxSources) return false;
  }
  auto [it, inserted] = buckets_.try_emplace(source);
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = burst_;
  } else {
    const double seconds =
        std::max(0.0, absl::ToDoubleSeconds(now - bucket.last));
    bucket.tokens = std::min(burst_, bucket.tokens + seconds * rate_);
  }
  bucket.last = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

}  // namespace muster::dns
