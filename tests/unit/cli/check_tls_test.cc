// musterctl and a check's TLS: the register flags, and how get/explain
// describe the TLS mode.

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/errors.h"
#include "cli/requests.h"
#include "explain/explain.h"

namespace muster::cli {

using explain::DescribeCheck;
using explain::DescribeCheckTls;
using explain::Explain;
using explain::Explanation;
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

RegisterArgs Parse(std::vector<const char*> args) {
  args.insert(args.begin(), {"musterctl", "register", "web", "--address",
                             "10.0.0.7", "--port", "8443"});
  CommandLine cl;
  std::ostringstream out, err;
  std::optional<int> exit =
      cl.Parse(static_cast<int>(args.size()), args.data(), out, err);
  INFO(err.str());
  REQUIRE_FALSE(exit.has_value());
  return cl.invocation().register_args;
}

v1::CheckSpec Check(std::vector<const char*> args) {
  absl::StatusOr<v1::RegisterRequest> r =
      BuildRegisterRequest("prod", Parse(std::move(args)));
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return r->instance().check();
}

void RequireUsage(std::vector<const char*> args, const std::string& part) {
  absl::StatusOr<v1::RegisterRequest> r =
      BuildRegisterRequest("prod", Parse(std::move(args)));
  REQUIRE_FALSE(r.ok());
  INFO(r.status().ToString());
  CHECK(ExitCodeFor(r.status()) == kExitUsage);
  CHECK(std::string(r.status().message()).find(part) != std::string::npos);
}

bool Contains(const std::string& text, const std::string& part) {
  INFO("\"" << text << "\" should contain \"" << part << "\"");
  return text.find(part) != std::string::npos;
}

std::string Finding(const Explanation& e, const std::string& label) {
  for (const auto& [l, text] : e.findings) {
    if (l == label) return text;
  }
  return "";
}

TEST_CASE("register TLS flags fill the check", "[check_tls]") {
  v1::CheckSpec https = Check({"--check-http", "https://10.0.0.7:8443/health",
                               "--check-tls-server-name", "web.internal"});
  CHECK(https.kind() == v1::CHECK_KIND_HTTP);
  CHECK_FALSE(https.tls_skip_verify());
  CHECK(https.tls_server_name() == "web.internal");
  CHECK_FALSE(https.grpc_tls());

  v1::CheckSpec grpc =
      Check({"--check-grpc", "--check-grpc-tls", "--check-tls-skip-verify"});
  CHECK(grpc.kind() == v1::CHECK_KIND_GRPC);
  CHECK(grpc.grpc_tls());
  CHECK(grpc.tls_skip_verify());
  CHECK(grpc.tls_server_name().empty());

  v1::CheckSpec plain = Check({"--check-grpc", "orders"});
  CHECK_FALSE(plain.grpc_tls());
  CHECK_FALSE(plain.tls_skip_verify());
}

TEST_CASE("register TLS flags without a TLS check are usage errors",
          "[check_tls]") {
  RequireUsage({"--check-tcp", "--check-grpc-tls"},
               "--check-grpc-tls needs --check-grpc");
  RequireUsage({"--check-grpc", "--check-tls-skip-verify"}, "need a TLS check");
  RequireUsage({"--check-tcp", "--check-tls-server-name", "a.example"},
               "need a TLS check");
  RequireUsage({"--check-http", "https://a/", "--check-tls-server-name", ""},
               "--check-tls-server-name");
}

TEST_CASE("DescribeCheck and explain show the TLS mode", "[check_tls]") {
  v1::Instance i;
  i.set_realm("prod");
  i.set_service("web");
  i.set_id("web-1");
  i.set_address("10.0.0.7");
  i.set_port(8443);
  i.set_admin_state(v1::ADMIN_STATE_ENABLED);
  i.set_health(v1::HEALTH_CRITICAL);
  v1::CheckSpec& c = *i.mutable_check();
  c.set_kind(v1::CHECK_KIND_HTTP);
  c.set_http_url("https://10.0.0.7:8443/health");
  CHECK(Contains(DescribeCheck(c),
                 "GET https://10.0.0.7:8443/health (TLS, verified) every"));
  Explanation e = Explain(i, kNow);
  CHECK(Finding(e, "TLS") ==
        "https, certificate verified against musterd's probe CAs "
        "(--probe-ca-file, else the system roots)");

  c.set_tls_skip_verify(true);
  c.set_tls_server_name("web.internal");
  CHECK(Contains(DescribeCheck(c), "(TLS as \"web.internal\", NOT verified)"));
  CHECK(DescribeCheckTls(c) ==
        "https as \"web.internal\", certificate NOT verified "
        "(tls_skip_verify)");

  c.set_http_url("http://10.0.0.7:8080/health");
  c.clear_tls_skip_verify();
  c.clear_tls_server_name();
  CHECK(DescribeCheckTls(c) == "plain http (no TLS)");
  CHECK_FALSE(Contains(DescribeCheck(c), "TLS"));

  c.Clear();
  c.set_kind(v1::CHECK_KIND_GRPC);
  CHECK(DescribeCheckTls(c) == "plaintext gRPC");
  c.set_grpc_tls(true);
  CHECK(Contains(DescribeCheck(c), "over TLS (TLS, verified)"));
  CHECK(Contains(DescribeCheckTls(c), "gRPC over TLS, certificate verified"));
  c.set_tls_skip_verify(true);
  CHECK(DescribeCheckTls(c) ==
        "gRPC over TLS, certificate NOT verified (tls_skip_verify)");

  c.Clear();
  c.set_kind(v1::CHECK_KIND_TCP);
  CHECK(DescribeCheckTls(c).empty());
  CHECK(Finding(Explain(i, kNow), "TLS").empty());
}

TEST_CASE("explain hints at the trust when a TLS probe fails", "[check_tls]") {
  v1::Instance i;
  i.set_service("web");
  i.set_id("web-1");
  i.set_admin_state(v1::ADMIN_STATE_ENABLED);
  i.set_health(v1::HEALTH_CRITICAL);
  i.mutable_check()->set_kind(v1::CHECK_KIND_GRPC);
  i.mutable_check()->set_grpc_tls(true);
  i.mutable_health_detail()->set_output("TLS: certificate verify failed");
  Explanation e = Explain(i, kNow);
  bool hinted = false;
  for (const std::string& hint : e.hints) {
    hinted = hinted || Contains(hint, "--probe-ca-file");
  }
  CHECK(hinted);
}

}  // namespace
}  // namespace muster::cli
