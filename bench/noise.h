#pragma once

// The bench's noise guard: how much CPU programs other than the ones
// under test used while a point was measured, from /proc/stat less the
// CPU time of the watched processes (the daemons, etcd, the bench
// itself), and the rule that re-runs a point measured while that was over
// a threshold. The parsing and the decision are pure functions (tested in
// tests/unit/bench); NoiseGuard reads /proc.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace muster::bench {

// The whole machine's CPU time from the aggregate "cpu" line of
// /proc/stat, in clock ticks (USER_HZ).
struct CpuTimes {
  // user + nice + system + steal: time the cores ran a program, or were
  // taken by the hypervisor for another guest; and irq + softirq when
  // `count_interrupts` (see ParseProcStat).
  uint64_t busy = 0;
  // Every field but guest and guest_nice (already counted in user).
  uint64_t total = 0;
};

// The "cpu " line of a /proc/stat text; nullopt when there is none or it
// has fewer than the 4 fields every kernel prints. `count_interrupts`:
// interrupt and softirq time count as busy. Right when the kernel
// charges it to the task it interrupted (no CONFIG_IRQ_TIME_ACCOUNTING):
// then the loopback traffic of the processes under test is in their own
// utime + stime too. With that option it is charged to no task, and
// counting it would take the tested processes' network work for noise.
std::optional<CpuTimes> ParseProcStat(std::string_view text,
                                      bool count_interrupts);

// Whether a kernel config text (/boot/config-RELEASE) accounts interrupt
// time apart from tasks (CONFIG_IRQ_TIME_ACCOUNTING=y); nullopt when it
// does not say.
std::optional<bool> IrqTimeAccountedApart(std::string_view kernel_config);

// utime + stime (ticks) of a /proc/PID/stat text; nullopt when it cannot
// be parsed. The command name may hold spaces and parentheses.
std::optional<uint64_t> ParseProcessTicks(std::string_view text);

// The cores other programs kept busy between two samples: the machine's
// busy ticks less `tested_ticks` (those of the processes under test) over
// `wall_seconds`; never negative (the two counters are sampled apart, so
// a quiet point can come out a tick below zero).
double OtherCores(const CpuTimes& before, const CpuTimes& after,
                  uint64_t tested_ticks, double wall_seconds,
                  double ticks_per_second);

struct NoisePolicy {
  // A point is noisy when other programs used more cores than this. At
  // most 0: the guard is off (nothing is measured).
  double threshold_cores = 0.3;
  // Re-runs of a noisy point, at most.
  int retries = 2;
};

// One attempt of a point as the guard sees it.
struct AttemptNoise {
  double other_cores = 0;
  // The attempt cannot be judged or must not be repeated (it failed):
  // keep it and stop.
  bool final = false;
};

struct GuardOutcome {
  int kept = 0;            // index of the attempt kept
  int attempts = 0;        // attempts run
  double other_cores = 0;  // of the kept attempt
  bool noisy = false;      // the kept attempt was over the threshold
};

// Runs `attempt(0)`, and while the last attempt was noisy (and not final)
// and fewer than policy.retries re-runs were made, `attempt(1)`, ...:
// keeps the quietest attempt (the first of equals; a final one always).
// Runs at most policy.retries + 1 attempts.
GuardOutcome RunGuarded(const NoisePolicy& policy,
                        const std::function<AttemptNoise(int)>& attempt);

// The process-wide guard: its policy and the processes under test.
// Thread-safe.
class NoiseGuard {
 public:
  // The guard every closed loop of the bench consults.
  static NoiseGuard& Global();

  void SetPolicy(const NoisePolicy& policy) ABSL_LOCKS_EXCLUDED(mu_);
  NoisePolicy policy() const ABSL_LOCKS_EXCLUDED(mu_);
  // False when the threshold is off or /proc/stat cannot be read.
  bool enabled() const ABSL_LOCKS_EXCLUDED(mu_);

  // A process under test from now on (its CPU is not "other"), until
  // Unwatch. The bench itself always is.
  void Watch(pid_t pid) ABSL_LOCKS_EXCLUDED(mu_);
  void Unwatch(pid_t pid) ABSL_LOCKS_EXCLUDED(mu_);

  struct Sample {
    CpuTimes cpu;
    uint64_t tested_ticks = 0;
    std::chrono::steady_clock::time_point at;
  };
  // Reads /proc/stat and the watched processes' /proc/PID/stat. A
  // process that exits between two samples makes its ticks vanish from
  // the second: a point across such an exit reads as noisier than it was.
  Sample Take() const ABSL_LOCKS_EXCLUDED(mu_);
  // Other programs' cores between two samples.
  static double OtherCoresBetween(const Sample& before, const Sample& after);

 private:
  NoiseGuard() = default;

  mutable absl::Mutex mu_;
  NoisePolicy policy_ ABSL_GUARDED_BY(mu_);
  std::set<pid_t> watched_ ABSL_GUARDED_BY(mu_);
};

// Processes under test for the lifetime of this object (e.g. the etcd
// members a scenario starts). Not thread-safe.
class ScopedWatch {
 public:
  explicit ScopedWatch(std::vector<pid_t> pids) : pids_(std::move(pids)) {
    for (pid_t pid : pids_) NoiseGuard::Global().Watch(pid);
  }
  ~ScopedWatch() {
    for (pid_t pid : pids_) NoiseGuard::Global().Unwatch(pid);
  }
  ScopedWatch(const ScopedWatch&) = delete;
  ScopedWatch& operator=(const ScopedWatch&) = delete;

 private:
  const std::vector<pid_t> pids_;
};

}  // namespace muster::bench
