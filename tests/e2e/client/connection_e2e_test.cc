// The client library's connection to a real musterd: failover between
// daemon addresses and the access token.

#include <catch2/catch.hpp>
#include <string>

#include "client/src/daemon_connection.h"
#include "muster/client/client.h"
#include "testkit/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace muster::client {
namespace {

using testing::DaemonProcess;
using testing::TempDir;

TEST_CASE("the client fails over from a dead daemon address to a live one",
          "[client][e2e]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());

  ClientOptions options;
  const std::string dead = "127.0.0.1:" + std::to_string(testing::FreePort());
  options.addresses = {dead, daemon.address()};
  grpc::Status status;
  std::shared_ptr<Client> client = Client::Create(options, &status);
  REQUIRE(client != nullptr);
  CHECK(client->current_address() == dead);

  v1::PingRequest request;
  v1::PingResponse response;
  status =
      client->connection().Call(&v1::Registry::Stub::Ping, request, &response);
  CHECK(status.ok());
  CHECK(client->current_address() == daemon.address());

  // With the live daemon gone too, a call fails with UNAVAILABLE after
  // trying both.
  daemon.Kill();
  status =
      client->connection().Call(&v1::Registry::Stub::Ping, request, &response);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("the client sends its access token with every call",
          "[client][e2e]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--auth"});
  REQUIRE(daemon.Start());

  v1::ListServicesRequest request;
  v1::ListServicesResponse response;
  ClientOptions anonymous;
  anonymous.addresses = {daemon.address()};
  std::shared_ptr<Client> without = Client::Create(anonymous);
  REQUIRE(without != nullptr);
  CHECK(without->connection()
            .Call(&v1::Registry::Stub::ListServices, request, &response)
            .error_code() == grpc::StatusCode::UNAUTHENTICATED);

  // The bootstrap token musterd --auth writes into its data directory.
  const std::string token_file = dir.File("data") + "/bootstrap-token";
  ClientOptions with_token = anonymous;
  setenv("MUSTER_TOKEN_FILE", token_file.c_str(), 1);
  std::shared_ptr<Client> with = Client::Create(with_token);
  unsetenv("MUSTER_TOKEN_FILE");
  REQUIRE(with != nullptr);
  const grpc::Status status = with->connection().Call(
      &v1::Registry::Stub::ListServices, request, &response);
  CHECK(status.ok());
  INFO(status.error_message());
}

}  // namespace
}  // namespace muster::client
