#pragma once

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"

namespace muster::registry {

// HeapTrimmer gives freed heap back to the system after a burst of frees.
// glibc keeps memory that other threads freed in their arenas for reuse;
// after a connection flood or a crowd of watchers is gone, that is
// hundreds of MiB the daemon no longer needs. Whoever just let go of a lot
// calls Note(); for `window` after the last Note() a thread calls
// malloc_trim(0) at most every `every`. Trimming walks the heap, so it
// runs only then, never on a timer of its own. Thread-safe.
class HeapTrimmer final {
 public:
  struct Options {
    absl::Duration every = absl::Seconds(5);
    absl::Duration window = absl::Minutes(1);
  };

  HeapTrimmer(Clock& clock, Metrics& metrics, Options options);
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;
  // Stops and joins the thread.
  ~HeapTrimmer();

  // Memory was (or is about to be) released: trim for the next `window`.
  void Note();
  // Memory will be released over `how_long` (for example connections
  // waiting for their handshake timeout): trim until then plus `window`.
  void NoteFor(absl::Duration how_long);

 private:
  void Run();

  Clock& clock_;
  const Options options_;
  Counter& trims_;
  absl::Mutex mu_;
  absl::Time trim_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_trim_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace muster::registry
