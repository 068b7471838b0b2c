// The client library's heartbeats against in-process Registry fakes: one
// HeartbeatStream shared by every caller of a Client, each heartbeat's
// result as unary Heartbeat would give it, a silent daemon timed out and
// the stream reopened, failover to the next address, and unary Heartbeat
// for a daemon without HeartbeatStream (an older musterd).

#include "client/src/heartbeat_stream.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/src/daemon_connection.h"
#include "muster/client/client.h"
#include "muster/v1/registry.grpc.pb.h"

namespace muster::client {
namespace {

using std::chrono::milliseconds;
using Code = grpc::StatusCode;

// Answers id "gone" NOT_FOUND and everything else PASSING, by unary
// Heartbeat and, unless `streams` is off, on HeartbeatStream (where
// `silent` makes it read without answering).
class FakeRegistry final : public v1::Registry::Service {
 public:
  explicit FakeRegistry(bool streams) : streams_(streams) {}

  grpc::Status Heartbeat(grpc::ServerContext*,
                         const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    ++unary;
    if (request->id() == "gone") return grpc::Status(Code::NOT_FOUND, "gone");
    response->set_health(v1::HEALTH_PASSING);
    return grpc::Status::OK;
  }

  grpc::Status HeartbeatStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::HeartbeatStreamResponse,
                               v1::HeartbeatStreamRequest>* stream) override {
    if (!streams_) return grpc::Status(Code::UNIMPLEMENTED, "");
    ++opened;
    v1::HeartbeatStreamRequest request;
    while (stream->Read(&request)) {
      if (silent) continue;
      v1::HeartbeatStreamResponse response;
      response.set_sequence(request.sequence());
      for (const v1::HeartbeatRequest& heartbeat : request.heartbeats()) {
        ++streamed;
        v1::HeartbeatResult* result = response.add_results();
        if (heartbeat.id() == "gone") {
          result->set_code(static_cast<int>(Code::NOT_FOUND));
          result->set_message("gone");
        } else {
          result->set_health(v1::HEALTH_PASSING);
          result->set_admin_state(v1::ADMIN_STATE_DRAINING);
        }
      }
      if (!stream->Write(response)) break;
    }
    (void)context;
    return grpc::Status::OK;
  }

  std::atomic<int> unary{0};
  std::atomic<int> streamed{0};
  std::atomic<int> opened{0};
  std::atomic<bool> silent{false};

 private:
  const bool streams_;
};

struct Daemon {
  explicit Daemon(bool streams) : registry(streams) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&registry);
    server = builder.BuildAndStart();
    address = "127.0.0.1:" + std::to_string(port);
  }
  ~Daemon() { server->Shutdown(std::chrono::system_clock::now()); }

  FakeRegistry registry;
  std::unique_ptr<grpc::Server> server;
  std::string address;
};

std::shared_ptr<Client> MakeClient(std::vector<std::string> addresses) {
  ClientOptions options;
  options.addresses = std::move(addresses);
  options.call_timeout = milliseconds(500);
  std::shared_ptr<Client> client = Client::Create(options);
  REQUIRE(client != nullptr);
  return client;
}

v1::HeartbeatRequest Beat(const std::string& id) {
  v1::HeartbeatRequest request;
  request.set_service("web");
  request.set_id(id);
  request.set_incarnation(3);
  return request;
}

TEST_CASE("a Client's heartbeats share one stream and keep unary's answers",
          "[client][heartbeat_stream]") {
  Daemon daemon(true);
  std::shared_ptr<Client> client = MakeClient({daemon.address});
  internal::DaemonConnection& connection = client->connection();
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        v1::HeartbeatResponse response;
        grpc::Status status = connection.Heartbeat(Beat("a"), &response);
        if (!status.ok() || response.health() != v1::HEALTH_PASSING ||
            response.admin_state() != v1::ADMIN_STATE_DRAINING) {
          ++bad;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(bad == 0);
  v1::HeartbeatResponse response;
  grpc::Status gone = connection.Heartbeat(Beat("gone"), &response);
  CHECK(gone.error_code() == Code::NOT_FOUND);
  CHECK(gone.error_message() == "gone");
  CHECK(daemon.registry.streamed == 101);
  CHECK(daemon.registry.unary == 0);
  CHECK(daemon.registry.opened == 1);
  CHECK(connection.heartbeat_stream().streams_opened() == 1);
}

TEST_CASE("a daemon without HeartbeatStream gets unary heartbeats",
          "[client][heartbeat_stream]") {
  Daemon daemon(false);
  std::shared_ptr<Client> client = MakeClient({daemon.address});
  internal::DaemonConnection& connection = client->connection();
  for (int i = 0; i < 5; ++i) {
    v1::HeartbeatResponse response;
    REQUIRE(connection.Heartbeat(Beat("a"), &response).ok());
    CHECK(response.health() == v1::HEALTH_PASSING);
  }
  v1::HeartbeatResponse response;
  CHECK(connection.Heartbeat(Beat("gone"), &response).error_code() ==
        Code::NOT_FOUND);
  CHECK(daemon.registry.unary == 6);
  // Asked once; never again.
  CHECK(connection.heartbeat_stream().streams_opened() == 1);
}

TEST_CASE("a silent stream times out and the next heartbeat reopens it",
          "[client][heartbeat_stream]") {
  Daemon daemon(true);
  std::shared_ptr<Client> client = MakeClient({daemon.address});
  internal::DaemonConnection& connection = client->connection();
  v1::HeartbeatResponse response;
  REQUIRE(connection.Heartbeat(Beat("a"), &response).ok());
  daemon.registry.silent = true;
  const auto started = std::chrono::steady_clock::now();
  CHECK(connection.Heartbeat(Beat("a"), &response).error_code() ==
        Code::DEADLINE_EXCEEDED);
  // The call timeout (500 ms), with room for a slow machine.
  CHECK(std::chrono::steady_clock::now() - started < milliseconds(5000));
  daemon.registry.silent = false;
  REQUIRE(connection.Heartbeat(Beat("a"), &response).ok());
  CHECK(connection.heartbeat_stream().streams_opened() == 2);
  CHECK(daemon.registry.unary == 0);
}

TEST_CASE("heartbeats fail over to the next address",
          "[client][heartbeat_stream]") {
  int dead_port = 0;
  {
    // A port nothing listens on once this server is gone.
    Daemon gone(true);
    dead_port = std::stoi(gone.address.substr(gone.address.rfind(':') + 1));
  }
  Daemon daemon(true);
  std::shared_ptr<Client> client =
      MakeClient({"127.0.0.1:" + std::to_string(dead_port), daemon.address});
  internal::DaemonConnection& connection = client->connection();
  v1::HeartbeatResponse response;
  grpc::Status status = connection.Heartbeat(Beat("a"), &response);
  INFO(status.error_message());
  CHECK(status.ok());
  CHECK(connection.current() == 1);
  CHECK(daemon.registry.streamed == 1);
}

}  // namespace
}  // namespace muster::client
