// The HealthChecker with its real probers against real targets on
// 127.0.0.1; time still comes from a FakeClock and the manual scheduler.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "healthchecker/checker_options.h"
#include "healthchecker/health_checker.h"
#include "healthchecker/network_policy.h"
#include "healthchecker/prober.h"
#include "testkit/test_certs.h"
#include "tests/support/fake_clock.h"
#include "tests/support/grpc_health_target.h"
#include "tests/support/http_probe_target.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/healthchecker/fakes.h"

namespace muster::healthchecker {
namespace {

// Counts the probes started and finished by the probers it wraps, so a
// test can wait for the probes' completions (on the probers' threads)
// instead of polling. Thread-safe.
class ProbeCounter final {
 public:
  void Started() {
    absl::MutexLock lock(&mu_);
    ++started_;
  }
  void Finished() {
    absl::MutexLock lock(&mu_);
    ++finished_;
  }
  size_t started() const {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  // Waits until every probe started so far has finished, its completion
  // included; `timeout` is only a safety net.
  bool WaitIdle(absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return finished_ == started_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
  }

 private:
  mutable absl::Mutex mu_;
  size_t started_ ABSL_GUARDED_BY(mu_) = 0;
  size_t finished_ ABSL_GUARDED_BY(mu_) = 0;
};

// A real prober that tells a ProbeCounter about each probe; a probe
// counts as finished once the checker's completion has returned.
class CountedProber final : public Prober {
 public:
  CountedProber(std::unique_ptr<Prober> real, ProbeCounter& counter)
      : real_(std::move(real)), counter_(counter) {}
  absl::Status Start() override { return real_->Start(); }
  void Stop() override { real_->Stop(); }
  void Probe(const ProbeRequest& request, ProbeCallback done) override {
    counter_.Started();
    real_->Probe(request, [this, done = std::move(done)](ProbeOutcome outcome) {
      done(std::move(outcome));
      counter_.Finished();
    });
  }

 private:
  const std::unique_ptr<Prober> real_;
  ProbeCounter& counter_;
};

struct RealFixture {
  // `probe_ca_file`: what TLS probes trust (empty: the system's roots).
  explicit RealFixture(const std::string& probe_ca_file = "") {
    HealthChecker::Options options;
    options.scheduler_thread = HealthChecker::SchedulerThread::kManual;
    options.probe_ca_file = probe_ca_file;
    REQUIRE(ValidateOptions(options).ok());
    absl::StatusOr<NetworkPolicy> policy =
        NetworkPolicy::Create(NetworkPolicyOptions(options));
    INFO(policy.status());
    REQUIRE(policy.ok());
    absl::StatusOr<ProberSet> real =
        MakeProbers(*policy, ProbeTrust{options.probe_ca_file});
    INFO(real.status());
    REQUIRE(real.ok());
    ProberSet probers;
    probers.http =
        std::make_unique<CountedProber>(std::move(real->http), counter);
    probers.tcp =
        std::make_unique<CountedProber>(std::move(real->tcp), counter);
    probers.grpc =
        std::make_unique<CountedProber>(std::move(real->grpc), counter);
    absl::StatusOr<std::unique_ptr<HealthChecker>> created =
        HealthChecker::CreateWithProbers(options, std::move(probers), source,
                                         sink, clock, metrics);
    INFO(created.status());
    REQUIRE(created.ok());
    checker = *std::move(created);
    REQUIRE(checker->Start().ok());
  }
  // Runs the next round of checks and waits for the `count`th report.
  // The clock moves in the scheduler thread's steps (no stall) until the
  // check is due. Probes complete on the probers' threads: wait for them,
  // then run what their completions left due at once (a report that had
  // to wait for the previous one's answer is sent by a scheduler task);
  // the fake clock stands still meanwhile, so no probe repeats. The
  // fake sink answers inside the call, so the report is in by then.
  void RoundUntilReports(size_t count) {
    const size_t before = counter.started();
    const absl::Duration step = Scheduler::Options().max_wait;
    for (absl::Duration moved; moved < absl::Seconds(11); moved += step) {
      clock.Advance(step);
      checker->TEST_RunDue();
    }
    REQUIRE(counter.started() > before);
    REQUIRE(counter.WaitIdle(absl::Seconds(30)));
    for (int runs = 0; runs < 100 && checker->TEST_RunDue() > 0; ++runs) {
      REQUIRE(counter.WaitIdle(absl::Seconds(30)));
    }
    REQUIRE(sink.WaitForReports(count, absl::Seconds(30)));
  }

