#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>

#include "common/metrics.h"
#include "healthchecker/health_checker.h"
#include "tests/support/fake_clock.h"
#include "tests/unit/healthchecker/fakes.h"

namespace muster::healthchecker::testing {

inline Target HttpTarget(const std::string& id,
                         const std::string& realm = "prod",
                         uint64_t incarnation = 100) {
  Target target;
  target.key = TargetKey{realm, "web", id};
  target.incarnation = incarnation;
  target.address = "10.0.0.1";
  target.port = 8080;
  target.check.kind = CheckKind::kHttp;
  target.check.http_url = "http://10.0.0.1:8080/health/" + id;
  target.check.interval = absl::Seconds(10);
  target.check.timeout = absl::Seconds(2);
  target.check.healthy_threshold = 1;
  target.check.unhealthy_threshold = 3;
  target.check.deregister_after = absl::Minutes(1);
  return target;
}

inline Target TtlTarget(const std::string& id,
                        absl::Duration ttl = absl::Seconds(30)) {
  Target target;
  target.key = TargetKey{"prod", "worker", id};
  target.incarnation = 200;
  target.address = "10.0.0.2";
  target.port = 1;
  target.check.kind = CheckKind::kTtl;
  target.check.ttl = ttl;
  target.check.deregister_after = absl::Minutes(1);
  return target;
}

// A HealthChecker on fakes, driven by hand: a FakeClock, the manual
// scheduler, fake probers finished by the test, a recording sink.
class CheckerFixture {
 public:
  explicit CheckerFixture(HealthChecker::Options options = {}) {
    options.scheduler_thread = HealthChecker::SchedulerThread::kManual;
    options.random_seed = 7;
    HealthChecker::Probers probers;
    probers.http = std::make_unique<FakeProber>();
    probers.tcp = std::make_unique<FakeProber>();
    probers.grpc = std::make_unique<FakeProber>();
    http = static_cast<FakeProber*>(probers.http.get());
    tcp = static_cast<FakeProber*>(probers.tcp.get());
    grpc = static_cast<FakeProber*>(probers.grpc.get());
    absl::StatusOr<std::unique_ptr<HealthChecker>> created =
        HealthChecker::CreateWithProbers(options, std::move(probers), source,
                                         sink, clock, metrics);
    INFO(created.status());
    REQUIRE(created.ok());
    checker = *std::move(created);
  }

  void Start() {
    absl::Status started = checker->Start();
    INFO(started);
    REQUIRE(started.ok());
  }
  void Upsert(const Target& target) { checker->OnTargetUpsert(target); }
  // Moves the clock and runs what becomes due on the way, in steps of the
  // scheduler's max_wait, as its thread would: no step is a stall. Moving
  // `clock` alone is a stall (the scheduler did not run).
  void Advance(absl::Duration by) {
    const absl::Duration step = Scheduler::Options().max_wait;
    for (; by > step; by -= step) {
      clock.Advance(step);
      checker->TEST_RunDue();
    }
    clock.Advance(by);
    checker->TEST_RunDue();
  }
  // Runs one round of HTTP checks (every tick falls within 11s) and
  // finishes them with `result`; returns how many ran.
  size_t HttpRound(ProbeResult result, const std::string& output) {
    Advance(absl::Seconds(11));
    return http->FinishAll(result, output);
  }

  muster::testing::FakeClock clock;
  Metrics metrics;
  FakeTargetSource source;
  FakeVerdictSink sink;
  FakeProber* http = nullptr;
  FakeProber* tcp = nullptr;
  FakeProber* grpc = nullptr;
  std::unique_ptr<HealthChecker> checker;
};

}  // namespace muster::healthchecker::testing
