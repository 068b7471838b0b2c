// The HealthChecker with its real probers against real targets on
// 127.0.0.1; time still comes from a FakeClock and the manual scheduler.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "healthchecker/health_checker.h"
#include "tests/support/fake_clock.h"
#include "tests/support/grpc_health_target.h"
#include "tests/support/http_probe_target.h"
#include "tests/unit/healthchecker/fakes.h"

namespace muster::healthchecker {
namespace {

struct RealFixture {
  RealFixture() {
    HealthChecker::Options options;
    options.scheduler_thread = HealthChecker::SchedulerThread::kManual;
    absl::StatusOr<std::unique_ptr<HealthChecker>> created =
        HealthChecker::Create(options, source, sink, clock, metrics);
    INFO(created.status());
    REQUIRE(created.ok());
    checker = *std::move(created);
    REQUIRE(checker->Start().ok());
  }
  // Runs the next round of checks and waits for the `count`th report.
  // Probes and reports complete on the probers' threads, and a report
  // that had to wait for the previous one's answer is sent by a scheduler
  // task, due at once; the manual scheduler runs due tasks only when
  // asked, so keep asking (the fake clock stands still: no probe repeats).
  // The clock moves in the scheduler thread's steps: no stall.
  void RoundUntilReports(size_t count) {
    const absl::Duration step = Scheduler::Options().max_wait;
    for (absl::Duration moved; moved < absl::Seconds(11); moved += step) {
      clock.Advance(step);
      checker->TEST_RunDue();
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    bool reported = false;
    while (!reported && absl::Now() < deadline) {
      checker->TEST_RunDue();
      reported = sink.WaitForReports(count, absl::Milliseconds(20));
    }
    REQUIRE(reported);
  }

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
