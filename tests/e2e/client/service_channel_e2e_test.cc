// ServiceChannel: its target follows the routable set of a real musterd,
// a channel is kept while the target is, and real gRPC calls go round
// robin over real servers.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "client/src/daemon_connection.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "muster/client/client.h"
#include "muster/client/resolver.h"
#include "muster/client/service_channel.h"
#include "testkit/daemon_process.h"
#include "tests/e2e/client/users_service.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::client {
namespace {

using std::chrono::milliseconds;
using testing::DaemonProcess;
using testing::TempDir;
using users::Connect;
using users::Drain;
using users::Register;

using ::muster::testing::Eventually;

// A gRPC server on 127.0.0.1 whose health service counts the calls it
// answers.
class CountingServer final : public grpc::health::v1::Health::Service {
 public:
  CountingServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~CountingServer() override {
    server_->Shutdown(std::chrono::system_clock::now());
  }
  grpc::Status Check(grpc::ServerContext*,
                     const grpc::health::v1::HealthCheckRequest*,
                     grpc::health::v1::HealthCheckResponse* response) override {
    ++calls_;
    response->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
  int port() const { return port_; }
  int calls() const { return calls_.load(); }

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<int> calls_{0};
};

grpc::Status Check(ServiceChannel& channel,
                   milliseconds timeout = milliseconds(10000)) {
  auto stub = grpc::health::v1::Health::NewStub(channel.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  return stub->Check(&context, request, &response);
}

TEST_CASE(
    "a service channel follows the routable set and keeps its channel "
    "while the target stays",
    "[client][e2e][service_channel]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());
  std::shared_ptr<Client> client = Connect(daemon);
  std::shared_ptr<Resolver> resolver = Resolver::Create(client);

  // No instance yet: calls fail with UNAVAILABLE, and fast.
  std::unique_ptr<ServiceChannel> users =
      ServiceChannel::Create(resolver, "users");
  REQUIRE(users != nullptr);
  CHECK(resolver->View("users").synced);
  CHECK(users->target().empty());
  CHECK(users->generation() == 1);
  const auto start = std::chrono::steady_clock::now();
  CHECK(Check(*users).error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

  Register(*client, "b", 9002);
  Register(*client, "a", 9001);
  REQUIRE(Eventually(
      [&] { return users->target() == "ipv4:127.0.0.1:9001,127.0.0.1:9002"; }));
  const std::shared_ptr<grpc::Channel> channel = users->channel();
  const uint64_t generation = users->generation();

  // A change that leaves the addresses alone (a new version) keeps the
  // channel, even though subscribers hear of it.
  Register(*client, "a", 9001, "", "2");
  REQUIRE(Eventually([&] {
    const std::vector<Endpoint> routable = resolver->View("users").routable;
    return !routable.empty() && routable[0].version == "2";
  }));
  CHECK(users->channel() == channel);
  CHECK(users->generation() == generation);

  Drain(*client, "a");
  REQUIRE(Eventually([&] { return users->target() == "ipv4:127.0.0.1:9002"; }));
  CHECK(users->channel() != channel);
  CHECK(users->generation() == generation + 1);
}

TEST_CASE("calls through a service channel go round robin over the instances",
          "[client][e2e][service_channel]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());
  std::shared_ptr<Client> client = Connect(daemon);
  CountingServer one;
  CountingServer two;
  Register(*client, "one", one.port());
  Register(*client, "two", two.port());

  std::shared_ptr<Resolver> resolver = Resolver::Create(client);
  std::unique_ptr<ServiceChannel> users =
      ServiceChannel::Create(resolver, "users");
  // Create waited for the snapshot: the first channel after the one
  // without instances already has both.
  const std::string target = users->target();
  CHECK_THAT(target, Catch::StartsWith("ipv4:"));
  CHECK_THAT(target,
             Catch::Contains("127.0.0.1:" + std::to_string(one.port())));
  CHECK_THAT(target,
             Catch::Contains("127.0.0.1:" + std::to_string(two.port())));
  CHECK(users->generation() == 2);

  // Every call succeeds; once both connections are up, round robin
  // alternates between them.
  int calls = 0;
  CHECK(Eventually([&] {
    const grpc::Status status = Check(*users);
    INFO(status.error_message());
    REQUIRE(status.ok());
    ++calls;
    return one.calls() > 0 && two.calls() > 0;
  }));
  const int before_one = one.calls();
  const int before_two = two.calls();
  for (int i = 0; i < 20; ++i) REQUIRE(Check(*users).ok());
  CHECK(one.calls() - before_one == 10);
  CHECK(two.calls() - before_two == 10);
  CHECK(one.calls() + two.calls() == calls + 20);
}

}  // namespace
}  // namespace muster::client
