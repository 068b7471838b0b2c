// musterd's transport flags: the gRPC limits and the TLS flags' rules.

#include <catch2/catch.hpp>
#include <string>

#include "daemon/daemon_options.h"
#include "testkit/test_certs.h"
#include "tests/support/temp_dir.h"

namespace muster::registry {
namespace {

std::string MessageOf(const DaemonOptions& options) {
  return std::string(ValidateDaemonOptions(options).message());
}

}  // namespace

TEST_CASE("the transport limits' defaults are valid", "[daemon]") {
  absl::StatusOr<GrpcConnectionOptions> parsed =
      ParseGrpcConnectionOptions(DaemonOptions{});
  REQUIRE(parsed.ok());
  CHECK(parsed->max_concurrent_streams == 4096);
  CHECK(parsed->memory_limit_bytes == uint64_t{1} << 30);
  CHECK(parsed->min_ping_interval == absl::Seconds(10));
  CHECK(parsed->max_ping_strikes == 2);
}

TEST_CASE("a transport limit out of range names the flag and the rule",
          "[daemon]") {
  DaemonOptions options;
  options.grpc_max_concurrent_streams = 0;
  CHECK(MessageOf(options) ==
        "--grpc-max-concurrent-streams: must be from 1 to 1000000");
  options.grpc_max_concurrent_streams = 1000001;
  CHECK(MessageOf(options) ==
        "--grpc-max-concurrent-streams: must be from 1 to 1000000");

  options = DaemonOptions{};
  options.grpc_memory_limit = "8MiB";
  CHECK(MessageOf(options) == "--grpc-memory-limit: must be at least 16MiB");
  options.grpc_memory_limit = "lots";
  CHECK_THAT(MessageOf(options),
             Catch::StartsWith("--grpc-memory-limit: \"lots\" is not a size"));
  options.grpc_memory_limit = "16MiB";
  CHECK(ValidateDaemonOptions(options).ok());

  options = DaemonOptions{};
  for (const char* bad : {"500ms", "2h"}) {
    options.grpc_min_ping_interval = bad;
    CHECK(MessageOf(options) ==
          "--grpc-min-ping-interval: must be from 1s to 1h");
  }
  options.grpc_min_ping_interval = "soon";
  CHECK_THAT(MessageOf(options),
             Catch::StartsWith("--grpc-min-ping-interval: \"soon\" is not a "
                               "duration"));

  options = DaemonOptions{};
  options.grpc_max_ping_strikes = 0;
  CHECK(MessageOf(options) ==
        "--grpc-max-ping-strikes: must be from 1 to 1000");
}

TEST_CASE("TLS flags need each other and readable matching files", "[daemon]") {
  testing::TempDir dir;
  testing::TestCerts certs(dir.path());
  DaemonOptions options;
  options.tls_key = certs.server().key;
  CHECK_THAT(MessageOf(options),
             Catch::StartsWith("--tls-key: needs --tls-cert"));
  options = DaemonOptions{};
  options.tls_client_ca = certs.ca().cert;
  CHECK_THAT(MessageOf(options),
             Catch::StartsWith("--tls-client-ca: needs --tls-cert"));
  options = DaemonOptions{};
  options.tls_cert = certs.server().cert;
  CHECK_THAT(MessageOf(options),
             Catch::StartsWith("--tls-cert: needs --tls-key"));

  options.tls_key = certs.other_server().key;
  CHECK_THAT(MessageOf(options),
             Catch::StartsWith("--tls-key: " + certs.other_server().key +
                               " does not match the certificate"));
  options.tls_key = dir.File("absent.key");
  CHECK_THAT(MessageOf(options), Catch::StartsWith("--tls-key: cannot read " +
                                                   dir.File("absent.key")));
  options.tls_key = certs.server().key;
  CHECK(ValidateDaemonOptions(options).ok());
  options.tls_client_ca = certs.server().key;
  CHECK_THAT(MessageOf(options),
             Catch::StartsWith("--tls-client-ca: " + certs.server().key +
                               " holds no PEM certificate"));
  options.tls_client_ca = certs.ca().cert;
  absl::StatusOr<TlsFlagValues> tls = ParseTlsOptions(options);
  REQUIRE(tls.ok());
  CHECK(tls->client_ca == certs.ca().cert);
  CHECK(tls->reload_interval == absl::Seconds(10));

  for (const char* bad : {"0s", "1500ms", "25h", "often"}) {
    INFO(bad);
    options.tls_reload_interval = bad;
    CHECK_THAT(MessageOf(options),
               Catch::StartsWith("--tls-reload-interval: "));
  }
  options.tls_reload_interval = "1s";
  CHECK(ValidateDaemonOptions(options).ok());
}

}  // namespace muster::registry
