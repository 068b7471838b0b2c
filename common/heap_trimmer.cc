#include "common/heap_trimmer.h"

#include <malloc.h>

namespace muster::registry {

HeapTrimmer::HeapTrimmer(Clock& clock, Metrics& metrics, Options options)
    : clock_(clock),
      options_(options),
      trims_(metrics.GetCounter(
          "muster_heap_trims_total",
          "malloc_trim calls after a burst of released memory (connections "
          "or watchers gone)")) {
  thread_ = std::thread([this] { Run(); });
}

HeapTrimmer::~HeapTrimmer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void HeapTrimmer::Note() { NoteFor(absl::ZeroDuration()); }

void HeapTrimmer::NoteFor(absl::Duration how_long) {
  absl::MutexLock lock(&mu_);
  trim_until_ =
      std::max(trim_until_, clock_.Now() + how_long + options_.window);
}

void HeapTrimmer::Run() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    // Wakes once a second; the decision itself follows `clock_`.
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Seconds(1));
    if (stop_) return;
    const absl::Time now = clock_.Now();
    if (now > trim_until_ || now - last_trim_ < options_.every) continue;
    last_trim_ = now;
    mu_.Unlock();
    ::malloc_trim(0);
    trims_.Increment();
    mu_.Lock();
  }
}

}  // namespace muster::registry
