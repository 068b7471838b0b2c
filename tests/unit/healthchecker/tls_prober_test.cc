// TLS of health probes: https and gRPC over TLS against real targets on
// 127.0.0.1 with certificates made by openssl (TestCerts).

#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <string>

#include "healthchecker/checker_options.h"
#include "healthchecker/grpc_prober.h"
#include "healthchecker/http_prober.h"
#include "testkit/test_certs.h"
#include "tests/support/grpc_health_target.h"
#include "tests/support/http_probe_target.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/healthchecker/probe_helpers.h"

namespace muster::healthchecker {
namespace {

using muster::testing::CertKey;
using muster::testing::GrpcHealthTarget;
using muster::testing::HttpProbeTarget;
using muster::testing::TempDir;
using muster::testing::TestCerts;
using testing::HttpRequest;
using testing::ProbeAndWait;
using testing::SocketRequest;

constexpr char kOnlyName[] = "probe.muster.test";

// Made once per test process: openssl runs take a while.
struct Certs {
  TempDir dir;
  TestCerts certs{dir.path()};
  // Signed by certs.ca() for DNS:probe.muster.test only (no IP).
  CertKey named;

  Certs() {
    named = CertKey{dir.File("named.crt"), dir.File("named.key")};
    absl::Status made =
        TestCerts::RunOpenssl({"req",
                               "-x509",
                               "-new",
                               "-newkey",
                               "ec",
                               "-pkeyopt",
                               "ec_paramgen_curve:P-256",
                               "-nodes",
                               "-keyout",
                               named.key,
                               "-out",
                               named.cert,
                               "-subj",
                               std::string("/CN=") + kOnlyName,
                               "-addext",
                               std::string("subjectAltName=DNS:") + kOnlyName,
                               "-addext",
                               "extendedKeyUsage=serverAuth",
                               "-CA",
                               certs.ca().cert,
                               "-CAkey",
                               certs.ca().key,
                               "-days",
                               "30"});
    INFO(made);
    REQUIRE(made.ok());
  }
};

const Certs& TheCerts() {
  static const Certs* const certs = new Certs();
  return *certs;
}

NetworkPolicy Policy() {
  absl::StatusOr<NetworkPolicy> policy =
      NetworkPolicy::Create(NetworkPolicy::Options());
  REQUIRE(policy.ok());
  return *std::move(policy);
}

std::unique_ptr<HttpProber> StartHttpProber(const std::string& ca_file) {
  absl::StatusOr<std::unique_ptr<HttpProber>> prober =
      HttpProber::Create(Policy(), ProbeTrust{ca_file});
  INFO(prober.status());
  REQUIRE(prober.ok());
  REQUIRE((*prober)->Start().ok());
  return *std::move(prober);
}

std::unique_ptr<GrpcProber> StartGrpcProber(const std::string& ca_file) {
  GrpcProber::Options options;
  options.trust.ca_file = ca_file;
  absl::StatusOr<std::unique_ptr<GrpcProber>> prober =
      GrpcProber::Create(Policy(), options);
  INFO(prober.status());
  REQUIRE(prober.ok());
  REQUIRE((*prober)->Start().ok());
  return *std::move(prober);
}

std::unique_ptr<HttpProbeTarget> StartHttps(const CertKey& server) {
  absl::StatusOr<std::unique_ptr<HttpProbeTarget>> target =
      HttpProbeTarget::StartTls(server.cert, server.key);
  INFO(target.status());
  REQUIRE(target.ok());
  return *std::move(target);
}

std::unique_ptr<GrpcHealthTarget> StartGrpcTls(const CertKey& server) {
  absl::StatusOr<std::unique_ptr<GrpcHealthTarget>> target =
      GrpcHealthTarget::StartTls(server.cert, server.key);
  INFO(target.status());
  REQUIRE(target.ok());
  return *std::move(target);
}

ProbeOutcome Probe(Prober& prober, const ProbeRequest& request) {
  std::optional<ProbeOutcome> outcome = ProbeAndWait(prober, request);
  REQUIRE(outcome.has_value());
  return *outcome;
}

ProbeRequest GrpcTlsRequest(int port) {
  ProbeRequest request = SocketRequest(CheckKind::kGrpc, "127.0.0.1", port);
  request.check.grpc_tls = true;
  return request;
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST_CASE("https passes with a certificate of the trusted CA", "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartHttps(c.certs.server());
  auto prober = StartHttpProber(c.certs.ca().cert);
  const ProbeOutcome outcome = Probe(*prober, HttpRequest(target->Url()));
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kSuccess);
  REQUIRE(StartsWith(outcome.output, "HTTP 200"));
}

TEST_CASE("https fails with a clear output when the CA is not trusted",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartHttps(c.certs.other_server());
  auto prober = StartHttpProber(c.certs.ca().cert);
  const ProbeOutcome outcome = Probe(*prober, HttpRequest(target->Url()));
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
  REQUIRE(outcome.output ==
          "TLS: certificate verify failed: unable to get local issuer "
          "certificate");
  REQUIRE(target->requests() == 0);
}

TEST_CASE("https verifies against the system roots by default",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartHttps(c.certs.server());
  auto prober = StartHttpProber("");
  const ProbeOutcome outcome = Probe(*prober, HttpRequest(target->Url()));
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
  REQUIRE(StartsWith(outcome.output, "TLS: certificate verify failed"));
}

TEST_CASE("https with tls_skip_verify passes whatever the certificate",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartHttps(c.certs.other_server());
  auto prober = StartHttpProber(c.certs.ca().cert);
  ProbeRequest request = HttpRequest(target->Url());
  request.check.tls_skip_verify = true;
  ProbeOutcome outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kSuccess);
  // The same target, verified again, fails: the unverified connection is
  // not reused for it.
  request.check.tls_skip_verify = false;
  outcome = Probe(*prober, request);
  REQUIRE(outcome.result == ProbeResult::kFailure);
}

TEST_CASE("https host name mismatch fails unless tls_server_name matches",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartHttps(c.named);
  auto prober = StartHttpProber(c.certs.ca().cert);
  ProbeRequest request = HttpRequest(target->Url());
  ProbeOutcome outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
  REQUIRE(outcome.output ==
          "TLS: no alternative certificate subject name matches target host "
          "name '127.0.0.1'");

  request.check.tls_server_name = "other.muster.test";
  outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
  REQUIRE(outcome.output.find("other.muster.test") != std::string::npos);

  request.check.tls_server_name = kOnlyName;
  outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kSuccess);
  // Sent as the Host too, with the URL's port.
  REQUIRE(target->last_header("Host") ==
          std::string(kOnlyName) + ":" + std::to_string(target->port()));
}