  ProbeCounter counter;
  muster::testing::FakeClock clock;
  Metrics metrics;
  testing::FakeTargetSource source;
  testing::FakeVerdictSink sink;
  std::unique_ptr<HealthChecker> checker;
};

Target LocalTarget(CheckKind kind, int port) {
  Target target;
  target.key = TargetKey{"prod", "web", "1"};
  target.incarnation = 5;
  target.address = "127.0.0.1";
  target.port = static_cast<uint32_t>(port);
  target.check.kind = kind;
  target.check.interval = absl::Seconds(10);
  target.check.timeout = absl::Seconds(2);
  target.check.healthy_threshold = 1;
  target.check.unhealthy_threshold = 1;
  target.check.deregister_after = absl::Minutes(1);
  return target;
}

TEST_CASE("checker follows a real http target up and down",
          "[health_checker_probe]") {
  auto target = muster::testing::HttpProbeTarget::Start();
  REQUIRE(target.ok());
  RealFixture f;
  Target instance = LocalTarget(CheckKind::kHttp, (*target)->port());
  instance.check.http_url = (*target)->Url("/healthz");
  f.checker->OnTargetUpsert(instance);
  f.RoundUntilReports(1);
  REQUIRE(f.sink.reports()[0].health == Health::kPassing);
  REQUIRE(f.sink.reports()[0].output == "HTTP 200\nok");
  (*target)->AnswerStatus(503, "draining");
  f.RoundUntilReports(2);
  REQUIRE(f.sink.reports()[1].health == Health::kCritical);
  REQUIRE(f.sink.reports()[1].output == "HTTP 503\ndraining");
  (*target)->AnswerStatus(429);
  f.RoundUntilReports(3);
  REQUIRE(f.sink.reports()[2].health == Health::kWarning);
  const std::string metrics = f.metrics.Render();
  REQUIRE(
      metrics.find(
          "muster_checker_probes_total{kind=\"http\",result=\"failure\"} 1") !=
      std::string::npos);
  REQUIRE(metrics.find(
              "muster_checker_probe_duration_seconds_count{kind=\"http\"} 3") !=
          std::string::npos);
  REQUIRE(metrics.find("muster_checker_schedule_lag_seconds_count 3") !=
          std::string::npos);
  f.checker->Stop();
}

TEST_CASE("checker follows a real grpc target", "[health_checker_probe]") {
  auto target = muster::testing::GrpcHealthTarget::Start();
  REQUIRE(target.ok());
  RealFixture f;
  f.checker->OnTargetUpsert(LocalTarget(CheckKind::kGrpc, (*target)->port()));
  f.RoundUntilReports(1);
  REQUIRE(f.sink.reports()[0].health == Health::kPassing);
  (*target)->SetAll(muster::testing::GrpcHealthTarget::Serving::kNotServing);
  f.RoundUntilReports(2);
  REQUIRE(f.sink.reports()[1].health == Health::kCritical);
  REQUIRE(f.sink.reports()[1].output == "grpc NOT_SERVING");
}

TEST_CASE(
    "checker: a TLS check the trust rejects goes critical, and "
    "passes with the CA trusted",
    "[health_checker_probe]") {
  muster::testing::TempDir dir;
  muster::testing::TestCerts certs(dir.path());
  auto target = muster::testing::HttpProbeTarget::StartTls(certs.server().cert,
                                                           certs.server().key);
  REQUIRE(target.ok());
  Target instance = LocalTarget(CheckKind::kHttp, (*target)->port());
  instance.check.http_url = (*target)->Url("/healthz");
  {
    RealFixture untrusting(certs.other_ca().cert);
    untrusting.checker->OnTargetUpsert(instance);
    untrusting.RoundUntilReports(1);
    REQUIRE(untrusting.sink.reports()[0].health == Health::kCritical);
    REQUIRE(untrusting.sink.reports()[0].output ==
            "TLS: certificate verify failed: unable to get local issuer "
            "certificate");
    untrusting.checker->Stop();
  }
  RealFixture trusting(certs.ca().cert);
  trusting.checker->OnTargetUpsert(instance);
  trusting.RoundUntilReports(1);
  REQUIRE(trusting.sink.reports()[0].health == Health::kPassing);
  trusting.checker->Stop();
}

TEST_CASE("checker network policy refuses link-local at registration",
          "[health_checker_probe]") {
  RealFixture f;
  const NetworkPolicy& policy = f.checker->network_policy();
  REQUIRE(absl::IsInvalidArgument(
      policy.CheckHost("169.254.169.254", "instance.address")));
  REQUIRE(absl::IsInvalidArgument(
      policy.CheckHost("http://[fe80::1]/health", "instance.check.http_url")));
  REQUIRE(policy.CheckHost("10.1.2.3", "instance.address").ok());
}

}  // namespace
}  // namespace muster::healthchecker
