#include "healthchecker/health_checker.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace muster::healthchecker {
namespace {

// A failed report (e.g. the store is unavailable) is retried this late.
constexpr absl::Duration kReportRetryDelay = absl::Seconds(1);

std::string Describe(const TargetKey& key) {
  return absl::StrCat(key.realm, "/", key.service, "/", key.id);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HealthChecker>> HealthChecker::Create(
    const Options& options, TargetSource& source, VerdictSink& sink,
    Clock& clock, Metrics& metrics) {
  // Checks the networks; CreateWithProbers checks the rest.
  absl::StatusOr<NetworkPolicy> policy =
      NetworkPolicy::Create(NetworkPolicyOptions(options));
  if (!policy.ok()) return policy.status();
  absl::StatusOr<Probers> probers =
      MakeProbers(*policy, ProbeTrust{options.probe_ca_file});
  if (!probers.ok()) return probers.status();
  return CreateWithProbers(options, *std::move(probers), source, sink, clock,
                           metrics);
}

absl::StatusOr<std::unique_ptr<HealthChecker>> HealthChecker::CreateWithProbers(
    const Options& options, Probers probers, TargetSource& source,
    VerdictSink& sink, Clock& clock, Metrics& metrics) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  if (!probers.http || !probers.tcp || !probers.grpc) {
    return absl::InvalidArgumentError(
        "probers: http, tcp and grpc are required");
  }
  absl::StatusOr<NetworkPolicy> policy =
      NetworkPolicy::Create(NetworkPolicyOptions(options));
  if (!policy.ok()) return policy.status();
  return std::unique_ptr<HealthChecker>(
      new HealthChecker(options, *std::move(policy), std::move(probers), source,
                        sink, clock, metrics));
}

HealthChecker::HealthChecker(const Options& options,
                             NetworkPolicy network_policy, Probers probers,
                             TargetSource& source, VerdictSink& sink,
                             Clock& clock, Metrics& metrics)
    : options_(options),
      network_policy_(std::move(network_policy)),
      probers_(std::move(probers)),
      source_(source),
      clock_(clock),
      metrics_(metrics),
      scheduler_(SchedulerOptions(options), clock),
      verdicts_(sink),
      sessions_(options.eviction_protection_share) {
  scheduler_.OnStall([this](absl::Duration gap) { OnStall(gap); });
}

HealthChecker::~HealthChecker() { Stop(); }

absl::Status HealthChecker::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopped_) {
      return absl::FailedPreconditionError("health checker: already started");
    }
    started_ = true;
  }
  for (Prober* prober : AllProbers()) {
    if (absl::Status status = prober->Start(); !status.ok()) return status;
  }
  if (options_.scheduler_thread == SchedulerThread::kRun) scheduler_.Start();
  scheduler_.ScheduleAt(clock_.Now() + options_.eviction_sweep_interval,
                        [this] { Sweep(); });
  source_.Subscribe(this);
  return absl::OkStatus();
}

void HealthChecker::Stop() {
  bool subscribed;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    subscribed = started_;
  }
  if (subscribed) source_.Unsubscribe(this);
  scheduler_.Stop();
  for (Prober* prober : AllProbers()) prober->Stop();
  verdicts_.Close();
}

Prober& HealthChecker::ProberFor(CheckKind kind) const {
  if (kind == CheckKind::kTcp) return *probers_.tcp;
  if (kind == CheckKind::kGrpc) return *probers_.grpc;
  return *probers_.http;
}

void HealthChecker::AddSessionLocked(const Target& target, absl::Time now) {
  CheckSession& session = sessions_.Add(target, now);
  const uint64_t id = session.id();
  if (target.check.kind == CheckKind::kTtl) {
    ArmTtlTimerLocked(session);
  } else {
    session.check_id = scheduler_.AddCheck(
        session.ProbeHost(), session.target().check.interval,
        [this, id](uint64_t check_id, absl::Duration lag) {
          RunProbe(id, check_id, lag);
        });
  }
  metrics_.SetTargets(sessions_.size());
}

