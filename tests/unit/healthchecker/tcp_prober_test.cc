#include "healthchecker/tcp_prober.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tests/support/tcp_probe_target.h"
#include "tests/unit/healthchecker/probe_helpers.h"

namespace muster::healthchecker {
namespace {

using muster::testing::TcpProbeTarget;
using testing::ProbeAndWait;
using testing::SocketRequest;

std::unique_ptr<TcpProber> StartProber(NetworkPolicy::Options options = {}) {
  absl::StatusOr<NetworkPolicy> policy = NetworkPolicy::Create(options);
  REQUIRE(policy.ok());
  absl::StatusOr<std::unique_ptr<TcpProber>> prober =
      TcpProber::Create(*policy);
  INFO(prober.status());
  REQUIRE(prober.ok());
  REQUIRE((*prober)->Start().ok());
  return *std::move(prober);
}

std::unique_ptr<TcpProbeTarget> Listen() {
  absl::StatusOr<std::unique_ptr<TcpProbeTarget>> target =
      TcpProbeTarget::Listen();
  INFO(target.status());
  REQUIRE(target.ok());
  return *std::move(target);
}

TEST_CASE("tcp connect to a listener passes and to a closed one fails",
          "[tcp_prober]") {
  auto target = Listen();
  auto prober = StartProber();
  const ProbeRequest request =
      SocketRequest(CheckKind::kTcp, "127.0.0.1", target->port());
  std::optional<ProbeOutcome> outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  REQUIRE(outcome->output ==
          "connected to 127.0.0.1:" + std::to_string(target->port()));

  target->Close();
  outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "connect: connection refused");
}

TEST_CASE("tcp hostnames are resolved off the probe thread", "[tcp_prober]") {
  auto target = Listen();
  auto prober = StartProber();
  std::optional<ProbeOutcome> outcome = ProbeAndWait(
      *prober, SocketRequest(CheckKind::kTcp, "localhost", target->port()));
  REQUIRE(outcome.has_value());
  INFO(outcome->output);
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  outcome = ProbeAndWait(
      *prober, SocketRequest(CheckKind::kTcp, "no-such-host.invalid", 80));
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output.rfind("resolve no-such-host.invalid: ", 0) == 0);
}

TEST_CASE("tcp connect that hangs costs one timeout", "[tcp_prober]") {
  absl::StatusOr<std::unique_ptr<TcpProbeTarget>> full =
      TcpProbeTarget::ListenFull();
  REQUIRE(full.ok());
  auto prober = StartProber();
  std::optional<ProbeOutcome> outcome = ProbeAndWait(
      *prober, SocketRequest(CheckKind::kTcp, "127.0.0.1", (*full)->port(),
                             absl::Milliseconds(200)));
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "timeout after 200ms");
}

TEST_CASE("tcp probes to refused networks never connect", "[tcp_prober]") {
  auto target = Listen();
  NetworkPolicy::Options options;
  options.deny = {"127.0.0.0/8", "::1/128"};
  auto prober = StartProber(options);
  std::optional<ProbeOutcome> outcome = ProbeAndWait(
      *prober, SocketRequest(CheckKind::kTcp, "127.0.0.1", target->port()));
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "refused by network policy: 127.0.0.1");
}

TEST_CASE("tcp probes run concurrently on one thread", "[tcp_prober]") {
  auto target = Listen();
  auto prober = StartProber();
  constexpr int kProbes = 100;
  // What the completions (on the prober's thread) report.
  struct Tally {
    absl::Mutex mu;
    int successes ABSL_GUARDED_BY(mu) = 0;
    int done ABSL_GUARDED_BY(mu) = 0;
  } tally;
  for (int i = 0; i < kProbes; ++i) {
    prober->Probe(SocketRequest(CheckKind::kTcp, "127.0.0.1", target->port()),
                  [&](ProbeOutcome outcome) {
                    absl::MutexLock lock(&tally.mu);
                    ++tally.done;
                    if (outcome.result == ProbeResult::kSuccess) {
                      ++tally.successes;
                    }
                  });
  }
  absl::MutexLock lock(&tally.mu);
  auto all_done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(tally.mu) {
    return tally.done == kProbes;
  };
  REQUIRE(
      tally.mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(10)));
  REQUIRE(tally.successes == kProbes);
}

TEST_CASE("tcp stop abandons probes in flight", "[tcp_prober]") {
  absl::StatusOr<std::unique_ptr<TcpProbeTarget>> full =
      TcpProbeTarget::ListenFull();
  REQUIRE(full.ok());
  auto prober = StartProber();
  auto called = std::make_shared<bool>(false);
  prober->Probe(SocketRequest(CheckKind::kTcp, "127.0.0.1", (*full)->port(),
                              absl::Seconds(30)),
                [called](ProbeOutcome) { *called = true; });
  prober->Stop();
  prober->Stop();
  REQUIRE_FALSE(*called);
}

}  // namespace
}  // namespace muster::healthchecker
