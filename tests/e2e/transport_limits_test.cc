// The gRPC transport limits of the real musterd: streams per connection
// and keepalive ping enforcement, set by their flags.

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

// A channel on a connection of its own; `keepalive_ms` > 0 sends
// keepalive pings that often, with or without data.
std::shared_ptr<grpc::Channel> NewConnection(const std::string& address,
                                             int keepalive_ms = 0) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (keepalive_ms > 0) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // gRPC's client paces its own pings otherwise (one a second at most).
    args.SetInt(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS,
                keepalive_ms);
  }
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

grpc::Status Ping(const std::shared_ptr<grpc::Channel>& channel,
                  std::chrono::milliseconds deadline) {
  auto stub = muster::v1::Registry::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  muster::v1::PingResponse response;
  return stub->Ping(&context, {}, &response);
}

// A watch of realm "default" that has received its snapshot.
struct OpenWatch {
  explicit OpenWatch(
      const std::shared_ptr<grpc::Channel>& channel,
      std::chrono::milliseconds deadline = std::chrono::milliseconds(30000))
      : stub(muster::v1::Registry::NewStub(channel)) {
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    muster::v1::WatchRequest request;
    request.set_realm("default");
    stream = stub->Watch(&context, request);
    muster::v1::WatchResponse message;
    started = stream->Read(&message) &&
              message.kind() == muster::v1::WatchResponse::SNAPSHOT_END;
  }
  // Reads until the stream ends; its final status.
  grpc::Status End() {
    muster::v1::WatchResponse message;
    while (stream->Read(&message)) {
    }
    return stream->Finish();
  }
  std::unique_ptr<muster::v1::Registry::Stub> stub;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<muster::v1::WatchResponse>> stream;
  bool started = false;
};

}  // namespace

TEST_CASE("a connection gets at most --grpc-max-concurrent-streams streams",
          "[e2e][limits]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--grpc-max-concurrent-streams", "2"});
  REQUIRE(daemon.Start());
  std::shared_ptr<grpc::Channel> connection = NewConnection(daemon.address());
  auto first = std::make_unique<OpenWatch>(connection);
  OpenWatch second(connection);
  REQUIRE(first->started);
  REQUIRE(second.started);

  // A third stream on the same connection waits for a free one...
  CHECK(Ping(connection, std::chrono::milliseconds(500)).error_code() ==
        grpc::StatusCode::DEADLINE_EXCEEDED);
  // ...another connection does not.
  CHECK(Ping(NewConnection(daemon.address()), std::chrono::seconds(5)).ok());
  // It goes through once a stream ends.
  first->context.TryCancel();
  first.reset();
  CHECK(Ping(connection, std::chrono::seconds(5)).ok());
  second.context.TryCancel();
}

// gRPC's client sends a keepalive ping at most once a second, however
// short its keepalive time; the cases below work with that pace.
TEST_CASE(
    "keepalive pings more often than --grpc-min-ping-interval get a "
    "GOAWAY after --grpc-max-ping-strikes",
    "[e2e][limits]") {
  TempDir dir;
  DaemonProcess daemon(
      MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
      {"--grpc-min-ping-interval", "3s", "--grpc-max-ping-strikes", "1"});
  REQUIRE(daemon.Start());
  // A ping a second: the second and third are strikes, and the connection
  // is closed under the watch (UNAVAILABLE) long before its deadline.
  OpenWatch flooding(NewConnection(daemon.address(), 200),
                     std::chrono::seconds(20));
  REQUIRE(flooding.started);
  const auto start = std::chrono::steady_clock::now();
  CHECK(flooding.End().error_code() == grpc::StatusCode::UNAVAILABLE);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("ended after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
       << " ms");
  CHECK(took < std::chrono::seconds(10));
}

TEST_CASE("keepalive pings at --grpc-min-ping-interval or slower are fine",
          "[e2e][limits]") {
  TempDir dir;
  DaemonProcess daemon(
      MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
      {"--grpc-min-ping-interval", "1s", "--grpc-max-ping-strikes", "1"});
  REQUIRE(daemon.Start());
  // Pings at 1.3, 2.6 and 3.9 s: with gRPC's own minimum (5 min) the
  // third would end the connection; musterd's 1 s lets the watch live
  // until its deadline.
  OpenWatch polite(NewConnection(daemon.address(), 1300),
                   std::chrono::milliseconds(4500));
  REQUIRE(polite.started);
  CHECK(polite.End().error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
}

}  // namespace muster::testing
