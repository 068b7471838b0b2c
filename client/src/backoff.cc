#include "client/src/backoff.h"

#include <algorithm>
#include <atomic>
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
  static std::atomic<uint64_t> counter{0};
  std::random_device device;
  const uint64_t time = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  return (static_cast<uint64_t>(device()) << 32) ^ time ^
         (counter.fetch_add(1) * 0x9e3779b97f4a7c15ULL);
}

}  // namespace muster::client::internal