TEST_CASE("grpc over TLS passes with a certificate of the trusted CA",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartGrpcTls(c.certs.server());
  auto prober = StartGrpcProber(c.certs.ca().cert);
  const ProbeOutcome outcome = Probe(*prober, GrpcTlsRequest(target->port()));
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kSuccess);
  REQUIRE(outcome.output == "grpc SERVING");
}

TEST_CASE("grpc over TLS fails with a clear output when the CA is not trusted",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartGrpcTls(c.certs.other_server());
  auto prober = StartGrpcProber(c.certs.ca().cert);
  const ProbeOutcome outcome = Probe(*prober, GrpcTlsRequest(target->port()));
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
  REQUIRE(outcome.output == "TLS: certificate verify failed");
}

TEST_CASE("grpc over TLS verifies against the system roots by default",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartGrpcTls(c.certs.server());
  auto prober = StartGrpcProber("");
  const ProbeOutcome outcome = Probe(*prober, GrpcTlsRequest(target->port()));
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
  REQUIRE(outcome.output == "TLS: certificate verify failed");
}

TEST_CASE("grpc over TLS with tls_skip_verify passes whatever the certificate",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartGrpcTls(c.named);
  auto prober = StartGrpcProber(c.certs.other_ca().cert);
  ProbeRequest request = GrpcTlsRequest(target->port());
  request.check.tls_skip_verify = true;
  ProbeOutcome outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kSuccess);
  request.check.tls_skip_verify = false;
  outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
}

TEST_CASE(
    "grpc over TLS host name mismatch fails unless tls_server_name "
    "matches",
    "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartGrpcTls(c.named);
  auto prober = StartGrpcProber(c.certs.ca().cert);
  ProbeRequest request = GrpcTlsRequest(target->port());
  ProbeOutcome outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
  REQUIRE(outcome.output ==
          "TLS: Peer name 127.0.0.1 is not in peer certificate");

  request.check.tls_server_name = "other.muster.test";
  outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kFailure);
  REQUIRE(outcome.output ==
          "TLS: Peer name other.muster.test is not in peer certificate");

  request.check.tls_server_name = kOnlyName;
  outcome = Probe(*prober, request);
  INFO(outcome.output);
  REQUIRE(outcome.result == ProbeResult::kSuccess);
}

TEST_CASE("grpc without grpc_tls stays plaintext and fails on a TLS port",
          "[tls_prober]") {
  const Certs& c = TheCerts();
  auto target = StartGrpcTls(c.certs.server());
  auto prober = StartGrpcProber(c.certs.ca().cert);
  ProbeRequest request = GrpcTlsRequest(target->port());
  request.check.grpc_tls = false;
  REQUIRE(Probe(*prober, request).result == ProbeResult::kFailure);
}

TEST_CASE("a probe CA file must be readable PEM", "[tls_prober]") {
  TempDir dir;
  const std::string missing = dir.File("missing.pem");
  const std::string empty = dir.File("empty.pem");
  std::ofstream(empty).close();
  for (const std::string& path : {missing, empty}) {
    absl::StatusOr<std::string> read = ReadCaFile(path);
    INFO(read.status());
    REQUIRE(absl::IsInvalidArgument(read.status()));
    REQUIRE(read.status().message().find(path) != absl::string_view::npos);
    REQUIRE(HttpProber::Create(Policy(), ProbeTrust{path}).status().code() ==
            absl::StatusCode::kInvalidArgument);
    GrpcProber::Options options;
    options.trust.ca_file = path;
    REQUIRE(GrpcProber::Create(Policy(), options).status().code() ==
            absl::StatusCode::kInvalidArgument);
    HealthCheckerOptions checker;
    checker.probe_ca_file = path;
    const absl::Status valid = ValidateOptions(checker);
    INFO(valid);
    REQUIRE(StartsWith(std::string(valid.message()), "probe_ca_file: "));
  }
  REQUIRE(ReadCaFile(TheCerts().certs.ca().cert).ok());
}

}  // namespace
}  // namespace muster::healthchecker
