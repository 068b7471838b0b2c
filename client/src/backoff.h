#pragma once

// Exponential backoff with full jitter: the n-th delay is uniform in
// [0, min(max, base * 2^n)]. Not thread-safe; one per retry loop.

#include <chrono>
#include <cstdint>
#include <random>

namespace muster::client::internal {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max,
          uint64_t seed);

  // The delay before the next try; each call doubles the ceiling.
  std::chrono::milliseconds Next();
  // The ceiling Next() draws under now.
  std::chrono::milliseconds ceiling() const { return ceiling_; }
  // Back to `base` (after a success).
  void Reset();

 private:
  const std::chrono::milliseconds base_;
  const std::chrono::milliseconds max_;
  std::chrono::milliseconds ceiling_;
  std::mt19937_64 random_;
};

// A seed that differs between processes, threads and calls (for jitter).
// Cheap: a per-thread generator seeded once from std::random_device.
uint64_t RandomSeed();

}  // namespace muster::client::internal
