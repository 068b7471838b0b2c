// HeartbeatStream over gRPC against an in-process musterd with RocksDB:
// each heartbeat answered as unary Heartbeat would answer it, in the
// message's order and under its sequence, many messages in flight, a
// heartbeat that makes a TTL instance PASSING, tokens and the request
// rate, malformed messages and shutdown.

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "healthchecker/health_checker.h"
#include "tests/integration/auth_support.h"
#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

using muster::v1::HeartbeatRequest;
using muster::v1::HeartbeatStreamRequest;
using muster::v1::HeartbeatStreamResponse;
using muster::v1::Instance;
using Stream =
    grpc::ClientReaderWriter<HeartbeatStreamRequest, HeartbeatStreamResponse>;

uint64_t MustRegister(TestServer& server, const std::string& realm,
                      const Instance& instance,
                      const std::string& secret = "") {
  muster::v1::RegisterRequest request;
  request.set_realm(realm);
  *request.mutable_instance() = instance;
  muster::v1::RegisterResponse response;
  grpc::Status status = server.registry().Register(BearerContext(secret).get(),
                                                   request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response.instance().create_revision();
}

HeartbeatRequest Beat(const std::string& realm, const std::string& service,
                      const std::string& id, uint64_t incarnation) {
  HeartbeatRequest heartbeat;
  heartbeat.set_realm(realm);
  heartbeat.set_service(service);
  heartbeat.set_id(id);
  heartbeat.set_incarnation(incarnation);
  return heartbeat;
}

HeartbeatStreamRequest Message(uint64_t sequence,
                               const std::vector<HeartbeatRequest>& beats) {
  HeartbeatStreamRequest request;
  request.set_sequence(sequence);
  for (const HeartbeatRequest& beat : beats) *request.add_heartbeats() = beat;
  return request;
}

double StreamsOpen(TestServer& server) {
  return server.metrics().GetGauge("muster_heartbeat_streams", "").Value();
}

uint64_t HeartbeatsVia(TestServer& server, const std::string& via) {
  return server.metrics()
      .GetCounter("muster_heartbeats_total", "", {{"via", via}})
      .Value();
}

}  // namespace

