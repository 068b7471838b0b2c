#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace muster::healthchecker {

// Runs periodic checks and one-shot timers on an injected Clock. A check's
// first tick lands uniformly in [0, interval) after it is added, so a
// fleet added at once never fires in a burst; every later tick lands
// interval * [1 - jitter, 1 + jitter] after the previous probe finished
// (and the thread starts it up to batch_window late, gathering work).
// Probes in flight are bounded globally and per host: a due check waits
// for a free slot. What is due is decided from clock.Now() only; the
// thread's timed wait merely wakes it up. A stall (the process or host
// stopped: the scheduler ran far later than it promised to) is noticed on
// the clock's monotonic time and handed to the stall handler before
// anything due runs. Thread-safe. Either Start() the thread, or drive the
// scheduler by calling RunDue() at least every max_wait (tests,
// FakeClock).
class Scheduler final {
 public:
  struct Options {
    size_t max_in_flight = 1024;
    size_t max_in_flight_per_host = 64;
    double jitter = 0.1;
    uint64_t random_seed = 0;
    // Longest the thread sleeps before it looks at the clock again.
    absl::Duration max_wait = absl::Milliseconds(250);
    // The thread sleeps until this long after the earliest due time, so
    // that checks due close together start in one wake-up (and reach a
    // prober as one batch) rather than one wake-up each: at most this
    // much schedule lag, for far fewer thread switches at thousands of
    // probes per second.
    absl::Duration batch_window = absl::Milliseconds(1);
    // A stall: RunDue() runs more than this later than max_wait after the
    // previous RunDue() began, on the monotonic clock.
    absl::Duration stall_threshold = absl::Seconds(2);
  };
  // Starts the probe of check `id`, `lag` after it was due. The probe's
  // completion must call Done(id), exactly once.
  using RunCheck = std::function<void(uint64_t id, absl::Duration lag)>;
  using Task = std::function<void()>;
  // Gets how long the scheduler did not run (monotonic).
  using StallHandler = std::function<void(absl::Duration gap)>;

  // REQUIRES: options are valid (see HealthChecker::Create).
  Scheduler(const Options& options, Clock& clock);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Adds a periodic check of `host`; returns its id (never reused).
  uint64_t AddCheck(std::string host, absl::Duration interval, RunCheck run);
  // Stops ticking `id`. A probe in flight keeps its slot until Done(id).
  void RemoveCheck(uint64_t id);
  // The probe of `id` finished: frees its slot and schedules the next tick.
  void Done(uint64_t id);

  // Runs `task` once, at or after `when`; returns an id for Cancel().
  uint64_t ScheduleAt(absl::Time when, Task task);
  void Cancel(uint64_t timer_id);

  // Called at the start of the first RunDue() after a stall, outside the
  // lock and before anything due runs. REQUIRES: before Start() and the
  // first RunDue().
  void OnStall(StallHandler handler);
  // True while the scheduler is overdue by more than the stall threshold:
  // a stall that the next RunDue() will take. A result measured across it
  // (a probe that timed out while the process was stopped) is unreliable.
  bool Stalled() const;

  // Notices a stall (see OnStall), then runs every timer that is due and
  // starts every due check that has a slot, outside the lock. Returns how
  // many it ran.
  size_t RunDue();

  // The scheduler's own thread calling RunDue(). Stop() is idempotent and
  // joining; no task or check runs after it returns.
  void Start();
  void Stop();

  size_t in_flight() const;
  // When the earliest timer or tick is due (for tests).
  std::optional<absl::Time> NextDue() const;

 private:
  enum class Phase { kWaiting, kReady, kRunning };
  struct Check {
    std::string host;
    absl::Duration interval;
    RunCheck run;
    Phase phase = Phase::kWaiting;
    absl::Time due;
    bool removed = false;
  };
  struct HeapEntry {
    absl::Time when;
    uint64_t sequence;
    uint64_t id;
    friend bool operator>(const HeapEntry& a, const HeapEntry& b) {
      if (a.when != b.when) return a.when > b.when;
      return a.sequence > b.sequence;
    }
  };
  struct Launch {
    RunCheck run;
    uint64_t id;
    absl::Duration lag;
  };

  void PushLocked(absl::Time when, uint64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration JitteredLocked(absl::Duration interval)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartReadyLocked(absl::Time now, std::vector<Launch>* starts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How long since the previous RunDue() began, when that is a stall.
  std::optional<absl::Duration> StallLocked(absl::Duration monotonic) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop();

  const Options options_;
  Clock& clock_;

  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Check> checks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Task> timers_ ABSL_GUARDED_BY(mu_);
  std::priority_queue<HeapEntry, std::vector<HeapEntry>,
                      std::greater<HeapEntry>>
      heap_ ABSL_GUARDED_BY(mu_);
  // Due checks waiting for a slot, oldest first.
  std::deque<uint64_t> ready_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, size_t> host_in_flight_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
  StallHandler on_stall_ ABSL_GUARDED_BY(mu_);
  // Monotonic time when the latest RunDue() began.
  std::optional<absl::Duration> last_run_ ABSL_GUARDED_BY(mu_);
  // The stall handler of a RunDue() is running.
  bool stall_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Touched only by Start() and Stop().
};

}  // namespace muster::healthchecker
