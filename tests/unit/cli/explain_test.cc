#include "explain/explain.h"

#include <catch2/catch.hpp>

#include "cli/duration.h"

namespace muster::cli {

using explain::DescribeCheck;
using explain::DescribeCheckTls;
using explain::Explain;
using explain::Explanation;
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

google::protobuf::Timestamp Ago(absl::Duration d) {
  google::protobuf::Timestamp t;
  t.set_seconds(absl::ToUnixSeconds(kNow - d));
  return t;
}

v1::Instance HttpInstance() {
  v1::Instance i;
  i.set_realm("prod");
  i.set_service("web");
  i.set_id("web-1");
  i.set_address("10.0.0.7");
  i.set_port(8080);
  i.set_admin_state(v1::ADMIN_STATE_ENABLED);
  i.set_health(v1::HEALTH_PASSING);
  i.set_create_revision(12);
  v1::CheckSpec& c = *i.mutable_check();
  c.set_kind(v1::CHECK_KIND_HTTP);
  c.set_http_url("http://10.0.0.7:8080/health");
  *c.mutable_interval() = ToProtoDuration(absl::Seconds(10));
  c.set_unhealthy_threshold(3);
  *i.mutable_status_changed_at() = Ago(absl::Minutes(5));
  i.mutable_health_detail()->set_output("HTTP 200");
  i.mutable_health_detail()->set_consecutive_successes(4);
  *i.mutable_health_detail()->mutable_last_checked_at() = Ago(absl::Seconds(3));
  return i;
}

std::string Finding(const Explanation& e, const std::string& label) {
  for (const auto& [l, text] : e.findings) {
    if (l == label) return text;
  }
  FAIL("no finding " << label);
  return "";
}

bool Contains(const std::string& text, const std::string& part) {
  INFO("\"" << text << "\" should contain \"" << part << "\"");
  return text.find(part) != std::string::npos;
}

TEST_CASE("Explain: a passing instance is routable", "[explain]") {
  Explanation e = Explain(HttpInstance(), kNow);
  CHECK(e.routable);
  CHECK(e.verdict ==
        "web/web-1 (realm \"prod\") is routable: it is ENABLED and PASSING.");
  CHECK(Contains(Finding(e, "Admin state"), "ENABLED"));
  CHECK(Contains(Finding(e, "Health"), "PASSING since 5m ago"));
  CHECK(Contains(Finding(e, "Health"), "4 consecutive successes"));
  CHECK(Contains(Finding(e, "Check"), "HTTP GET http://10.0.0.7:8080/health"));
  CHECK(Contains(Finding(e, "Check"), "every 10s"));
  CHECK(Contains(Finding(e, "Last check"), "3s ago: \"HTTP 200\""));
  CHECK(Contains(Finding(e, "Eviction"), "not pending"));
  CHECK(e.hints.empty());
}

TEST_CASE("Explain: a drained instance says who and why", "[explain]") {
  v1::Instance i = HttpInstance();
  i.set_admin_state(v1::ADMIN_STATE_DRAINING);
  i.set_admin_reason("kernel upgrade");
  Explanation e = Explain(i, kNow);
  CHECK_FALSE(e.routable);
  CHECK(Contains(e.verdict, "is NOT routable: an operator drained it."));
  CHECK(Contains(Finding(e, "Admin state"), "reason: \"kernel upgrade\""));
  CHECK(Contains(Finding(e, "Eviction"), "never evicted"));
  REQUIRE(e.hints.size() == 1);
  CHECK(Contains(e.hints[0], "musterctl enable web web-1"));
}

TEST_CASE("Explain: a critical instance counts down to eviction", "[explain]") {
  v1::Instance i = HttpInstance();
  i.set_health(v1::HEALTH_CRITICAL);
  i.mutable_health_detail()->set_output("HTTP 503");
  i.mutable_health_detail()->set_consecutive_successes(0);
  i.mutable_health_detail()->set_consecutive_failures(3);
  google::protobuf::Timestamp evict;
  evict.set_seconds(absl::ToUnixSeconds(kNow + absl::Seconds(270)));
  *i.mutable_health_detail()->mutable_evict_at() = evict;
  Explanation e = Explain(i, kNow);
  CHECK_FALSE(e.routable);
  CHECK(Contains(e.verdict, "its health is CRITICAL"));
  CHECK(
      Contains(Finding(e, "Health"),
               "3 consecutive failures reached the unhealthy threshold of 3"));
  CHECK(Contains(Finding(e, "Last check"), "\"HTTP 503\""));
  CHECK(Contains(Finding(e, "Eviction"), "in 4m30s"));
  CHECK(Contains(Finding(e, "Eviction"), "unless it recovers"));
  REQUIRE(e.hints.size() == 1);
  CHECK(Contains(e.hints[0], "10.0.0.7:8080"));
}

TEST_CASE("Explain: eviction protection holds eviction back", "[explain]") {
  v1::Instance i = HttpInstance();
  i.set_health(v1::HEALTH_CRITICAL);
  i.mutable_health_detail()->set_eviction_paused(true);
  Explanation e = Explain(i, kNow);
  CHECK(Contains(Finding(e, "Eviction"), "eviction protection"));
  CHECK(Contains(Finding(e, "Eviction"), "realm \"prod\""));
}

TEST_CASE("Explain: an overdue eviction is due now", "[explain]") {
  v1::Instance i = HttpInstance();
  i.set_health(v1::HEALTH_CRITICAL);
  *i.mutable_health_detail()->mutable_evict_at() = Ago(absl::Seconds(5));
  CHECK(Contains(Finding(Explain(i, kNow), "Eviction"), "due now"));
}

TEST_CASE("Explain: TTL instances talk about heartbeats", "[explain]") {
  v1::Instance i = HttpInstance();
  i.mutable_check()->Clear();
  i.mutable_check()->set_kind(v1::CHECK_KIND_TTL);
  *i.mutable_check()->mutable_ttl() = ToProtoDuration(absl::Seconds(30));
  i.set_health(v1::HEALTH_CRITICAL);
  *i.mutable_last_heartbeat_at() = Ago(absl::Minutes(2));
  Explanation e = Explain(i, kNow);
  CHECK(Contains(Finding(e, "Health"), "no heartbeat within the TTL of 30s"));
  CHECK(Contains(Finding(e, "Health"), "last heartbeat 2m ago"));
  CHECK(Contains(Finding(e, "Check"), "TTL 30s"));
  REQUIRE_FALSE(e.hints.empty());
  CHECK(Contains(e.hints.back(), "incarnation 12"));
}

TEST_CASE("Explain: starting and static instances", "[explain]") {
  v1::Instance starting = HttpInstance();
  starting.set_health(v1::HEALTH_STARTING);
  starting.mutable_health_detail()->Clear();
  starting.mutable_check()->set_healthy_threshold(2);
  Explanation e = Explain(starting, kNow);
  CHECK_FALSE(e.routable);
  CHECK(Contains(e.verdict, "no health verdict yet"));
  CHECK(Contains(Finding(e, "Health"), "0 of 2 consecutive successes"));
  CHECK(Contains(Finding(e, "Last check"), "no probe has finished yet"));

  v1::Instance fixed = HttpInstance();
  fixed.mutable_check()->Clear();
  Explanation s = Explain(fixed, kNow);
  CHECK(s.routable);
  CHECK(Contains(Finding(s, "Check"), "NONE"));
  CHECK(Contains(Finding(s, "Eviction"), "never"));
}

TEST_CASE("DescribeCheck reads defaults as defaults", "[explain]") {
  v1::CheckSpec tcp;
  tcp.set_kind(v1::CHECK_KIND_TCP);
  std::string text = DescribeCheck(tcp);
  CHECK(Contains(text, "TCP every 10s (default), timeout 2s (default)"));
  CHECK(Contains(text, "passing after 1 / critical after 3"));
  v1::CheckSpec grpc;
  grpc.set_kind(v1::CHECK_KIND_GRPC);
  grpc.set_grpc_service("payments");
  CHECK(Contains(DescribeCheck(grpc), "GRPC service \"payments\""));
}

}  // namespace
}  // namespace muster::cli
