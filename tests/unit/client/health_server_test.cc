// The built-in health endpoint, served for real on 127.0.0.1.

#include "muster/client/health_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>

namespace muster::client {
namespace {

// GET `path` from the server; -1 when it did not answer.
int Get(const HealthServer& server, const std::string& path,
        std::string* body = nullptr) {
  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(5);
  httplib::Result result = client.Get(path.c_str());
  if (!result) return -1;
  if (body != nullptr) *body = result->body;
  return result->status;
}

TEST_CASE("the health server answers healthz and readyz", "[client][health]") {
  grpc::Status status;
  std::unique_ptr<HealthServer> server =
      HealthServer::Start({"127.0.0.1", 0, nullptr}, &status);
  REQUIRE(server != nullptr);
  CHECK(status.ok());
  CHECK(server->port() > 0);
  CHECK(server->url("/readyz") ==
        "http://127.0.0.1:" + std::to_string(server->port()) + "/readyz");

  std::string body;
  CHECK(Get(*server, "/healthz", &body) == 200);
  CHECK(body == "ok");
  CHECK(Get(*server, "/readyz", &body) == 200);
  CHECK(body == "ready");
  CHECK(Get(*server, "/nothing-here") == 404);

  server->SetReady(false);
  CHECK(Get(*server, "/readyz", &body) == 503);
  CHECK(body == "not ready");
  CHECK(Get(*server, "/healthz") == 200);  // alive while not ready
  server->SetReady(true);
  CHECK(Get(*server, "/readyz") == 200);
}

TEST_CASE("readyz follows the readiness callback", "[client][health]") {
  std::atomic<bool> ready{false};
  std::unique_ptr<HealthServer> server =
      HealthServer::Start({"127.0.0.1", 0, [&ready] { return ready.load(); }});
  REQUIRE(server != nullptr);
  CHECK(Get(*server, "/readyz") == 503);
  ready = true;
  CHECK(Get(*server, "/readyz") == 200);
  // SetReady(false) wins over a ready callback.
  server->SetReady(false);
  CHECK(Get(*server, "/readyz") == 503);
}

TEST_CASE("the health server url uses 127.0.0.1 for 0.0.0.0",
          "[client][health]") {
  std::unique_ptr<HealthServer> server = HealthServer::Start({});
  REQUIRE(server != nullptr);
  CHECK(server->url("/healthz") ==
        "http://127.0.0.1:" + std::to_string(server->port()) + "/healthz");
  CHECK(Get(*server, "/healthz") == 200);
}

TEST_CASE("the health server stops serving when destroyed",
          "[client][health]") {
  std::unique_ptr<HealthServer> server =
      HealthServer::Start({"127.0.0.1", 0, nullptr});
  REQUIRE(server != nullptr);
  const int port = server->port();
  CHECK(Get(*server, "/healthz") == 200);
  server.reset();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  CHECK_FALSE(client.Get("/healthz"));
}

TEST_CASE("a health server on a port in use is refused naming it",
          "[client][health]") {
  // A plain listening socket holds the port.
  const int holder = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(holder >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(bind(holder, reinterpret_cast<sockaddr*>(&address),
               sizeof(address)) == 0);
  REQUIRE(listen(holder, 1) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length) ==
          0);
  const int port = ntohs(address.sin_port);

  grpc::Status status;
  std::unique_ptr<HealthServer> server =
      HealthServer::Start({"127.0.0.1", port, nullptr}, &status);
  close(holder);
  CHECK(server == nullptr);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_THAT(status.error_message(),
             Catch::Contains("127.0.0.1:" + std::to_string(port)));
  CHECK_THAT(status.error_message(), Catch::Contains("in use"));
}

TEST_CASE("a second health server cannot share a port", "[client][health]") {
  std::unique_ptr<HealthServer> first =
      HealthServer::Start({"127.0.0.1", 0, nullptr});
  REQUIRE(first != nullptr);
  grpc::Status status;
  CHECK(HealthServer::Start({"127.0.0.1", first->port(), nullptr}, &status) ==
        nullptr);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("a health server port out of range is refused", "[client][health]") {
  grpc::Status status;
  CHECK(HealthServer::Start({"127.0.0.1", 70000, nullptr}, &status) == nullptr);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(status.error_message(), Catch::StartsWith("port:"));
}

}  // namespace
}  // namespace muster::client
