#include "muster/client/options.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <string>

#include "muster/client/client.h"
#include "tests/support/temp_dir.h"

namespace muster::client {
namespace {

// An environment of the given variables only.
GetEnv Env(std::map<std::string, std::string> variables) {
  auto held = std::make_shared<std::map<std::string, std::string>>(
      std::move(variables));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

TEST_CASE("client options default to the local daemon and realm default",
          "[client][options]") {
  ClientOptions options;
  REQUIRE(ApplyEnvironment(options, Env({})).ok());
  CHECK(options.addresses == std::vector<std::string>{"127.0.0.1:7400"});
  CHECK(options.realm == "default");
  CHECK(options.zone.empty());
  CHECK_FALSE(options.tls.enabled);
  CHECK(options.token.empty());
}

TEST_CASE("client options come from the MUSTER variables",
          "[client][options]") {
  ClientOptions options;
  REQUIRE(ApplyEnvironment(options,
                           Env({{"MUSTER_ADDR", "10.0.0.1:7400, [::1]:7401"},
                                {"MUSTER_REALM", "staging"},
                                {"MUSTER_ZONE", "eu-1"},
                                {"MUSTER_CA", "/etc/ca.pem"},
                                {"MUSTER_TOKEN", "mst_x"}}))
              .ok());
  CHECK(options.addresses ==
        std::vector<std::string>{"10.0.0.1:7400", "[::1]:7401"});
  CHECK(options.realm == "staging");
  CHECK(options.zone == "eu-1");
  CHECK(options.tls.enabled);
  CHECK(options.tls.ca_file == "/etc/ca.pem");
  CHECK(options.token == "mst_x");
}

TEST_CASE("client options set in code win over the environment",
          "[client][options]") {
  ClientOptions options;
  options.addresses = {"127.0.0.1:9000"};
  options.realm = "dev";
  options.token = "mine";
  REQUIRE(ApplyEnvironment(options, Env({{"MUSTER_ADDR", "10.0.0.1:7400"},
                                         {"MUSTER_REALM", "staging"},
                                         {"MUSTER_TOKEN", "theirs"}}))
              .ok());
  CHECK(options.addresses == std::vector<std::string>{"127.0.0.1:9000"});
  CHECK(options.realm == "dev");
  CHECK(options.token == "mine");
}

TEST_CASE("client options read the token file without its newline",
          "[client][options]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/token";
  std::ofstream(path) << "mst_secret\n";
  ClientOptions options;
  REQUIRE(ApplyEnvironment(options, Env({{"MUSTER_TOKEN_FILE", path}})).ok());
  CHECK(options.token == "mst_secret");

  ClientOptions missing;
  const grpc::Status status = ApplyEnvironment(
      missing, Env({{"MUSTER_TOKEN_FILE", dir.path() + "/none"}}));
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(status.error_message(),
             Catch::Contains("MUSTER_TOKEN_FILE: cannot read"));
}

TEST_CASE("bad client options name the field and the rule",
          "[client][options]") {
  struct Case {
    std::map<std::string, std::string> env;
    std::string expected;
  };
  const Case cases[] = {
      {{{"MUSTER_ADDR", "localhost"}}, "MUSTER_ADDR: \"localhost\" must be"},
      {{{"MUSTER_ADDR", "h:99999"}}, "the port must be a number 1..65535"},
      {{{"MUSTER_ADDR", "::1:7400"}}, "IPv6 host must be in brackets"},
      {{{"MUSTER_REALM", "Prod"}}, "MUSTER_REALM: \"Prod\" must be"},
      {{{"MUSTER_ZONE", "-a"}}, "MUSTER_ZONE: \"-a\" must be"},
      {{{"MUSTER_CERT", "/c.pem"}}, "a client certificate needs its key"},
  };
  for (const Case& c : cases) {
    ClientOptions options;
    const grpc::Status status = ApplyEnvironment(options, Env(c.env));
    INFO(c.expected);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::Contains(c.expected));
  }
  ClientOptions options;
  options.realm = "UPPER";
  CHECK_THAT(ApplyEnvironment(options, Env({})).error_message(),
             Catch::StartsWith("realm: \"UPPER\""));
}

TEST_CASE("a client with an unreadable CA file is not created",
          "[client][options]") {
  ClientOptions options;
  options.addresses = {"127.0.0.1:1"};
  options.tls.ca_file = "/nonexistent/ca.pem";
  grpc::Status status;
  CHECK(Client::Create(options, &status) == nullptr);
  CHECK_THAT(status.error_message(),
             Catch::Contains("tls.ca_file: cannot read /nonexistent/ca.pem"));
}

}  // namespace
}  // namespace muster::client
