#include "cli/interrupt.h"

#include <signal.h>

#include <algorithm>
#include <atomic>

#include "absl/time/clock.h"

namespace muster::cli {
namespace {

// Lock-free, so that the signal handler may set it.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

// How often a sleep looks at the flag: the delay between a signal and the
// command noticing it.
constexpr absl::Duration kSlice = absl::Milliseconds(50);

void OnInterrupt(int) { g_interrupted.store(true); }

}  // namespace

void CatchInterrupts() {
  struct sigaction action {};
  action.sa_handler = &OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool Interrupted() { return g_interrupted.load(); }

void SleepUnlessInterrupted(absl::Duration d) {
  absl::Time end = absl::Now() + d;
  while (!Interrupted()) {
    absl::Duration left = end - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    absl::SleepFor(std::min(left, kSlice));
  }
}

}  // namespace muster::cli
