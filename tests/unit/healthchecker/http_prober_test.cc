#include "healthchecker/http_prober.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tests/support/http_probe_target.h"
#include "tests/support/tcp_probe_target.h"
#include "tests/unit/healthchecker/probe_helpers.h"

namespace muster::healthchecker {
namespace {

using muster::testing::HttpProbeTarget;
using testing::HttpRequest;
using testing::ProbeAndWait;

std::unique_ptr<HttpProber> StartProber(NetworkPolicy::Options options = {}) {
  absl::StatusOr<NetworkPolicy> policy = NetworkPolicy::Create(options);
  REQUIRE(policy.ok());
  absl::StatusOr<std::unique_ptr<HttpProber>> prober =
      HttpProber::Create(*policy);
  INFO(prober.status());
  REQUIRE(prober.ok());
  REQUIRE((*prober)->Start().ok());
  return *std::move(prober);
}

std::unique_ptr<HttpProbeTarget> StartTarget() {
  absl::StatusOr<std::unique_ptr<HttpProbeTarget>> target =
      HttpProbeTarget::Start();
  INFO(target.status());
  REQUIRE(target.ok());
  return *std::move(target);
}

TEST_CASE("http 2xx passes, 429 warns, anything else fails", "[http_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  std::optional<ProbeOutcome> outcome =
      ProbeAndWait(*prober, HttpRequest(target->Url()));
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  REQUIRE(outcome->output == "HTTP 200\nok");
  REQUIRE(target->last_method() == "GET");

  target->AnswerStatus(503, "down for maintenance");
  outcome = ProbeAndWait(*prober, HttpRequest(target->Url()));
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "HTTP 503\ndown for maintenance");

  target->AnswerStatus(429);
  outcome = ProbeAndWait(*prober, HttpRequest(target->Url()));
  REQUIRE(outcome->result == ProbeResult::kWarning);
  REQUIRE(outcome->output == "HTTP 429");

  target->AnswerStatus(204);
  REQUIRE(ProbeAndWait(*prober, HttpRequest(target->Url()))->result ==
          ProbeResult::kSuccess);
}

TEST_CASE("http target that hangs costs one timeout", "[http_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  target->AnswerHang();
  std::optional<ProbeOutcome> outcome = ProbeAndWait(
      *prober, HttpRequest(target->Url(), absl::Milliseconds(300)));
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "timeout after 300ms");
  target->AnswerStatus(200);
}

TEST_CASE("http huge body is cut at 4 KiB and judged by its status",
          "[http_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  target->AnswerHugeBody(8 * 1024 * 1024);
  std::optional<ProbeOutcome> outcome =
      ProbeAndWait(*prober, HttpRequest(target->Url()));
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  REQUIRE(outcome->output.rfind("HTTP 200\nxxxx", 0) == 0);
  REQUIRE(outcome->output.size() <= kMaxProbeOutputBytes);
}

TEST_CASE("http redirects are followed only when the check asks",
          "[http_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  target->AnswerRedirect(target->Url("/redirected"));
  ProbeRequest request = HttpRequest(target->Url());
  std::optional<ProbeOutcome> outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "HTTP 302");
  request.check.http_follow_redirects = true;
  outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  REQUIRE(outcome->output == "HTTP 200\nredirect target");
}

TEST_CASE("http method and headers come from the check", "[http_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  ProbeRequest request = HttpRequest(target->Url());
  request.check.http_method = "POST";
  request.check.http_headers = {{"Authorization", "Bearer t0ken"},
                                {"X-Probe", "muster"}};
  REQUIRE(ProbeAndWait(*prober, request)->result == ProbeResult::kSuccess);
  REQUIRE(target->last_method() == "POST");
  REQUIRE(target->last_header("Authorization") == "Bearer t0ken");
  REQUIRE(target->last_header("X-Probe") == "muster");
  REQUIRE(target->last_header("User-Agent") == "muster-healthchecker");
  request.check.http_method = "HEAD";
  std::optional<ProbeOutcome> outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  REQUIRE(outcome->output == "HTTP 200");
  REQUIRE(target->last_method() == "HEAD");
}

TEST_CASE("http connection refused reads as connect error", "[http_prober]") {
  auto listener = muster::testing::TcpProbeTarget::Listen();
  REQUIRE(listener.ok());
  const int port = (*listener)->port();
  (*listener)->Close();
  auto prober = StartProber();
  std::optional<ProbeOutcome> outcome = ProbeAndWait(
      *prober,
      HttpRequest("http://127.0.0.1:" + std::to_string(port) + "/health"));
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "connect: connection refused");
}

TEST_CASE("http probes to refused networks never connect", "[http_prober]") {
  auto target = StartTarget();
  NetworkPolicy::Options options;
  options.deny = {"127.0.0.0/8"};
  auto prober = StartProber(options);
  std::optional<ProbeOutcome> outcome =
      ProbeAndWait(*prober, HttpRequest(target->Url()));
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "refused by network policy: 127.0.0.1");
  // Also after a name is resolved.
  const std::string by_name =
      "http://localhost:" + std::to_string(target->port()) + "/";
  outcome = ProbeAndWait(*prober, HttpRequest(by_name));
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output.rfind("refused by network policy: ", 0) == 0);
  REQUIRE(target->requests() == 0);
}

TEST_CASE("http probes run concurrently on one thread", "[http_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  constexpr int kProbes = 200;
  // What the completions (on the prober's thread) report.
  struct Tally {
    absl::Mutex mu;
    int successes ABSL_GUARDED_BY(mu) = 0;
    int done ABSL_GUARDED_BY(mu) = 0;
    std::string failure ABSL_GUARDED_BY(mu);
  } tally;
  for (int i = 0; i < kProbes; ++i) {
    // A generous timeout: a loaded CI machine is not what this tests.
    prober->Probe(HttpRequest(target->Url(), absl::Seconds(10)),
                  [&](ProbeOutcome outcome) {
                    absl::MutexLock lock(&tally.mu);
                    ++tally.done;
                    if (outcome.result == ProbeResult::kSuccess) {
                      ++tally.successes;
                    } else {
                      tally.failure = outcome.output;
                    }
                  });
  }
  absl::MutexLock lock(&tally.mu);
  auto all_done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tally.mu) {
    return tally.done == kProbes;
  };
  REQUIRE(
      tally.mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(30)));
  INFO("a failure: " << tally.failure);
  REQUIRE(tally.successes == kProbes);
}

TEST_CASE("http stop abandons probes in flight", "[http_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  target->AnswerHang();
  auto called = std::make_shared<bool>(false);
  prober->Probe(HttpRequest(target->Url(), absl::Seconds(30)),
                [called](ProbeOutcome) { *called = true; });
  prober->Stop();
  prober->Stop();
  REQUIRE_FALSE(*called);
  target->Stop();
}

}  // namespace
}  // namespace muster::healthchecker
