// Health-check TLS through the real binaries: musterd --probe-ca-file
// (its start-up rule, and probes verified against it), musterctl's check
// TLS flags, and what get and explain say about a check's TLS.

#include <chrono>
#include <fstream>
#include <thread>

#include "testkit/test_certs.h"
#include "tests/e2e/cli/harness.h"
#include "tests/support/grpc_health_target.h"
#include "tests/support/http_probe_target.h"

namespace muster::e2e {
namespace {

using testing::CertKey;
using testing::DaemonProcess;
using testing::GrpcHealthTarget;
using testing::HttpProbeTarget;
using testing::TestCerts;

// A check takes a second or two to reach its verdict (1s interval).
constexpr auto kVerdictDeadline = std::chrono::seconds(20);

RunResult RunMusterd(const std::vector<std::string>& args) {
  SpawnOptions options;
  options.argv = {MUSTERD_PATH};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  return Run(options, absl::Seconds(20));
}

TEST_CASE("musterd --probe-ca-file must name a readable PEM bundle",
          "[e2e][check_tls]") {
  testing::TempDir temp;
  const std::string empty = temp.File("empty.pem");
  std::ofstream(empty).close();
  const std::string data = temp.File("data");
  struct Case {
    std::string file;
    std::string rule;
  };
  for (const Case& c : {Case{temp.File("missing.pem"), "cannot read"},
                        Case{empty, "holds no PEM certificate"}}) {
    RunResult r =
        RunMusterd({"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                    "--data-dir", data, "--probe-ca-file", c.file});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind("musterd: --probe-ca-file: ", 0) == 0);
    CHECK(Contains(r.err, c.rule));
    CHECK(Contains(r.err, c.file));
  }
}

class TlsChecks {
 public:
  TlsChecks() {
    daemon = std::make_unique<DaemonProcess>(
        MUSTERD_PATH, temp.File("data"), temp.File("data.log"),
        std::vector<std::string>{"--probe-ca-file", certs.ca().cert});
    const bool started = daemon->Start();
    INFO(daemon->log());
    REQUIRE(started);
  }

  std::string Ctl(std::vector<std::string> args) {
    RunResult r = RunCtl(daemon->address(), args);
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  }

  // `musterctl get` of web/<id> once its health is `health`.
  std::string WaitForHealth(const std::string& id, const std::string& health) {
    const auto deadline = std::chrono::steady_clock::now() + kVerdictDeadline;
    std::string out;
    while (std::chrono::steady_clock::now() < deadline) {
      out = Ctl({"get", "web", id});
      for (const std::string& line : SplitLines(out)) {
        std::vector<std::string> w = Words(line);
        if (w.size() >= 2 && w[0] == "Health:" && w[1] == health) return out;
      }
      // Real time: the daemon's checker runs on its own clock.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    INFO(out);
    FAIL("web/" << id << " never became " << health);
    return out;
  }

  testing::TempDir temp;
  TestCerts certs{temp.path()};
  std::unique_ptr<DaemonProcess> daemon;
};

std::vector<std::string> Register(const std::string& id, int port,
                                  std::vector<std::string> check) {
  std::vector<std::string> args = {"register",
                                   "web",
                                   "--id",
                                   id,
                                   "--address",
                                   "127.0.0.1",
                                   "--port",
                                   std::to_string(port),
                                   "--interval",
                                   "1s",
                                   "--check-timeout",
                                   "900ms",
                                   "--unhealthy-threshold",
                                   "1"};
  args.insert(args.end(), check.begin(), check.end());
  return args;
}

TEST_CASE_METHOD(TlsChecks,
                 "https and gRPC TLS checks verify against --probe-ca-file",
                 "[e2e][check_tls]") {
  auto trusted =
      HttpProbeTarget::StartTls(certs.server().cert, certs.server().key);
  REQUIRE(trusted.ok());
  auto untrusted = HttpProbeTarget::StartTls(certs.other_server().cert,
                                             certs.other_server().key);
  REQUIRE(untrusted.ok());
  auto grpc = GrpcHealthTarget::StartTls(certs.other_server().cert,
                                         certs.other_server().key);
  REQUIRE(grpc.ok());

  Ctl(Register("ok", (*trusted)->port(), {"--check-http", (*trusted)->Url()}));
  Ctl(Register("bad", (*untrusted)->port(),
               {"--check-http", (*untrusted)->Url()}));
  Ctl(Register(
      "grpc-skip", (*grpc)->port(),
      {"--check-grpc", "--check-grpc-tls", "--check-tls-skip-verify"}));
  Ctl(Register("grpc-bad", (*grpc)->port(),
               {"--check-grpc", "--check-grpc-tls"}));

  std::string ok = WaitForHealth("ok", "PASSING");
  CHECK(Contains(ok, "(TLS, verified)"));
  std::string bad = WaitForHealth("bad", "CRITICAL");
  CHECK(Contains(bad,
                 "\"TLS: certificate verify failed: unable to get local "
                 "issuer certificate\""));
  std::string skip = WaitForHealth("grpc-skip", "PASSING");
  CHECK(Contains(skip, "over TLS (TLS, NOT verified)"));
  WaitForHealth("grpc-bad", "CRITICAL");

  std::string explain = Ctl({"explain", "web", "bad"});
  INFO(explain);
  CHECK(Contains(explain,
                 "https, certificate verified against musterd's probe CAs"));
  CHECK(Contains(explain, "--probe-ca-file"));
  std::string explain_grpc = Ctl({"explain", "web", "grpc-bad"});
  INFO(explain_grpc);
  CHECK(Contains(explain_grpc, "TLS: certificate verify failed"));
  CHECK(Contains(Ctl({"explain", "web", "grpc-skip"}),
                 "gRPC over TLS, certificate NOT verified (tls_skip_verify)"));
}

TEST_CASE_METHOD(TlsChecks, "a TLS setting on a plain check is refused",
                 "[e2e][check_tls]") {
  RunResult r = RunCtl(daemon->address(),
                       Register("x", 8080,
                                {"--check-http", "http://127.0.0.1:8080/",
                                 "--check-tls-skip-verify"}));
  INFO(r.err);
  CHECK(r.exit_code != 0);
  CHECK(Contains(r.err, "instance.check.tls_skip_verify"));
}

}  // namespace
}  // namespace muster::e2e
