#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "checkapi/target_source.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "healthchecker/checker_metrics.h"
#include "healthchecker/checker_options.h"
#include "healthchecker/health_state.h"
#include "healthchecker/network_policy.h"
#include "healthchecker/prober.h"
#include "healthchecker/scheduler.h"
#include "healthchecker/session_table.h"
#include "healthchecker/verdict_gate.h"

namespace muster::healthchecker {

// The health checker: learns targets from a TargetSource, probes them
// (HTTP, TCP, gRPC) or tracks their TTL heartbeats, turns results into
// health with thresholds, reports changes of health to the VerdictSink,
// and evicts instances critical for their deregister_after, under
// realm-wide eviction protection. CheckKind::kNone targets are not
// checked. Thread-safe. Lock order: the checker's mutex, then the
// Scheduler's; nothing calls out (sink, source, prober, log) with the
// checker's mutex held.
class HealthChecker final : public TargetListener, public HealthDetailProvider {
 public:
  using Options = HealthCheckerOptions;
  using SchedulerThread = HealthCheckerOptions::SchedulerThread;
  using Probers = ProberSet;

  // With the real HTTP, TCP and gRPC probers. INVALID_ARGUMENT for bad
  // options (names the option); INTERNAL when a prober cannot be made.
  // `source`, `sink`, `clock` and `metrics` must outlive the checker.
  static absl::StatusOr<std::unique_ptr<HealthChecker>> Create(
      const Options& options, TargetSource& source, VerdictSink& sink,
      Clock& clock, Metrics& metrics);
  // With the given probers (tests); all three are required.
  static absl::StatusOr<std::unique_ptr<HealthChecker>> CreateWithProbers(
      const Options& options, Probers probers, TargetSource& source,
      VerdictSink& sink, Clock& clock, Metrics& metrics);

  ~HealthChecker() override;

  // Starts the probers and the scheduler, then subscribes to the source
  // (which upserts every current target). Once; FAILED_PRECONDITION the
  // second time, INTERNAL when a prober cannot start.
  absl::Status Start();
  // Unsubscribes, then stops the scheduler and the probers. Idempotent
  // and joining; no sink completion reaches the checker after it.
  void Stop();

  // The policy probes run under; the registry checks addresses and URLs
  // against it at registration (NetworkPolicy::CheckHost).
  const NetworkPolicy& network_policy() const { return network_policy_; }

  void OnTargetUpsert(const Target& target) override;
  void OnTargetRemoved(const TargetKey& key, uint64_t incarnation) override;
  void OnHeartbeat(const TargetKey& key, uint64_t incarnation,
                   absl::Time at) override;

  std::optional<HealthDetail> Detail(const TargetKey& key,
                                     uint64_t incarnation) const override;

  // Runs every due check and timer (SchedulerThread::kManual).
  size_t TEST_RunDue() { return scheduler_.RunDue(); }

 private:
  // What to do after a result, once the lock is released.
  struct Followup {
    uint64_t session = 0;
    std::optional<Health> report;
    std::string log;  // a health change, for the log
  };

  HealthChecker(const Options& options, NetworkPolicy network_policy,
                Probers probers, TargetSource& source, VerdictSink& sink,
                Clock& clock, Metrics& metrics);

  std::array<Prober*, 3> AllProbers() const {
    return {probers_.http.get(), probers_.tcp.get(), probers_.grpc.get()};
  }
  Prober& ProberFor(CheckKind kind) const;

  void AddSessionLocked(const Target& target, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveSessionLocked(uint64_t session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmTtlTimerLocked(CheckSession& session)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Eviction bookkeeping and metrics after a result.
  Followup AfterResultLocked(CheckSession& session, Transition transition)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Follow(Followup followup);

  void RunProbe(uint64_t session, uint64_t check_id, absl::Duration lag);
  void OnProbeDone(uint64_t session, uint64_t check_id, CheckKind kind,
                   absl::Time started, ProbeOutcome outcome);
  void OnTtlTimer(uint64_t session);
  void Sweep();
  // The scheduler did not run for `gap`: the restart grace again.
  void OnStall(absl::Duration gap);

  void SendReport(uint64_t session, Health health);
  void ReportIfNeeded(uint64_t session);
  void OnReportDone(uint64_t session, Health health,
                    const absl::Status& status);
  void OnEvictDone(uint64_t session, const absl::Status& status);

  const Options options_;
  const NetworkPolicy network_policy_;
  const Probers probers_;
  TargetSource& source_;
  Clock& clock_;
  CheckerMetrics metrics_;
  Scheduler scheduler_;
  VerdictGate verdicts_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  SessionTable sessions_ ABSL_GUARDED_BY(mu_);
  // Sessions whose eviction the registry refused (and that are still
  // due): their next attempts are not counted or logged again.
  std::set<uint64_t> refused_evictions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::healthchecker