void HealthChecker::RemoveSessionLocked(uint64_t id) {
  refused_evictions_.erase(id);
  std::unique_ptr<CheckSession> session = sessions_.Remove(id);
  if (session == nullptr) return;
  // A probe in flight keeps its slot until it completes; its result finds
  // no session and is dropped.
  if (session->check_id.has_value()) scheduler_.RemoveCheck(*session->check_id);
  if (session->ttl_timer.has_value()) scheduler_.Cancel(*session->ttl_timer);
  metrics_.SetTargets(sessions_.size());
}

void HealthChecker::ArmTtlTimerLocked(CheckSession& session) {
  if (session.ttl_timer.has_value()) return;
  const std::optional<absl::Time> deadline =
      sessions_.ttl().Deadline(session.id());
  if (!deadline.has_value()) return;
  const uint64_t id = session.id();
  session.ttl_timer =
      scheduler_.ScheduleAt(*deadline, [this, id] { OnTtlTimer(id); });
}

void HealthChecker::OnTargetUpsert(const Target& target) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  if (CheckSession* session = sessions_.FindKey(target.key)) {
    if (!session->NeedsRestart(target)) {
      session->Update(target);
      sessions_.Refresh(*session);
      return;
    }
    // A new incarnation or spec starts afresh.
    RemoveSessionLocked(session->id());
  }
  // The registry marks unchecked instances passing itself.
  if (target.check.kind == CheckKind::kNone) return;
  AddSessionLocked(target, now);
}

void HealthChecker::OnTargetRemoved(const TargetKey& key,
                                    uint64_t incarnation) {
  absl::MutexLock lock(&mu_);
  if (CheckSession* session = sessions_.FindCurrent(key, incarnation)) {
    RemoveSessionLocked(session->id());
  }
}

void HealthChecker::OnHeartbeat(const TargetKey& key, uint64_t incarnation,
                                absl::Time at) {
  Followup followup;
  {
    absl::MutexLock lock(&mu_);
    CheckSession* session = sessions_.FindCurrent(key, incarnation);
    if (stopped_ || session == nullptr ||
        !sessions_.ttl().Heartbeat(session->id(), at)) {
      return;
    }
    metrics_.Heartbeat();
    const Transition transition = session->Record(
        ProbeResult::kSuccess, "ttl: heartbeat received", clock_.Now());
    ArmTtlTimerLocked(*session);
    followup = AfterResultLocked(*session, transition);
  }
  Follow(std::move(followup));
}

void HealthChecker::OnTtlTimer(uint64_t id) {
  Followup followup;
  {
    absl::MutexLock lock(&mu_);
    CheckSession* session = sessions_.Find(id);
    if (session == nullptr) return;
    session->ttl_timer.reset();
    const absl::Time now = clock_.Now();
    if (sessions_.ttl().TakeExpiry(id, now)) {
      const Transition transition = session->Record(
          ProbeResult::kFailure,
          absl::StrCat("ttl expired: no heartbeat within ",
                       absl::FormatDuration(session->target().check.ttl)),
          now);
      followup = AfterResultLocked(*session, transition);
    } else if (sessions_.ttl().Deadline(id).value_or(now) > now) {
      // A heartbeat moved the deadline since this timer was armed.
      ArmTtlTimerLocked(*session);
    }
  }
  Follow(std::move(followup));
}

HealthChecker::Followup HealthChecker::AfterResultLocked(
    CheckSession& session, Transition transition) {
  sessions_.Refresh(session, /*fresh_result=*/true);
  Followup followup{session.id(), session.StartReport(), ""};
  if (transition == Transition::kChanged) {
    const Health health = session.state().health();
    metrics_.TransitionTo(health);
    const std::string& output = session.output();
    followup.log = absl::StrCat("checker: ", Describe(session.target().key),
                                " is ", HealthName(health), ": ",
                                output.substr(0, output.find('\n')));
  }
  return followup;
}

