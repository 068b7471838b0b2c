#include "healthchecker/health_checker.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/unit/healthchecker/checker_fixture.h"

namespace muster::healthchecker {
namespace {

using testing::CheckerFixture;
using testing::HttpTarget;
using testing::TtlTarget;

TEST_CASE("checker reports starting to passing once and not for output alone",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  f.Upsert(HttpTarget("1"));
  REQUIRE(f.HttpRound(ProbeResult::kSuccess, "HTTP 200\nok") == 1);
  REQUIRE(f.http->last_request().check.http_url ==
          "http://10.0.0.1:8080/health/1");
  auto reports = f.sink.reports();
  REQUIRE(reports.size() == 1);
  REQUIRE(reports[0].key.id == "1");
  REQUIRE(reports[0].incarnation == 100);
  REQUIRE(reports[0].health == Health::kPassing);
  REQUIRE(reports[0].output == "HTTP 200\nok");
  // The registry commits and tells the listener; a new body changes nothing.
  Target committed = HttpTarget("1");
  committed.health = Health::kPassing;
  f.Upsert(committed);
  REQUIRE(f.HttpRound(ProbeResult::kSuccess, "HTTP 200\nother body") == 1);
  REQUIRE(f.HttpRound(ProbeResult::kSuccess, "HTTP 200\nyet another") == 1);
  REQUIRE(f.sink.reports().size() == 1);
  std::optional<HealthDetail> detail = f.checker->Detail(committed.key, 100);
  REQUIRE(detail.has_value());
  REQUIRE(detail->output == "HTTP 200\nyet another");
  REQUIRE(detail->consecutive_successes == 3);
  REQUIRE(detail->last_checked_at == f.clock.Now());
  REQUIRE_FALSE(detail->evict_at.has_value());
}

TEST_CASE("checker goes critical after the unhealthy threshold",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  Target target = HttpTarget("1");
  target.health = Health::kPassing;
  f.Upsert(target);
  f.HttpRound(ProbeResult::kFailure, "HTTP 503");
  f.HttpRound(ProbeResult::kFailure, "HTTP 503");
  REQUIRE(f.sink.reports().empty());
  f.HttpRound(ProbeResult::kFailure, "connect: connection refused");
  auto reports = f.sink.reports();
  REQUIRE(reports.size() == 1);
  REQUIRE(reports[0].health == Health::kCritical);
  REQUIRE(reports[0].output == "connect: connection refused");
  REQUIRE(f.metrics.Render().find(
              "muster_checker_transitions_total{to=\"critical\"} 1") !=
          std::string::npos);
}

TEST_CASE("checker warns on 429 and routes kinds to their probers",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  f.Upsert(HttpTarget("1"));
  Target tcp = HttpTarget("2");
  tcp.check.kind = CheckKind::kTcp;
  f.Upsert(tcp);
  Target grpc = HttpTarget("3");
  grpc.check.kind = CheckKind::kGrpc;
  grpc.check.grpc_service = "orders";
  f.Upsert(grpc);
  Target none = HttpTarget("4");
  none.check.kind = CheckKind::kNone;
  f.Upsert(none);
  f.Advance(absl::Seconds(11));
  REQUIRE(f.http->pending() == 1);
  REQUIRE(f.tcp->pending() == 1);
  REQUIRE(f.grpc->pending() == 1);
  REQUIRE(f.grpc->last_request().check.grpc_service == "orders");
  REQUIRE(f.tcp->last_request().address == "10.0.0.1");
  REQUIRE(f.tcp->last_request().port == 8080);
  f.http->FinishAll(ProbeResult::kWarning, "HTTP 429");
  auto reports = f.sink.reports();
  REQUIRE(reports.size() == 1);
  REQUIRE(reports[0].health == Health::kWarning);
}

TEST_CASE("checker evicts after deregister_after with a reason",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  Target target = HttpTarget("1");
  target.check.unhealthy_threshold = 1;
  target.health = Health::kPassing;
  f.Upsert(target);
  f.HttpRound(ProbeResult::kFailure, "connect: connection refused");
  REQUIRE(f.sink.reports().size() == 1);
  const absl::Time critical_at = f.clock.Now();
  std::optional<HealthDetail> detail = f.checker->Detail(target.key, 100);
  REQUIRE(detail->evict_at == critical_at + absl::Minutes(1));
  f.HttpRound(ProbeResult::kFailure, "connect: connection refused");
  REQUIRE(f.sink.evictions().empty());
  for (int i = 0; i < 5; ++i)
    f.HttpRound(ProbeResult::kFailure, "connect: connection refused");
  auto evictions = f.sink.evictions();
  REQUIRE(evictions.size() == 1);
  REQUIRE(evictions[0].key.id == "1");
  REQUIRE(evictions[0].incarnation == 100);
  REQUIRE(evictions[0].reason.rfind("evicted: critical for 1m", 0) == 0);
  REQUIRE(
      evictions[0].reason.find(", last output: connect: connection refused") !=
      std::string::npos);
  // Evicted: no longer probed.
  REQUIRE_FALSE(f.checker->Detail(target.key, 100).has_value());
  REQUIRE(f.HttpRound(ProbeResult::kFailure, "x") == 0);
}

TEST_CASE("checker never evicts drained instances but keeps checking them",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  Target target = HttpTarget("1");
  target.check.unhealthy_threshold = 1;
  target.admin_state = AdminState::kDraining;
  f.Upsert(target);
  f.HttpRound(ProbeResult::kFailure, "HTTP 503");
  REQUIRE(f.sink.reports().back().health == Health::kCritical);
  for (int i = 0; i < 12; ++i)
    REQUIRE(f.HttpRound(ProbeResult::kFailure, "HTTP 503") == 1);
  REQUIRE(f.sink.evictions().empty());
  REQUIRE_FALSE(f.checker->Detail(target.key, 100)->evict_at.has_value());
  // Enabled again, it is evicted.
  target.admin_state = AdminState::kEnabled;
  target.health = Health::kCritical;
  f.Upsert(target);
  f.HttpRound(ProbeResult::kFailure, "HTTP 503");
  REQUIRE(f.sink.evictions().size() == 1);
}

TEST_CASE("checker holds evictions back while most of a realm is critical",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  for (int i = 1; i <= 4; ++i) {
    Target target = HttpTarget(std::to_string(i));
    target.check.unhealthy_threshold = 1;
    f.Upsert(target);
  }
  Target other = HttpTarget("solo", "dev");
  other.check.unhealthy_threshold = 1;
  f.Upsert(other);
  // The checker is cut off: everything fails.
  for (int i = 0; i < 10; ++i)
    f.HttpRound(ProbeResult::kFailure, "timeout after 2s");
  REQUIRE(f.sink.reports().size() == 5);
  // Only the realm too small to protect loses its instance.
  auto evictions = f.sink.evictions();
  REQUIRE(evictions.size() == 1);
  REQUIRE(evictions[0].key.realm == "dev");
  std::optional<HealthDetail> detail =
      f.checker->Detail(HttpTarget("1").key, 100);
  REQUIRE(detail->eviction_paused);
  const std::string metrics = f.metrics.Render();
  REQUIRE(metrics.find("muster_checker_eviction_paused_realms 1") !=
          std::string::npos);
  REQUIRE(metrics.find("muster_checker_evictions_held_total 4") !=
          std::string::npos);
  REQUIRE(metrics.find("muster_checker_evictions_total 1") !=
          std::string::npos);

  // Two come back: 2 of 4 critical is not more than half, evictions resume.
  f.Advance(absl::Seconds(11));
  auto revived = [](const ProbeRequest& request) {
    const std::string& url = request.check.http_url;
    return url.back() == '1' || url.back() == '2';
  };
  REQUIRE(f.http->FinishIf(revived, ProbeResult::kSuccess, "HTTP 200") == 2);
  REQUIRE(f.http->FinishAll(ProbeResult::kFailure, "timeout after 2s") == 2);
  REQUIRE(f.sink.evictions().size() == 1);
  f.Advance(absl::Seconds(1));
  REQUIRE_FALSE(f.checker->Detail(HttpTarget("1").key, 100)->eviction_paused);
  // The two still failing were held when the realm resumed: they go only
  // after a result from after the resume still fails.
  REQUIRE(f.sink.evictions().size() == 1);
  f.Advance(absl::Seconds(11));
  REQUIRE(f.http->FinishIf(revived, ProbeResult::kSuccess, "HTTP 200") == 2);
  REQUIRE(f.http->FinishAll(ProbeResult::kFailure, "timeout after 2s") == 2);
  f.Advance(absl::Seconds(1));
  evictions = f.sink.evictions();
  REQUIRE(evictions.size() == 3);
  REQUIRE(evictions[1].key.realm == "prod");
  REQUIRE(evictions[2].key.realm == "prod");
  REQUIRE_FALSE(f.checker->Detail(HttpTarget("1").key, 100)->eviction_paused);
  REQUIRE(f.metrics.Render().find("muster_checker_eviction_paused_realms 0") !=
          std::string::npos);
}

TEST_CASE("a realm share of 1 disables protection", "[health_checker]") {
  CheckerFixture f;
  f.source.SetShare("prod", 1.0);
  f.Start();
  for (int i = 1; i <= 3; ++i) {
    Target target = HttpTarget(std::to_string(i));
    target.check.unhealthy_threshold = 1;
    f.Upsert(target);
  }
  for (int i = 0; i < 10; ++i) f.HttpRound(ProbeResult::kFailure, "HTTP 500");
  REQUIRE(f.sink.evictions().size() == 3);
}

TEST_CASE("after a restart nothing goes critical within its first interval",
          "[health_checker]") {
  CheckerFixture f;
  Target target = HttpTarget("1");
  target.health = Health::kPassing;
  target.check.unhealthy_threshold = 1;
  target.check.interval = absl::Seconds(60);
  f.source.AddInitial(target);
  f.Start();  // Subscribe delivers the committed PASSING target.
  const absl::Time learned = f.clock.Now();
  int held_back = 0;
  while (f.sink.reports().empty()) {
    f.Advance(absl::Seconds(1));
    if (f.http->FinishAll(ProbeResult::kFailure, "HTTP 503") == 1 &&
        f.sink.reports().empty()) {
      ++held_back;
    }
    REQUIRE(f.clock.Now() < learned + absl::Minutes(5));
  }
  REQUIRE(held_back >= 1);
  REQUIRE(f.clock.Now() >= learned + absl::Seconds(60));
  REQUIRE(f.sink.reports()[0].health == Health::kCritical);
}

TEST_CASE(
    "after a restart a critical instance gets its interval before eviction",
    "[health_checker]") {
  CheckerFixture f;
  Target target = HttpTarget("1");
  target.health = Health::kCritical;
  target.status_changed_at = f.clock.Now() - absl::Hours(2);
  f.source.AddInitial(target);
  f.Start();
  f.Advance(absl::Seconds(5));
  REQUIRE(f.sink.evictions().empty());
  f.Advance(absl::Seconds(6));
  REQUIRE(f.http->FinishAll(ProbeResult::kSuccess, "HTTP 200") == 1);
  REQUIRE(f.sink.reports().back().health == Health::kPassing);
  f.Advance(absl::Minutes(5));
  REQUIRE(f.sink.evictions().empty());
}

TEST_CASE("ttl instances expire and heartbeats revive them",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  Target target = TtlTarget("w1");
  f.Upsert(target);
  f.Advance(absl::Seconds(10));
  f.checker->OnHeartbeat(target.key, 200, f.clock.Now());
  auto reports = f.sink.reports();
  REQUIRE(reports.size() == 1);
  REQUIRE(reports[0].health == Health::kPassing);
  REQUIRE(f.checker->Detail(target.key, 200)->last_heartbeat_at ==
          f.clock.Now());
  // Heartbeats keep it passing; a heartbeat for another incarnation does not
  // count.
  f.Advance(absl::Seconds(25));
  f.checker->OnHeartbeat(target.key, 200, f.clock.Now());
  f.checker->OnHeartbeat(target.key, 999, f.clock.Now());
  f.Advance(absl::Seconds(29));
  REQUIRE(f.sink.reports().size() == 1);
  f.Advance(absl::Seconds(1));
  reports = f.sink.reports();
  REQUIRE(reports.size() == 2);
  REQUIRE(reports[1].health == Health::kCritical);
  REQUIRE(reports[1].output == "ttl expired: no heartbeat within 30s");
  f.checker->OnHeartbeat(target.key, 200, f.clock.Now());
  REQUIRE(f.sink.reports().back().health == Health::kPassing);
  REQUIRE(f.metrics.Render().find("muster_checker_heartbeats_total 3") !=
          std::string::npos);
}

TEST_CASE("a silent ttl instance is critical after its ttl and then evicted",
          "[health_checker]") {
  CheckerFixture f;
  Target target = TtlTarget("w1");
  target.health = Health::kPassing;  // committed before a restart
  f.source.AddInitial(target);
  f.Start();
  f.Advance(absl::Seconds(29));
  REQUIRE(f.sink.reports().empty());  // a fresh ttl of grace
  f.Advance(absl::Seconds(1));
  REQUIRE(f.sink.reports().size() == 1);
  REQUIRE(f.sink.reports()[0].health == Health::kCritical);
  f.Advance(absl::Seconds(59));
  REQUIRE(f.sink.evictions().empty());
  f.Advance(absl::Seconds(1));
  REQUIRE(f.sink.evictions().size() == 1);
  REQUIRE(f.sink.evictions()[0].reason ==
          "evicted: critical for 1m, last output: ttl expired: no heartbeat "
          "within 30s");
}

TEST_CASE("removed targets are not probed and late results are dropped",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  Target target = HttpTarget("1");
  f.Upsert(target);
  f.Advance(absl::Seconds(11));
  REQUIRE(f.http->pending() == 1);
  f.checker->OnTargetRemoved(target.key, 99);  // another incarnation: ignored
  REQUIRE(f.checker->Detail(target.key, 100).has_value());
  f.checker->OnTargetRemoved(target.key, 100);
  f.http->FinishAll(ProbeResult::kSuccess, "HTTP 200");
  REQUIRE(f.sink.reports().empty());
  REQUIRE(f.HttpRound(ProbeResult::kSuccess, "HTTP 200") == 0);
  REQUIRE(f.metrics.Render().find("muster_checker_targets 0") !=
          std::string::npos);
}

TEST_CASE("a new spec or incarnation starts a fresh session",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  Target target = HttpTarget("1");
  f.Upsert(target);
  f.Advance(absl::Seconds(11));
  REQUIRE(f.http->pending() == 1);
  target.check.http_url = "http://10.0.0.1:8080/ready";
  f.Upsert(target);
  // The old probe's result belongs to the old spec.
  f.http->FinishAll(ProbeResult::kSuccess, "HTTP 200");
  REQUIRE(f.sink.reports().empty());
  REQUIRE(f.HttpRound(ProbeResult::kSuccess, "HTTP 200") == 1);
  REQUIRE(f.http->last_request().check.http_url ==
          "http://10.0.0.1:8080/ready");
  REQUIRE(f.sink.reports().size() == 1);
  target.incarnation = 101;
  f.Upsert(target);
  REQUIRE_FALSE(f.checker->Detail(target.key, 100).has_value());
  REQUIRE(f.checker->Detail(target.key, 101).has_value());
}

TEST_CASE("a failed report is retried, a stale one is not",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  f.sink.set_answer(absl::UnavailableError("store unavailable"));
  Target target = HttpTarget("1");
  f.Upsert(target);
  f.HttpRound(ProbeResult::kSuccess, "HTTP 200");
  REQUIRE(f.sink.reports().size() == 1);
  f.sink.set_answer(absl::OkStatus());
  f.Advance(absl::Seconds(1));
  REQUIRE(f.sink.reports().size() == 2);
  REQUIRE(f.sink.reports()[1].health == Health::kPassing);
  f.Advance(absl::Seconds(1));
  REQUIRE(f.sink.reports().size() == 2);

  f.sink.set_answer(absl::FailedPreconditionError("stale incarnation"));
  f.Upsert(HttpTarget("2"));
  f.HttpRound(ProbeResult::kSuccess, "HTTP 200");
  const size_t after = f.sink.reports().size();
  f.Advance(absl::Seconds(2));
  REQUIRE(f.sink.reports().size() == after);
}

TEST_CASE("a verdict that moves on during a report is reported next",
          "[health_checker]") {
  CheckerFixture f;
  f.Start();
  f.sink.hold_answers();
  Target target = HttpTarget("1");
  target.check.unhealthy_threshold = 1;
  f.Upsert(target);
  f.HttpRound(ProbeResult::kSuccess, "HTTP 200");
  f.HttpRound(ProbeResult::kFailure, "HTTP 500");
  REQUIRE(f.sink.reports().size() == 1);  // one report in flight at a time
  f.sink.AnswerHeld(absl::OkStatus());
  f.Advance(absl::Milliseconds(1));
  auto reports = f.sink.reports();
  REQUIRE(reports.size() == 2);
  REQUIRE(reports[1].health == Health::kCritical);
}

TEST_CASE("checker options are validated", "[health_checker]") {
  muster::testing::FakeClock clock;
  Metrics metrics;
  testing::FakeTargetSource source;
  testing::FakeVerdictSink sink;
  auto create = [&](HealthChecker::Options options) {
    return HealthChecker::Create(options, source, sink, clock, metrics)
        .status();
  };
  HealthChecker::Options options;
  options.eviction_protection_share = 0;
  REQUIRE(absl::IsInvalidArgument(create(options)));
  options = {};
  options.max_in_flight = 0;
  REQUIRE(absl::IsInvalidArgument(create(options)));
  options = {};
  options.jitter = 0.9;
  REQUIRE(absl::IsInvalidArgument(create(options)));
  options = {};
  options.deny_networks = {"not-a-network"};
  REQUIRE(absl::IsInvalidArgument(create(options)));
  REQUIRE(create(HealthChecker::Options()).ok());
}

TEST_CASE("checker stop unsubscribes and is idempotent", "[health_checker]") {
  CheckerFixture f;
  f.Start();
  REQUIRE(f.source.listener() == f.checker.get());
  REQUIRE(absl::IsFailedPrecondition(f.checker->Start()));
  f.checker->Stop();
  f.checker->Stop();
  REQUIRE(f.source.listener() == nullptr);
  f.Upsert(HttpTarget("1"));
  REQUIRE(f.HttpRound(ProbeResult::kSuccess, "HTTP 200") == 0);
}

}  // namespace
}  // namespace muster::healthchecker
