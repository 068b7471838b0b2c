#pragma once

// RetryBudget: how many retries a client may send, so that retries cannot
// multiply the load on a failing service. Thread-safe.
//
// Each first try deposits `ratio` of a token and each retry withdraws a
// whole one, over a sliding `window` (kept in ten slices, so a deposit
// expires between 0.9 and 1 window after it was made). When the tokens
// run out, `min_per_second` retries per second are still allowed, so that
// a client sending few requests can retry at all.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "muster/client/clock.h"

namespace muster::client::internal {

class RetryBudget {
 public:
  RetryBudget(double ratio, std::chrono::milliseconds window,
              int min_per_second, std::shared_ptr<Clock> clock);

  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  // A first try is being sent.
  void Deposit();
  // A retry would be sent: true (and the retry is counted) when the
  // budget allows it.
  bool TryWithdraw();

 private:
  static constexpr int kSlices = 10;
  struct Slice {
    int64_t index = -1;
    uint64_t deposits = 0;
    uint64_t withdrawals = 0;
  };

  // REQUIRES: mu_ held. The slice for `now`, emptied if it was older.
  Slice& CurrentSlice(Clock::TimePoint now);

  // Constant after construction.
  const double ratio_;
  const Clock::Duration slice_width_;
  const int min_per_second_;
  const std::shared_ptr<Clock> clock_;
  const Clock::TimePoint epoch_;

  std::mutex mu_;
  std::array<Slice, kSlices> slices_;  // guarded by mu_
  // When the minimum allowance was used over the last second; at most
  // min_per_second_ entries. Guarded by mu_.
  std::deque<Clock::TimePoint> minimum_used_;
};

}  // namespace muster::client::internal
