// The HealthChecker after a stall: the process (or its host) stopped, so
// the scheduler did not run while time went on. A stall is simulated by
// moving the FakeClock without running the scheduler; f.Advance() moves
// it the way the scheduler's thread does (no stall).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "healthchecker/health_checker.h"
#include "tests/unit/healthchecker/checker_fixture.h"

namespace muster::healthchecker {
namespace {

using testing::CheckerFixture;
using testing::HttpTarget;
using testing::TtlTarget;

constexpr absl::Duration kTick = absl::Milliseconds(250);

size_t CriticalReports(const CheckerFixture& f) {
  size_t count = 0;
  for (const auto& report : f.sink.reports()) {
    if (report.health == Health::kCritical) ++count;
  }
  return count;
}

bool HasMetric(const CheckerFixture& f, const std::string& line) {
  return f.metrics.Render().find(line) != std::string::npos;
}

TEST_CASE("after a stall no heartbeating ttl instance goes critical",
          "[health_checker][stall]") {
  CheckerFixture f;
  f.Start();
  constexpr int kInstances = 20;
  std::vector<Target> targets;
  for (int i = 0; i < kInstances; ++i) {
    targets.push_back(TtlTarget("w" + std::to_string(i), absl::Seconds(5)));
    f.Upsert(targets.back());
  }
  auto heartbeat = [&](bool silence_first) {
    for (size_t i = silence_first ? 1 : 0; i < targets.size(); ++i) {
      f.checker->OnHeartbeat(targets[i].key, 200, f.clock.Now());
    }
  };
  for (int s = 0; s < 10; ++s) {
    heartbeat(false);
    f.Advance(absl::Seconds(1));
  }
  REQUIRE(f.sink.reports().size() == kInstances);  // all passing
  REQUIRE(CriticalReports(f) == 0);

  // Stopped for 20s: the heartbeats sent meanwhile wait in the sockets.
  // The scheduler runs first when the process continues.
  f.clock.Advance(absl::Seconds(20));
  f.Advance(kTick);
  const absl::Time stall_seen = f.clock.Now();
  REQUIRE(CriticalReports(f) == 0);
  REQUIRE(HasMetric(f, "muster_checker_stalls_total 1"));

  // The heartbeats go on, except for w0, which really stopped.
  for (int s = 0; s < 4; ++s) {
    heartbeat(true);
    f.Advance(absl::Seconds(1));
  }
  f.Advance(absl::Milliseconds(750));  // just before one TTL of grace
  REQUIRE(f.clock.Now() < stall_seen + absl::Seconds(5));
  REQUIRE(CriticalReports(f) == 0);
  heartbeat(true);
  f.Advance(kTick);
  auto reports = f.sink.reports();
  REQUIRE(reports.size() == kInstances + 1);
  REQUIRE(reports.back().key.id == "w0");
  REQUIRE(reports.back().health == Health::kCritical);
  REQUIRE(reports.back().output == "ttl expired: no heartbeat within 5s");
  for (int s = 0; s < 10; ++s) {
    heartbeat(true);
    f.Advance(absl::Seconds(1));
  }
  REQUIRE(CriticalReports(f) == 1);
  REQUIRE(HasMetric(f, "muster_checker_stalls_total 1"));
}

TEST_CASE("after a stall a probed check gets a full interval before critical",
          "[health_checker][stall]") {
  CheckerFixture f;
  f.Start();
  Target http = HttpTarget("1");
  http.check.unhealthy_threshold = 1;
  http.health = Health::kPassing;
  f.Upsert(http);
  Target tcp = HttpTarget("2");
  tcp.check.kind = CheckKind::kTcp;
  tcp.check.unhealthy_threshold = 1;
  tcp.health = Health::kPassing;
  f.Upsert(tcp);
  f.Advance(absl::Seconds(11));
  REQUIRE(f.http->FinishAll(ProbeResult::kSuccess, "HTTP 200") == 1);
  REQUIRE(f.tcp->FinishAll(ProbeResult::kSuccess, "connected") == 1);
  f.Advance(absl::Seconds(11));
  REQUIRE(f.http->pending() == 1);
  REQUIRE(f.tcp->pending() == 1);

  // Stopped for 20s with both probes in flight: they time out, and their
  // results arrive before the scheduler runs again.
  f.clock.Advance(absl::Seconds(20));
  REQUIRE(f.http->FinishAll(ProbeResult::kFailure, "timeout after 2s") == 1);
  REQUIRE(f.tcp->FinishAll(ProbeResult::kFailure, "timeout after 2s") == 1);
  REQUIRE(f.sink.reports().empty());
  f.Advance(kTick);
  const absl::Time stall_seen = f.clock.Now();
  REQUIRE(HasMetric(f, "muster_checker_stalls_total 1"));

  // The targets are down now, but the grace is a full interval (10s).
  absl::Time critical_at = absl::InfiniteFuture();
  for (int i = 0; i < 100 && f.sink.reports().size() < 2; ++i) {
    f.Advance(absl::Seconds(1));
    f.http->FinishAll(ProbeResult::kFailure, "connect: connection refused");
    f.tcp->FinishAll(ProbeResult::kFailure, "connect: connection refused");
    if (f.sink.reports().empty()) continue;
    critical_at = std::min(critical_at, f.clock.Now());
  }
  auto reports = f.sink.reports();
  REQUIRE(reports.size() == 2);
  for (const auto& report : reports) {
    REQUIRE(report.health == Health::kCritical);
    REQUIRE(report.output == "connect: connection refused");
  }
  REQUIRE(critical_at >= stall_seen + absl::Seconds(10));
  REQUIRE(f.clock.Now() < stall_seen + absl::Seconds(25));
}

TEST_CASE("a stall does not count towards an eviction deadline",
          "[health_checker][stall]") {
  CheckerFixture f;
  f.Start();
  Target target = HttpTarget("1");  // deregister_after 1m
  target.check.unhealthy_threshold = 1;
  target.health = Health::kPassing;
  f.Upsert(target);
  f.HttpRound(ProbeResult::kFailure, "connect: connection refused");
  REQUIRE(f.sink.reports().size() == 1);
  const absl::Time critical_at = f.clock.Now();
  while (f.clock.Now() < critical_at + absl::Seconds(30)) {
    f.HttpRound(ProbeResult::kFailure, "connect: connection refused");
  }

  // A stall of 45s carries the instance past its deadline on the clock.
  const absl::Duration stall = absl::Seconds(45);
  f.clock.Advance(stall);
  f.Advance(kTick);
  REQUIRE(f.clock.Now() > critical_at + absl::Minutes(1));
  REQUIRE(f.sink.evictions().empty());
  std::optional<HealthDetail> detail = f.checker->Detail(target.key, 100);
  REQUIRE(detail.has_value());
  REQUIRE(detail->evict_at.has_value());
  REQUIRE(*detail->evict_at >= critical_at + absl::Minutes(1) + stall);

  // Checked and still failing, it is evicted once it was critical for 1m
  // of time the checker ran.
  for (int i = 0; i < 20 && f.sink.evictions().empty(); ++i) {
    f.HttpRound(ProbeResult::kFailure, "connect: connection refused");
  }
  auto evictions = f.sink.evictions();
  REQUIRE(evictions.size() == 1);
  REQUIRE(f.clock.Now() >= critical_at + absl::Minutes(1) + stall);
  REQUIRE(evictions[0].reason.rfind("evicted: critical for 1m", 0) == 0);
}

TEST_CASE("a step of the wall clock alone is not a stall",
          "[health_checker][stall]") {
  CheckerFixture f;
  f.Start();
  Target target = TtlTarget("w1", absl::Seconds(5));
  f.Upsert(target);
  for (int s = 0; s < 10; ++s) {
    f.checker->OnHeartbeat(target.key, 200, f.clock.Now());
    f.Advance(absl::Seconds(1));
  }
  f.clock.Set(f.clock.Now() - absl::Hours(1));  // NTP steps back
  f.checker->OnHeartbeat(target.key, 200, f.clock.Now());
  f.Advance(absl::Seconds(1));
  REQUIRE(HasMetric(f, "muster_checker_stalls_total 0"));
}

}  // namespace
}  // namespace muster::healthchecker
