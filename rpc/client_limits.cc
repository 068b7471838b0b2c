#include "rpc/client_limits.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace muster::registry {

RequestRateLimiter::RequestRateLimiter(const Options& options, Clock& clock)
    : options_{options.rate, std::max(options.burst, 1.0), options.max_keys},
      clock_(clock),
      refill_time_(
          options.rate > 0
              ? absl::Seconds(std::max(options.burst, 1.0) / options.rate)
              : absl::ZeroDuration()) {}

double RequestRateLimiter::Refilled(const Bucket& bucket,
                                    absl::Duration now) const {
  const double elapsed = absl::ToDoubleSeconds(now - bucket.updated);
  return std::min(options_.burst,
                  bucket.tokens + std::max(elapsed, 0.0) * options_.rate);
}

void RequestRateLimiter::SweepLocked(absl::Duration now) {
  last_sweep_ = now;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    // erase(it++) is flat_hash_map's way to erase while iterating.
    if (Refilled(it->second, now) >= options_.burst) {
      buckets_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Duration RequestRateLimiter::Take(absl::string_view key) {
  if (!enabled()) return absl::ZeroDuration();
  const absl::Duration now = clock_.Monotonic();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_keys) {
      if (now - last_sweep_ < refill_time_) return absl::ZeroDuration();
      SweepLocked(now);
      // Every bucket is in use: a new client is let through untracked.
      if (buckets_.size() >= options_.max_keys) return absl::ZeroDuration();
    }
    it = buckets_.emplace(std::string(key), Bucket{options_.burst, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = Refilled(bucket, now);
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return absl::ZeroDuration();
  }
  // Rounded up to the millisecond, so a client that waits that long is
  // let in.
  const double wait_ms = std::ceil((1 - bucket.tokens) / options_.rate * 1e3);
  return absl::Milliseconds(std::max(wait_ms, 1.0));
}

size_t RequestRateLimiter::KeyCount() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

WatcherLimiter::Lease::~Lease() { limiter_.Release(key_); }

std::unique_ptr<WatcherLimiter::Lease> WatcherLimiter::Acquire(
    absl::string_view key) {
  {
    absl::MutexLock lock(&mu_);
    uint32_t& open = open_[key];
    if (max_per_client_ != 0 && open >= max_per_client_) return nullptr;
    ++open;
  }
  return std::unique_ptr<Lease>(new Lease(*this, std::string(key)));
}

uint32_t WatcherLimiter::Open(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(key);
  return it == open_.end() ? 0 : it->second;
}

void WatcherLimiter::Release(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(key);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

}  // namespace muster::registry
