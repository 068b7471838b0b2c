#include "client/src/retry_budget.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>

#include "tests/unit/client/fake_clock.h"

namespace muster::client::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int Withdrawals(RetryBudget& budget, int wanted) {
  int granted = 0;
  for (int i = 0; i < wanted; ++i) granted += budget.TryWithdraw() ? 1 : 0;
  return granted;
}

TEST_CASE("retry budget allows ratio retries per first try",
          "[client][retry_budget]") {
  auto clock = std::make_shared<testing::FakeClock>();
  RetryBudget budget(0.2, seconds(10), 0, clock);
  CHECK_FALSE(budget.TryWithdraw());
  for (int i = 0; i < 4; ++i) budget.Deposit();
  CHECK_FALSE(budget.TryWithdraw());  // 0.8 of a token
  budget.Deposit();
  CHECK(budget.TryWithdraw());  // 5 * 0.2 = 1
  CHECK_FALSE(budget.TryWithdraw());
  for (int i = 0; i < 100; ++i) budget.Deposit();
  CHECK(Withdrawals(budget, 50) == 20);  // 105 * 0.2 = 21, one used
}

TEST_CASE("retry budget deposits expire after the window",
          "[client][retry_budget]") {
  auto clock = std::make_shared<testing::FakeClock>();
  RetryBudget budget(0.5, seconds(10), 0, clock);
  for (int i = 0; i < 10; ++i) budget.Deposit();
  clock->Advance(seconds(5));
  CHECK(Withdrawals(budget, 2) == 2);  // still inside the window
  clock->Advance(seconds(11));
  // The deposits and the withdrawals have left the window.
  CHECK_FALSE(budget.TryWithdraw());
  for (int i = 0; i < 4; ++i) budget.Deposit();
  CHECK(Withdrawals(budget, 5) == 2);
}

TEST_CASE("retry budget always allows min_per_second retries",
          "[client][retry_budget]") {
  auto clock = std::make_shared<testing::FakeClock>();
  RetryBudget budget(0.2, seconds(10), 3, clock);
  // No requests at all: the minimum allowance only.
  CHECK(Withdrawals(budget, 10) == 3);
  clock->Advance(milliseconds(500));
  CHECK_FALSE(budget.TryWithdraw());
  clock->Advance(milliseconds(500));
  CHECK(Withdrawals(budget, 10) == 3);  // a second later: 3 more
  // The ratio's tokens come first, then the minimum allowance.
  clock->Advance(seconds(1));
  for (int i = 0; i < 10; ++i) budget.Deposit();
  CHECK(Withdrawals(budget, 10) == 2 + 3);
}

}  // namespace
}  // namespace muster::client::internal