void HealthChecker::Follow(Followup followup) {
  if (!followup.log.empty()) LogLine(LogLevel::kInfo, followup.log);
  if (followup.report.has_value()) {
    SendReport(followup.session, *followup.report);
  }
}

void HealthChecker::RunProbe(uint64_t id, uint64_t check_id,
                             absl::Duration lag) {
  ProbeRequest request;
  {
    absl::MutexLock lock(&mu_);
    CheckSession* session = sessions_.Find(id);
    if (session == nullptr || session->check_id != check_id) {
      // Removed after it was due: give its slot back.
      scheduler_.Done(check_id);
      return;
    }
    request = session->MakeProbeRequest();
  }
  metrics_.ProbeStarted(lag);
  const CheckKind kind = request.check.kind;
  const absl::Time started = clock_.Now();
  ProberFor(kind).Probe(
      request, [this, id, check_id, kind, started](ProbeOutcome outcome) {
        OnProbeDone(id, check_id, kind, started, std::move(outcome));
      });
}

void HealthChecker::OnProbeDone(uint64_t id, uint64_t check_id, CheckKind kind,
                                absl::Time started, ProbeOutcome outcome) {
  const absl::Time now = clock_.Now();
  metrics_.ProbeFinished(kind, outcome.result, now - started);
  if (scheduler_.Stalled()) {
    // The process was stopped while this probe ran (it likely timed out
    // meanwhile), and the scheduler has not yet granted the grace after
    // the stall: the result says nothing about the target. The next tick
    // probes it again.
    scheduler_.Done(check_id);
    return;
  }
  Followup followup;
  {
    absl::MutexLock lock(&mu_);
    CheckSession* session = sessions_.Find(id);
    if (session != nullptr && session->check_id == check_id) {
      const Transition transition =
          session->Record(outcome.result, std::move(outcome.output), now);
      followup = AfterResultLocked(*session, transition);
    }
  }
  scheduler_.Done(check_id);
  Follow(std::move(followup));
}

void HealthChecker::SendReport(uint64_t id, Health health) {
  TargetKey key;
  uint64_t incarnation;
  std::string output;
  {
    absl::MutexLock lock(&mu_);
    CheckSession* session = sessions_.Find(id);
    if (stopped_ || session == nullptr) return;
    key = session->target().key;
    incarnation = session->target().incarnation;
    output = session->output();
  }
  verdicts_.ReportHealth(key, incarnation, health, std::move(output),
                         [this, id, health](const absl::Status& status) {
                           OnReportDone(id, health, status);
                         });
}

void HealthChecker::ReportIfNeeded(uint64_t id) {
  std::optional<Health> report;
  {
    absl::MutexLock lock(&mu_);
    if (CheckSession* session = sessions_.Find(id)) {
      report = session->StartReport();
    }
  }
  if (report.has_value()) SendReport(id, *report);
}

void HealthChecker::OnReportDone(uint64_t id, Health health,
                                 const absl::Status& status) {
  // On the registry's commit thread: no sink call, no log from here.
  absl::MutexLock lock(&mu_);
  CheckSession* session = sessions_.Find(id);
  if (session == nullptr) return;
  session->FinishReport(health, status);
  // NOT_FOUND / FAILED_PRECONDITION: the incarnation is gone, and
  // OnTargetRemoved follows.
  if (absl::IsNotFound(status) || absl::IsFailedPrecondition(status)) return;
  // The verdict may have moved on meanwhile, or the store failed.
  const absl::Duration delay =
      status.ok() ? absl::ZeroDuration() : kReportRetryDelay;
  scheduler_.ScheduleAt(clock_.Now() + delay,
                        [this, id] { ReportIfNeeded(id); });
}

