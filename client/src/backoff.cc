#include "client/src/backoff.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace muster::client::internal {

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max,
                 uint64_t seed)
    : base_(std::max(base, std::chrono::milliseconds(1))),
      max_(std::max(max, base_)),
      ceiling_(base_),
      random_(seed) {}

std::chrono::milliseconds Backoff::Next() {
  std::uniform_int_distribution<int64_t> jitter(0, ceiling_.count());
  const std::chrono::milliseconds delay(jitter(random_));
  ceiling_ = std::min(max_, ceiling_ * 2);
  return delay;
}

void Backoff::Reset() { ceiling_ = base_; }

uint64_t RandomSeed() {
  // std::random_device is costly to open (it was a fifth of an HTTP
  // call's CPU when made per request): once per thread, then a generator.
  thread_local std::mt19937_64 seeds([] {
    std::random_device device;
    const uint64_t time = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    return (static_cast<uint64_t>(device()) << 32) ^ device() ^ time;
  }());
  return seeds();
}

}  // namespace muster::client::internal
