#include "common/clock.h"

#include <time.h>

#include "absl/time/clock.h"

namespace muster {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // CLOCK_BOOTTIME also counts a suspended host, which stalls us too.
  absl::Duration Monotonic() const override {
    timespec now{};
    clock_gettime(CLOCK_BOOTTIME, &now);
    return absl::DurationFromTimespec(now);
  }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock* clock = new RealClock();
  return *clock;
}

}  // namespace muster
