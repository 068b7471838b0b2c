#pragma once

#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace muster::registry {

// WatchPump runs the work of watch streams (building a message from a
// snapshot, a replay or live events, and starting its write) on a thread
// of its own. The committer only marks streams that have something new,
// and gRPC's callback threads, which serve every other RPC, only record
// what completed: a crowd of watchers connecting or lagging never delays a
// write's acknowledgement or another client's call. Thread-safe.
class WatchPump final {
 public:
  WatchPump();
  // Runs what is queued, then joins.
  ~WatchPump();
  WatchPump(const WatchPump&) = delete;
  WatchPump& operator=(const WatchPump&) = delete;

  // Queues `task`, which must not block; tasks run one at a time in order.
  void Post(std::function<void()> task);
  // Waits until every task queued so far (and any they queue) has run.
  void Drain();

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace muster::registry
