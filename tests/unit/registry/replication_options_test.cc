// musterd's --store etcd flags (daemon/replication_options.h).

#include "daemon/replication_options.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace muster::registry {
namespace {

DaemonOptions Etcd() {
  DaemonOptions options;
  options.store = "etcd";
  options.etcd_endpoints = "127.0.0.1:2379, 127.0.0.1:2380";
  options.replica_id = "r1";
  options.listen = "127.0.0.1:7400";
  return options;
}

// The error of `options`, which must be INVALID_ARGUMENT.
std::string Refusal(const DaemonOptions& options) {
  absl::StatusOr<ReplicationConfig> config = ParseReplicationOptions(options);
  REQUIRE(absl::IsInvalidArgument(config.status()));
  // ValidateDaemonOptions refuses the same.
  CHECK(ValidateDaemonOptions(options).message() == config.status().message());
  return std::string(config.status().message());
}

TEST_CASE("the flags of --store etcd fill in their defaults", "[daemon]") {
  absl::StatusOr<ReplicationConfig> config = ParseReplicationOptions(Etcd());
  INFO(config.status().ToString());
  REQUIRE(config.ok());
  CHECK(config->endpoints ==
        std::vector<std::string>{"127.0.0.1:2379", "127.0.0.1:2380"});
  CHECK(config->prefix == "/muster/");
  CHECK(config->replica_id == "r1");
  // Reached where it listens when that is a real address.
  CHECK(config->advertise_address == "127.0.0.1:7400");
  CHECK(config->lease_ttl == absl::Seconds(5));
  CHECK(config->max_txn_ops == 128);

  DaemonOptions unnamed = Etcd();
  unnamed.replica_id.clear();
  absl::StatusOr<ReplicationConfig> named = ParseReplicationOptions(unnamed);
  REQUIRE(named.ok());
  CHECK_FALSE(named->replica_id.empty());  // the host name
}

TEST_CASE("bad --store etcd flags name the flag and the rule", "[daemon]") {
  DaemonOptions options = Etcd();
  options.store = "postgres";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--store: \"postgres\""));

  options = Etcd();
  options.etcd_endpoints = "";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--etcd-endpoints:"));
  options.etcd_endpoints = "127.0.0.1";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--etcd-endpoints"));
  options.etcd_endpoints = "127.0.0.1:0";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--etcd-endpoints"));

  options = Etcd();
  options.etcd_prefix = "muster";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--etcd-prefix:"));

  options = Etcd();
  options.etcd_cert_file = "/tmp/c.pem";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--etcd-cert-file:"));

  options = Etcd();
  options.etcd_username = "muster";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--etcd-username:"));
  options.etcd_password_file = "/nonexistent/password";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--etcd-password-file:"));

  for (const std::string ttl : {"1s", "2m", "2500ms", "soon"}) {
    INFO(ttl);
    options = Etcd();
    options.replica_lease_ttl = ttl;
    CHECK_THAT(Refusal(options), Catch::StartsWith("--replica-lease-ttl:"));
  }

  options = Etcd();
  options.replica_id = "a/b";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--replica-id:"));

  // Where would the others reach it?
  options = Etcd();
  options.listen = "0.0.0.0:7400";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--advertise-addr:"));
  options.advertise_addr = "0.0.0.0:7400";
  CHECK_THAT(Refusal(options), Catch::StartsWith("--advertise-addr:"));
  options.advertise_addr = "m1.example:7400";
  CHECK(ParseReplicationOptions(options).ok());
}

TEST_CASE("etcd flags without --store etcd are refused", "[daemon]") {
  DaemonOptions options;
  options.etcd_endpoints = "127.0.0.1:2379";
  CHECK(Refusal(options) == "--etcd-endpoints: needs --store etcd");
  options = DaemonOptions();
  options.replica_id = "r1";
  CHECK(Refusal(options) == "--replica-id: needs --store etcd");
  CHECK(ParseReplicationOptions(DaemonOptions()).ok());
}

TEST_CASE("the etcd password comes from its file", "[daemon]") {
  testing::TempDir dir;
  const std::string file = dir.path() + "/password";
  std::ofstream(file) << "s3cret\n";
  DaemonOptions options = Etcd();
  options.etcd_username = "muster";
  options.etcd_password_file = file;
  absl::StatusOr<ReplicationConfig> config = ParseReplicationOptions(options);
  REQUIRE(config.ok());
  CHECK(config->username == "muster");
  CHECK(config->password == "s3cret");
}

}  // namespace
}  // namespace muster::registry
