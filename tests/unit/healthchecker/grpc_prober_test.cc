#include "healthchecker/grpc_prober.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "tests/support/grpc_health_target.h"
#include "tests/support/tcp_probe_target.h"
#include "tests/unit/healthchecker/probe_helpers.h"

namespace muster::healthchecker {
namespace {

using muster::testing::GrpcHealthTarget;
using testing::ProbeAndWait;
using testing::SocketRequest;

std::unique_ptr<GrpcProber> StartProber(NetworkPolicy::Options options = {}) {
  absl::StatusOr<NetworkPolicy> policy = NetworkPolicy::Create(options);
  REQUIRE(policy.ok());
  absl::StatusOr<std::unique_ptr<GrpcProber>> prober =
      GrpcProber::Create(*policy, GrpcProber::Options());
  INFO(prober.status());
  REQUIRE(prober.ok());
  REQUIRE((*prober)->Start().ok());
  return *std::move(prober);
}

std::unique_ptr<GrpcHealthTarget> StartTarget() {
  absl::StatusOr<std::unique_ptr<GrpcHealthTarget>> target =
      GrpcHealthTarget::Start();
  INFO(target.status());
  REQUIRE(target.ok());
  return *std::move(target);
}

TEST_CASE("grpc SERVING passes and NOT_SERVING fails", "[grpc_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  const ProbeRequest request =
      SocketRequest(CheckKind::kGrpc, "127.0.0.1", target->port());
  std::optional<ProbeOutcome> outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome.has_value());
  INFO(outcome->output);
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  REQUIRE(outcome->output == "grpc SERVING");

  target->SetAll(GrpcHealthTarget::Serving::kNotServing);
  outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "grpc NOT_SERVING");

  target->SetAll(GrpcHealthTarget::Serving::kServing);
  REQUIRE(ProbeAndWait(*prober, request)->result == ProbeResult::kSuccess);
}

TEST_CASE("grpc service names are asked for by name", "[grpc_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  ProbeRequest request =
      SocketRequest(CheckKind::kGrpc, "localhost", target->port());
  request.check.grpc_service = "muster.test.Orders";
  std::optional<ProbeOutcome> outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output.rfind("grpc NOT_FOUND", 0) == 0);
  target->SetService("muster.test.Orders", GrpcHealthTarget::Serving::kServing);
  outcome = ProbeAndWait(*prober, request);
  INFO(outcome->output);
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  target->SetService("muster.test.Orders",
                     GrpcHealthTarget::Serving::kNotServing);
  REQUIRE(ProbeAndWait(*prober, request)->output == "grpc NOT_SERVING");
}

TEST_CASE("grpc target that stops fails, and passes again when back",
          "[grpc_prober]") {
  auto target = StartTarget();
  auto prober = StartProber();
  const int port = target->port();
  const ProbeRequest request =
      SocketRequest(CheckKind::kGrpc, "127.0.0.1", port);
  REQUIRE(ProbeAndWait(*prober, request)->result == ProbeResult::kSuccess);
  target->Stop();
  std::optional<ProbeOutcome> outcome = ProbeAndWait(*prober, request);
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output.rfind("grpc UNAVAILABLE", 0) == 0);
  // Another target on another port: the dropped channel is not in backoff.
  auto again = StartTarget();
  REQUIRE(ProbeAndWait(*prober, SocketRequest(CheckKind::kGrpc, "127.0.0.1",
                                              again->port()))
              ->result == ProbeResult::kSuccess);
}

TEST_CASE("grpc deadline bounds a target that never answers", "[grpc_prober]") {
  absl::StatusOr<std::unique_ptr<muster::testing::TcpProbeTarget>> silent =
      muster::testing::TcpProbeTarget::Listen();
  REQUIRE(silent.ok());
  auto prober = StartProber();
  std::optional<ProbeOutcome> outcome = ProbeAndWait(
      *prober, SocketRequest(CheckKind::kGrpc, "127.0.0.1", (*silent)->port(),
                             absl::Milliseconds(300)));
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "timeout after 300ms");
}

TEST_CASE("grpc probes to refused networks never connect", "[grpc_prober]") {
  auto target = StartTarget();
  NetworkPolicy::Options options;
  options.deny = {"127.0.0.0/8", "::1/128"};
  auto prober = StartProber(options);
  std::optional<ProbeOutcome> outcome = ProbeAndWait(
      *prober, SocketRequest(CheckKind::kGrpc, "127.0.0.1", target->port()));
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "refused by network policy: 127.0.0.1");
}

}  // namespace
}  // namespace muster::healthchecker
