#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace muster {

// Bounds how many lines a source that outsiders can trigger (a library's
// complaints about bad requests, say) writes to the log: at most `burst`
// lines per `window`, on the clock's monotonic time. The lines dropped
// are counted, and the next line let through says how many there were.
// Thread-safe.
class LogLimiter {
 public:
  struct Options {
    int burst = 10;
    absl::Duration window = absl::Seconds(60);
  };

  LogLimiter(Clock& clock, Options options)
      : clock_(clock), options_(options) {}

  // True when a line may be written now; `*dropped` is then the number of
  // lines refused since the last one let through (0 when none).
  bool Allow(uint64_t* dropped);
  // Lines refused in all.
  uint64_t DroppedTotal() const;

 private:
  Clock& clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::Duration window_start_ ABSL_GUARDED_BY(mu_) = absl::InfiniteDuration();
  int used_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace muster