void HealthChecker::Sweep() {
  std::vector<std::string> realms;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    realms = sessions_.eviction().Realms();
  }
  // Realm settings can change at any time; ask outside the lock.
  std::vector<std::optional<double>> shares;
  for (const std::string& realm : realms) {
    shares.push_back(source_.EvictionProtectionShare(realm));
  }
  struct Eviction {
    uint64_t session;
    TargetKey key;
    uint64_t incarnation;
    std::string reason;
    // False for one the registry refused before (see OnEvictDone).
    bool announce = true;
  };
  std::vector<Eviction> evictions;
  std::vector<Eviction> held;
  const absl::Time now = clock_.Now();
  EvictionPolicy::SweepResult result;
  {
    absl::MutexLock lock(&mu_);
    EvictionPolicy& policy = sessions_.eviction();
    for (size_t i = 0; i < realms.size(); ++i) {
      policy.SetRealmShare(realms[i], shares[i]);
    }
    result = policy.Sweep(now);
    for (const auto& [list, out] : {std::pair(&result.evict, &evictions),
                                    std::pair(&result.held_back, &held)}) {
      for (const EvictionPolicy::Eviction& e : *list) {
        const CheckSession& session = *sessions_.Find(e.session);
        out->push_back(Eviction{
            e.session, session.target().key, session.target().incarnation,
            EvictionPolicy::Reason(e.critical_for, session.output()),
            refused_evictions_.count(e.session) == 0});
      }
    }
    metrics_.SetPausedRealms(policy.paused_realms());
  }
  for (const EvictionPolicy::RealmChange& change : result.realm_changes) {
    MUSTER_LOG(kWarning,
               "checker: eviction protection %s evictions in realm %s: %d of "
               "%d checked instances critical (protection share %.2f)",
               change.paused ? "pauses" : "resumes", change.realm,
               change.critical, change.checked, change.share);
  }
  for (const Eviction& e : held) {
    metrics_.EvictionHeld();
    MUSTER_LOG(kWarning, "checker: eviction protection holds back %s (%s)",
               Describe(e.key), e.reason);
  }
  for (Eviction& e : evictions) {
    // An eviction the registry refused is tried at every sweep; it is
    // counted and logged once.
    if (e.announce) {
      metrics_.Evicted();
      MUSTER_LOG(kInfo, "checker: evicting %s: %s", Describe(e.key), e.reason);
    }
    const uint64_t id = e.session;
    verdicts_.Evict(
        e.key, e.incarnation, std::move(e.reason),
        [this, id](const absl::Status& status) { OnEvictDone(id, status); });
  }
  scheduler_.ScheduleAt(now + options_.eviction_sweep_interval,
                        [this] { Sweep(); });
}

void HealthChecker::OnEvictDone(uint64_t id, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    // OnTargetRemoved follows too; removing now spares a probe.
    RemoveSessionLocked(id);
    return;
  }
  // Gone, drained meanwhile (FAILED_PRECONDITION), refused by the
  // registry's eviction protection (several replicas) or a store error:
  // the upsert or removal that explains it arrives on its own; an
  // instance still due at the next sweep is tried again.
  if (refused_evictions_.insert(id).second) {
    MUSTER_LOG(kInfo, "checker: eviction not done, tried again while due: %s",
               status.message());
  }
  sessions_.eviction().EvictionFailed(id);
}

void HealthChecker::OnStall(absl::Duration gap) {
  metrics_.Stalled();
  const absl::Time now = clock_.Now();
  size_t checks;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    checks = sessions_.GraceAfterStall(now, gap);
  }
  MUSTER_LOG(kWarning,
             "checker: stall detected: the checker did not run for %s (the "
             "process or host was stopped); %d checks get a fresh interval "
             "or TTL before they can go critical, and eviction countdowns "
             "skip the stall",
             absl::FormatDuration(absl::Trunc(gap, absl::Milliseconds(1))),
             checks);
}

std::optional<HealthDetail> HealthChecker::Detail(const TargetKey& key,
                                                  uint64_t incarnation) const {
  absl::MutexLock lock(&mu_);
  return sessions_.Detail(key, incarnation);
}

}  // namespace muster::healthchecker
