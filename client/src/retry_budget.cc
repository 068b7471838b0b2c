#include "client/src/retry_budget.h"

#include <algorithm>
#include <utility>

namespace muster::client::internal {

RetryBudget::RetryBudget(double ratio, std::chrono::milliseconds window,
                         int min_per_second, std::shared_ptr<Clock> clock)
    : ratio_(std::max(ratio, 0.0)),
      slice_width_(std::max<Clock::Duration>(
          std::chrono::duration_cast<Clock::Duration>(window) / kSlices,
          std::chrono::milliseconds(1))),
      min_per_second_(std::max(min_per_second, 0)),
      clock_(clock != nullptr ? std::move(clock) : Clock::Real()),
      epoch_(clock_->Now()) {}

RetryBudget::Slice& RetryBudget::CurrentSlice(Clock::TimePoint now) {
  const int64_t index = (now - epoch_) / slice_width_;
  Slice& slice = slices_[static_cast<size_t>(index % kSlices)];
  if (slice.index != index) slice = Slice{index, 0, 0};
  return slice;
}

void RetryBudget::Deposit() {
  std::lock_guard<std::mutex> lock(mu_);
  ++CurrentSlice(clock_->Now()).deposits;
}

bool RetryBudget::TryWithdraw() {
  const Clock::TimePoint now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  Slice& current = CurrentSlice(now);
  uint64_t deposits = 0;
  uint64_t withdrawals = 0;
  for (const Slice& slice : slices_) {
    if (slice.index >= 0 && current.index - slice.index < kSlices) {
      deposits += slice.deposits;
      withdrawals += slice.withdrawals;
    }
  }
  // The epsilon keeps 5 * 0.2 from falling short of one token.
  if (static_cast<double>(withdrawals) + 1.0 <=
      ratio_ * static_cast<double>(deposits) + 1e-9) {
    ++current.withdrawals;
    return true;
  }
  while (!minimum_used_.empty() &&
         now - minimum_used_.front() >= std::chrono::seconds(1)) {
    minimum_used_.pop_front();
  }
  if (static_cast<int>(minimum_used_.size()) < min_per_second_) {
    minimum_used_.push_back(now);
    return true;
  }
  return false;
}

}  // namespace muster::client::internal