TEST_CASE("HeartbeatStream answers each heartbeat as unary Heartbeat does",
          "[integration][heartbeat_stream]") {
  TestServer server;
  const uint64_t a = MustRegister(server, "default", MakeInstance("web", "a"));
  const uint64_t b = MustRegister(server, "default", MakeInstance("api", "b"));
  // The unary answers the stream must repeat, code and message.
  const std::vector<HeartbeatRequest> beats = {
      Beat("", "web", "a", a),         // OK
      Beat("", "web", "missing", 5),   // NOT_FOUND
      Beat("", "web", "a", a + 1000),  // FAILED_PRECONDITION
      Beat("", "web", "a", 0),         // INVALID_ARGUMENT incarnation
      Beat("", "Bad_Name", "a", a),    // INVALID_ARGUMENT service
      Beat("nope", "web", "a", a),     // NOT_FOUND realm
      Beat("default", "api", "b", b),  // OK
  };
  std::vector<grpc::Status> unary;
  std::vector<muster::v1::HeartbeatResponse> unary_answers;
  for (const HeartbeatRequest& beat : beats) {
    muster::v1::HeartbeatResponse answer;
    unary.push_back(
        server.registry().Heartbeat(Context().get(), beat, &answer));
    unary_answers.push_back(answer);
  }
  REQUIRE(unary[0].ok());
  REQUIRE(unary[1].error_code() == grpc::NOT_FOUND);
  REQUIRE(unary[2].error_code() == grpc::FAILED_PRECONDITION);
  REQUIRE(unary[3].error_code() == grpc::INVALID_ARGUMENT);
  REQUIRE(unary[4].error_code() == grpc::INVALID_ARGUMENT);
  REQUIRE(unary[5].error_code() == grpc::NOT_FOUND);
  REQUIRE(unary[6].ok());
  const uint64_t unary_before = HeartbeatsVia(server, "unary");
  const uint64_t stream_before = HeartbeatsVia(server, "stream");
  CHECK(StreamsOpen(server) == 0);

  std::unique_ptr<grpc::ClientContext> context = Context();
  std::unique_ptr<Stream> stream =
      server.registry().HeartbeatStream(context.get());
  for (uint64_t sequence : {uint64_t{41}, uint64_t{42}}) {
    REQUIRE(stream->Write(Message(sequence, beats)));
    HeartbeatStreamResponse response;
    REQUIRE(stream->Read(&response));
    CHECK(response.sequence() == sequence);
    REQUIRE(response.results_size() == static_cast<int>(beats.size()));
    for (size_t i = 0; i < beats.size(); ++i) {
      INFO("heartbeat " << i << ": " << unary[i].error_message());
      const muster::v1::HeartbeatResult& result = response.results(i);
      CHECK(result.code() == static_cast<int>(unary[i].error_code()));
      if (unary[i].error_code() == grpc::INVALID_ARGUMENT) {
        // The field, named within the message.
        CHECK(result.message() == "heartbeats[" + std::to_string(i) + "]." +
                                      unary[i].error_message());
      } else {
        CHECK(result.message() == unary[i].error_message());
      }
      if (unary[i].ok()) {
        CHECK(result.health() == unary_answers[i].health());
        CHECK(result.admin_state() == unary_answers[i].admin_state());
        CHECK(result.health() == muster::v1::HEALTH_PASSING);
        CHECK(result.admin_state() == muster::v1::ADMIN_STATE_ENABLED);
      }
    }
    CHECK_THAT(response.results(3).message(),
               Catch::StartsWith("heartbeats[3].incarnation: "));
    CHECK_THAT(response.results(4).message(),
               Catch::StartsWith("heartbeats[4].service: "));
  }
  CHECK(StreamsOpen(server) == 1);
  CHECK(HeartbeatsVia(server, "stream") == stream_before + 2 * beats.size());
  CHECK(HeartbeatsVia(server, "unary") == unary_before);

  // A drained instance says so.
  muster::v1::SetAdminStateRequest drain;
  drain.set_service("web");
  drain.set_id("a");
  drain.set_admin_state(muster::v1::ADMIN_STATE_DRAINING);
  Instance drained;
  REQUIRE(
      server.registry().SetAdminState(Context().get(), drain, &drained).ok());
  REQUIRE(stream->Write(Message(43, {Beat("", "web", "a", a)})));
  HeartbeatStreamResponse response;
  REQUIRE(stream->Read(&response));
  CHECK(response.sequence() == 43);
  REQUIRE(response.results_size() == 1);
  CHECK(response.results(0).code() == 0);
  CHECK(response.results(0).admin_state() == muster::v1::ADMIN_STATE_DRAINING);

  // Half-closing ends the stream with OK.
  REQUIRE(stream->WritesDone());
  CHECK_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  INFO(status.error_message());
  CHECK(status.ok());
  for (int i = 0; i < 100 && StreamsOpen(server) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(StreamsOpen(server) == 0);
}

TEST_CASE("HeartbeatStream answers many messages in flight, each once",
          "[integration][heartbeat_stream]") {
  TestServer server;
  constexpr int kInstances = 50;
  std::vector<uint64_t> incarnations;
  for (int i = 0; i < kInstances; ++i) {
    incarnations.push_back(MustRegister(
        server, "default", MakeInstance("web", "w" + std::to_string(i))));
  }
  // More heartbeats than the stream holds pending: it stops and resumes
  // reading as the client reads.
  constexpr int kMessages = 300;
  std::unique_ptr<grpc::ClientContext> context = Context();
  std::unique_ptr<Stream> stream =
      server.registry().HeartbeatStream(context.get());
  std::thread writer([&] {
    for (int m = 0; m < kMessages; ++m) {
      std::vector<HeartbeatRequest> beats;
      for (int i = 0; i < kInstances; ++i) {
        // Every tenth message carries one missing instance in the middle.
        if (m % 10 == 0 && i == kInstances / 2) {
          beats.push_back(Beat("", "web", "gone", 7));
        }
        beats.push_back(
            Beat("", "web", "w" + std::to_string(i), incarnations[i]));
      }
      if (!stream->Write(Message(1000 + m, beats))) return;
    }
    stream->WritesDone();
  });
  std::map<uint64_t, int> seen;
  HeartbeatStreamResponse response;
  int bad = 0;
  while (stream->Read(&response)) {
    ++seen[response.sequence()];
    const uint64_t m = response.sequence() - 1000;
    const bool with_gone = m % 10 == 0;
    if (response.results_size() != kInstances + (with_gone ? 1 : 0)) ++bad;
    for (int i = 0; i < response.results_size(); ++i) {
      const bool gone = with_gone && i == kInstances / 2;
      const int expected =
          gone ? static_cast<int>(grpc::NOT_FOUND) : static_cast<int>(grpc::OK);
      if (response.results(i).code() != expected) ++bad;
    }
  }
  writer.join();
  grpc::Status status = stream->Finish();
  INFO(status.error_message());
  CHECK(status.ok());
  CHECK(bad == 0);
  CHECK(seen.size() == kMessages);
  for (const auto& [sequence, count] : seen) {
    INFO("sequence " << sequence);
    CHECK(count == 1);
  }
}

TEST_CASE("A heartbeat on the stream makes a TTL instance PASSING, durably",
          "[integration][heartbeat_stream]") {
  TestServer server;
  healthchecker::HealthChecker::Options checker_options;
  auto checker = healthchecker::HealthChecker::Create(
      checker_options, server.core().checker_bridge(),
      server.core().checker_bridge(), Clock::Real(), server.metrics());
  REQUIRE(checker.ok());
  REQUIRE((*checker)->Start().ok());

  Instance instance = MakeInstance("worker", "w1");
  instance.mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
  instance.mutable_check()->mutable_ttl()->set_seconds(30);
  const uint64_t registered = MustRegister(server, "default", instance);
  const uint64_t plain =
      MustRegister(server, "default", MakeInstance("plain", "p1"));

  std::unique_ptr<grpc::ClientContext> context = Context();
  std::unique_ptr<Stream> stream =
      server.registry().HeartbeatStream(context.get());
  // The TTL heartbeat waits for its synced write; the others in the same
  // message wait with it, and the response holds all three.
  REQUIRE(stream->Write(Message(
      1, {Beat("", "plain", "p1", plain), Beat("", "worker", "w1", registered),
          Beat("", "plain", "p1", plain)})));
  HeartbeatStreamResponse response;
  REQUIRE(stream->Read(&response));
  CHECK(response.sequence() == 1);
  REQUIRE(response.results_size() == 3);
  for (const auto& result : response.results()) CHECK(result.code() == 0);
  CHECK(response.results(1).health() == muster::v1::HEALTH_PASSING);

  muster::v1::GetInstanceRequest get;
  get.set_service("worker");
  get.set_id("w1");
  Instance got;
  REQUIRE(server.registry().GetInstance(Context().get(), get, &got).ok());
  CHECK(got.health() == muster::v1::HEALTH_PASSING);
  CHECK(got.modify_revision() == plain + 1);

  REQUIRE(stream->WritesDone());
  CHECK_FALSE(stream->Read(&response));
  CHECK(stream->Finish().ok());
  (*checker)->Stop();
}

TEST_CASE("HeartbeatStream authorizes each heartbeat as unary Heartbeat does",
          "[integration][heartbeat_stream][auth]") {
  AuthWorld world;
  TestServer& server = world.server();
  const std::string writer = MakeToken(server, [] {
    registry::Tokens::Spec spec;
    spec.name = "prod-writer";
    spec.role = registry::TokenRole::kWrite;
    spec.realms = {"prod"};
    return spec;
  }());
  const uint64_t other =
      MustRegister(server, "other", MakeInstance("web", "o"), world.admin());
  const std::vector<HeartbeatRequest> beats = {
      Beat("prod", "web", "1", world.web_incarnation()),
      Beat("other", "web", "o", other),
  };
  struct Case {
    std::string name;
    std::string secret;
    std::vector<grpc::StatusCode> expect;
  };
  const std::vector<Case> cases = {
      {"no token", "", {grpc::UNAUTHENTICATED, grpc::UNAUTHENTICATED}},
      {"a revoked token",
       world.revoked(),
       {grpc::UNAUTHENTICATED, grpc::UNAUTHENTICATED}},
      {"a read token",
       world.reader_of_prod(),
       {grpc::PERMISSION_DENIED, grpc::PERMISSION_DENIED}},
      {"a write token of prod", writer, {grpc::OK, grpc::PERMISSION_DENIED}},
      {"an admin of other",
       world.admin_of_other(),
       {grpc::PERMISSION_DENIED, grpc::OK}},
      {"an admin", world.admin(), {grpc::OK, grpc::OK}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    // Unary Heartbeat answers the same.
    for (size_t i = 0; i < beats.size(); ++i) {
      muster::v1::HeartbeatResponse answer;
      CHECK(server.registry()
                .Heartbeat(BearerContext(c.secret).get(), beats[i], &answer)
                .error_code() == c.expect[i]);
    }
    std::unique_ptr<grpc::ClientContext> context = BearerContext(c.secret);
    std::unique_ptr<Stream> stream =
        server.registry().HeartbeatStream(context.get());
    REQUIRE(stream->Write(Message(7, beats)));
    HeartbeatStreamResponse response;
    REQUIRE(stream->Read(&response));
    REQUIRE(response.results_size() == 2);
    for (size_t i = 0; i < beats.size(); ++i) {
      const muster::v1::HeartbeatResult& result = response.results(i);
      INFO("heartbeat " << i << ": " << result.message());
      CHECK(result.code() == static_cast<int>(c.expect[i]));
      if (c.expect[i] == grpc::PERMISSION_DENIED) {
        CHECK_THAT(result.message(), Catch::Contains("needs role"));
      }
      if (!c.secret.empty()) {
        CHECK_THAT(result.message(), !Catch::Contains(c.secret));
      }
    }
    // A refusal never ends the stream.
    REQUIRE(stream->WritesDone());
    CHECK_FALSE(stream->Read(&response));
    CHECK(stream->Finish().ok());
  }
  // The heartbeats refused on the stream are counted under its method.
  CHECK(server.metrics()
            .GetCounter("muster_auth_denied_total", "",
                        {{"service", "muster.v1.Registry"},
                         {"method", "HeartbeatStream"},
                         {"code", "permission_denied"}})
            .Value() == 4);
}

TEST_CASE("A stream over its caller's request rate ends RESOURCE_EXHAUSTED",
          "[integration][heartbeat_stream][auth]") {
  registry::AuthOptions options = AuthWorld::DefaultOptions();
  options.token_rate = 10;
  options.token_burst = 1000;
  AuthWorld world(options);
  TestServer& server = world.server();
  const std::string writer = MakeToken(server, [] {
    registry::Tokens::Spec spec;
    spec.name = "prod-writer";
    spec.role = registry::TokenRole::kWrite;
    spec.realms = {"prod"};
    return spec;
  }());
  // Each heartbeat takes one request of the writer's bucket of 1,000.
  std::vector<HeartbeatRequest> beats(
      600, Beat("prod", "web", "1", world.web_incarnation()));
  std::unique_ptr<grpc::ClientContext> context = BearerContext(writer);
  std::unique_ptr<Stream> stream =
      server.registry().HeartbeatStream(context.get());
  REQUIRE(stream->Write(Message(1, beats)));
  HeartbeatStreamResponse response;
  REQUIRE(stream->Read(&response));
  CHECK(response.results_size() == 600);
  CHECK(response.results(599).code() == 0);
  stream->Write(Message(2, beats));
  CHECK_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  CHECK(status.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK_THAT(status.error_message(), Catch::Contains("\"prod-writer\""));
  const auto& trailers = context->GetServerTrailingMetadata();
  CHECK(trailers.find("muster-retry-after-ms") != trailers.end());
}

TEST_CASE("A malformed message ends the stream with INVALID_ARGUMENT",
          "[integration][heartbeat_stream]") {
  TestServer server;
  const uint64_t a = MustRegister(server, "default", MakeInstance("web", "a"));
  for (int count : {0, 1001}) {
    INFO(count << " heartbeats");
    std::unique_ptr<grpc::ClientContext> context = Context();
    std::unique_ptr<Stream> stream =
        server.registry().HeartbeatStream(context.get());
    // A good message first is answered.
    REQUIRE(stream->Write(Message(1, {Beat("", "web", "a", a)})));
    HeartbeatStreamResponse response;
    REQUIRE(stream->Read(&response));
    CHECK(response.sequence() == 1);
    stream->Write(Message(
        2, std::vector<HeartbeatRequest>(count, Beat("", "web", "a", a))));
    CHECK_FALSE(stream->Read(&response));
    grpc::Status status = stream->Finish();
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::StartsWith("heartbeats: "));
    CHECK_THAT(status.error_message(), Catch::Contains("sequence 2"));
  }
  // A body that does not parse is not taken for the end of the stream.
  const grpc::Status garbage =
      CallRaw(server, "/muster.v1.Registry/HeartbeatStream", "\xff\xff\xff");
  CHECK(garbage.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(garbage.error_message() ==
        "the request body is not a valid muster.v1.HeartbeatStreamRequest "
        "message");
}

TEST_CASE("Shutdown ends an open HeartbeatStream with UNAVAILABLE",
          "[integration][heartbeat_stream]") {
  TestServer server;
  const uint64_t a = MustRegister(server, "default", MakeInstance("web", "a"));
  std::shared_ptr<grpc::Channel> channel = server.channel();
  std::unique_ptr<v1::Registry::Stub> stub = v1::Registry::NewStub(channel);
  std::unique_ptr<grpc::ClientContext> context = Context();
  std::unique_ptr<Stream> stream = stub->HeartbeatStream(context.get());
  REQUIRE(stream->Write(Message(1, {Beat("", "web", "a", a)})));
  HeartbeatStreamResponse response;
  REQUIRE(stream->Read(&response));
  // The server stops (waiting at most a second for calls) and starts
  // again: the open stream is ended by musterd, not cut off at the grace.
  server.Restart();
  CHECK_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  CHECK(status.error_code() == grpc::UNAVAILABLE);
  CHECK(status.error_message() == "musterd is shutting down");
}

}  // namespace muster::testing
