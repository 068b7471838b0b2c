// The resolver against a scripted in-process Registry: the watch resume
// rule (from_revision after a broken stream, 0 after OUT_OF_RANGE, after
// RESOURCE_EXHAUSTED), staleness on a fake clock, Pick's reasons,
// subscriptions and outlier ejection through Report.

#include "muster/client/resolver.h"

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "muster/client/client.h"
#include "muster/v1/registry.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/unit/client/fake_clock.h"

namespace muster::client {
namespace {

using std::chrono::milliseconds;
using Writer = grpc::ServerWriter<v1::WatchResponse>;

using testing::FakeClock;

using ::muster::testing::Eventually;

v1::Instance Instance(const std::string& id, uint32_t port,
                      v1::Health health = v1::HEALTH_PASSING,
                      v1::AdminState admin = v1::ADMIN_STATE_ENABLED) {
  v1::Instance instance;
  instance.set_realm("default");
  instance.set_service("users");
  instance.set_id(id);
  instance.set_address("127.0.0.1");
  instance.set_port(port);
  instance.set_health(health);
  instance.set_admin_state(admin);
  return instance;
}

v1::WatchResponse Snapshot(const std::vector<v1::Instance>& instances) {
  v1::WatchResponse response;
  response.set_kind(v1::WatchResponse::SNAPSHOT);
  for (const v1::Instance& instance : instances) {
    v1::Event* event = response.add_events();
    event->set_type(v1::Event::PUT);
    event->set_cause(v1::Event::SNAPSHOT);
    *event->mutable_instance() = instance;
  }
  return response;
}

v1::WatchResponse Message(v1::WatchResponse::Kind kind, uint64_t revision) {
  v1::WatchResponse response;
  response.set_kind(kind);
  response.set_revision(revision);
  return response;
}

v1::WatchResponse Events(uint64_t revision, v1::Event::Type type,
                         const v1::Instance& instance) {
  v1::WatchResponse response = Message(v1::WatchResponse::EVENTS, revision);
  v1::Event* event = response.add_events();
  event->set_revision(revision);
  event->set_type(type);
  *event->mutable_instance() = instance;
  return response;
}

// A Registry whose Watch streams follow a script: each stream runs the
// next step (the last one again when the script is used up) and the
// requests are recorded.
class ScriptedRegistry final : public v1::Registry::Service {
 public:
  using Step = std::function<grpc::Status(grpc::ServerContext*, Writer*)>;

  void Add(Step step) {
    std::lock_guard<std::mutex> lock(mu_);
    steps_.push_back(std::move(step));
  }
  std::vector<uint64_t> from_revisions() {
    std::lock_guard<std::mutex> lock(mu_);
    return from_revisions_;
  }

  grpc::Status Watch(grpc::ServerContext* context,
                     const v1::WatchRequest* request, Writer* writer) override {
    Step step;
    {
      std::lock_guard<std::mutex> lock(mu_);
      from_revisions_.push_back(request->from_revision());
      if (steps_.empty())
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no script");
      step = steps_.front();
      if (steps_.size() > 1) steps_.pop_front();
    }
    return step(context, writer);
  }

 private:
  std::mutex mu_;
  std::deque<Step> steps_;
  std::vector<uint64_t> from_revisions_;
};

// Writes `messages`, then ends with `status`.
ScriptedRegistry::Step Send(std::vector<v1::WatchResponse> messages,
                            grpc::Status status) {
  return [messages, status](grpc::ServerContext*, Writer* writer) {
    for (const v1::WatchResponse& message : messages) writer->Write(message);
    return status;
  };
}

// Writes `messages`, then keeps the stream open until the client leaves.
ScriptedRegistry::Step SendAndHold(std::vector<v1::WatchResponse> messages) {
  return [messages](grpc::ServerContext* context, Writer* writer) {
    for (const v1::WatchResponse& message : messages) writer->Write(message);
    while (!context->IsCancelled()) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return grpc::Status::CANCELLED;
  };
}

const grpc::Status kBroken(grpc::StatusCode::UNAVAILABLE, "stream broken");

struct Fixture {
  Fixture() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&registry);
    server = builder.BuildAndStart();
    address = "127.0.0.1:" + std::to_string(port);
  }
  ~Fixture() { server->Shutdown(std::chrono::system_clock::now()); }

  std::shared_ptr<Resolver> MakeResolver(ResolverOptions options = {}) {
    ClientOptions client_options;
    client_options.addresses = {address};
    client_options.realm = "default";
    std::shared_ptr<Client> client = Client::Create(client_options);
    REQUIRE(client != nullptr);
    return Resolver::Create(client, std::move(options));
  }

  ScriptedRegistry registry;
  std::unique_ptr<grpc::Server> server;
  std::string address;
};

std::set<std::string> Ids(const std::vector<Endpoint>& endpoints) {
  std::set<std::string> ids;
  for (const Endpoint& endpoint : endpoints) ids.insert(endpoint.id);
  return ids;
}

TEST_CASE(
    "the resolver resumes a broken watch after the last revision and "
    "lists again after OUT_OF_RANGE",
    "[client][resolver]") {
  Fixture fixture;
  fixture.registry.Add(Send({Snapshot({Instance("a", 1001)}),
                             Message(v1::WatchResponse::SNAPSHOT_END, 5),
                             Events(6, v1::Event::PUT, Instance("b", 1002))},
                            kBroken));
  fixture.registry.Add(
      Send({}, grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "compacted")));
  fixture.registry.Add(
      SendAndHold({Snapshot({Instance("c", 1003)}),
                   Message(v1::WatchResponse::SNAPSHOT_END, 20)}));
  std::shared_ptr<Resolver> resolver = fixture.MakeResolver();

  REQUIRE(resolver->View("users").synced);
  // The fresh snapshot replaced the cache (a and b are gone).
  REQUIRE(Eventually([&] {
    return Ids(resolver->View("users").routable) == std::set<std::string>{"c"};
  }));
  CHECK(resolver->View("users").revision == 20);
  CHECK(resolver->View("users").connected);
  CHECK(fixture.registry.from_revisions() == std::vector<uint64_t>{0, 7, 0});
}

TEST_CASE(
    "the resolver reconnects after RESOURCE_EXHAUSTED from the next "
    "revision, keeping its cache",
    "[client][resolver]") {
  Fixture fixture;
  fixture.registry.Add(
      Send({Snapshot({Instance("a", 1001)}),
            Message(v1::WatchResponse::SNAPSHOT_END, 5),
            Message(v1::WatchResponse::PROGRESS, 9)},
           grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too slow")));
  fixture.registry.Add(
      SendAndHold({Events(10, v1::Event::DELETE, Instance("a", 1001)),
                   Events(11, v1::Event::PUT, Instance("b", 1002))}));
  std::shared_ptr<Resolver> resolver = fixture.MakeResolver();
  REQUIRE(Eventually([&] {
    return Ids(resolver->View("users").routable) == std::set<std::string>{"b"};
  }));
  CHECK(resolver->View("users").revision == 11);
  CHECK(fixture.registry.from_revisions() == std::vector<uint64_t>{0, 10});
}

TEST_CASE(
    "the resolver serves its last set while musterd is away and says "
    "how stale it is",
    "[client][resolver]") {
  // Declared before the server, which may run a handler until it is gone.
  std::mutex mu;
  bool back = false;
  Fixture fixture;
  fixture.registry.Add(Send({Snapshot({Instance("a", 1001)}),
                             Message(v1::WatchResponse::SNAPSHOT_END, 5)},
                            kBroken));
  // Streams fail until the test says musterd is back.
  fixture.registry.Add([&](grpc::ServerContext* context, Writer* writer) {
    std::unique_lock<std::mutex> lock(mu);
    if (!back) return kBroken;
    lock.unlock();
    return SendAndHold({Message(v1::WatchResponse::PROGRESS, 5)})(context,
                                                                  writer);
  });
  auto clock = std::make_shared<FakeClock>();
  ResolverOptions options;
  options.clock = clock;
  std::shared_ptr<Resolver> resolver = fixture.MakeResolver(options);

  REQUIRE(resolver->View("users").synced);
  REQUIRE(Eventually([&] { return !resolver->View("users").connected; }));
  clock->Advance(std::chrono::seconds(3));
  ServiceView view = resolver->View("users");
  CHECK(view.staleness == milliseconds(3000));
  CHECK(Ids(view.routable) == std::set<std::string>{"a"});
  std::optional<Endpoint> picked = resolver->Pick("users", {});
  REQUIRE(picked.has_value());
  CHECK(picked->id == "a");

  {
    std::lock_guard<std::mutex> lock(mu);
    back = true;
  }
  REQUIRE(Eventually([&] { return resolver->View("users").connected; }));
  CHECK(resolver->View("users").staleness == milliseconds(0));
}

TEST_CASE("Pick says why it found nothing", "[client][resolver]") {
  Fixture fixture;
  fixture.registry.Add(
      SendAndHold({Snapshot({Instance("a", 1001)}),
                   Message(v1::WatchResponse::SNAPSHOT_END, 3)}));
  std::shared_ptr<Resolver> resolver = fixture.MakeResolver();
  std::string why;
  CHECK_FALSE(resolver->Pick("users", {"a"}, &why).has_value());
  CHECK(why == "every routable instance of users was excluded");
  CHECK_FALSE(resolver->Pick("", {}, &why).has_value());
  CHECK(why == "service: must not be empty");

  // Only a CRITICAL instance.
  Fixture empty;
  empty.registry.Add(
      SendAndHold({Snapshot({Instance("x", 1001, v1::HEALTH_CRITICAL)}),
                   Message(v1::WatchResponse::SNAPSHOT_END, 3)}));
  CHECK_FALSE(empty.MakeResolver()->Pick("users", {}, &why).has_value());
  CHECK(why == "no routable instance of users");

  // Nothing listens: the first Pick waits first_sync_timeout.
  Fixture gone;
  gone.server->Shutdown(std::chrono::system_clock::now());
  ResolverOptions options;
  options.first_sync_timeout = milliseconds(300);
  CHECK_FALSE(gone.MakeResolver(options)->Pick("users", {}, &why).has_value());
  CHECK_THAT(why, Catch::StartsWith(
                      "musterd unreachable and nothing cached for users"));
}

TEST_CASE("Pick fails at once when musterd refuses the watch",
          "[client][resolver]") {
  Fixture fixture;
  fixture.registry.Add(Send(
      {}, grpc::Status(grpc::StatusCode::NOT_FOUND, "realm \"x\" not found")));
  std::string why;
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(fixture.MakeResolver()->Pick("users", {}, &why).has_value());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  CHECK(why == "cannot watch users: NOT_FOUND: realm \"x\" not found");
}

TEST_CASE("subscribers hear of changes of the routable set only",
          "[client][resolver]") {
  // Declared before the server, which may run a handler until it is gone.
  std::mutex mu;
  std::condition_variable cv;
  int step = 0;
  Fixture fixture;
  // The test releases the events one at a time.
  auto wait_step = [&](int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return step >= n; });
  };
  fixture.registry.Add([&](grpc::ServerContext* context, Writer* writer) {
    writer->Write(Snapshot({Instance("a", 1001), Instance("b", 1002)}));
    writer->Write(Message(v1::WatchResponse::SNAPSHOT_END, 3));
    wait_step(1);
    // Health PASSING -> WARNING: still routable, same endpoints.
    writer->Write(
        Events(4, v1::Event::PUT, Instance("a", 1001, v1::HEALTH_WARNING)));
    wait_step(2);
    writer->Write(Events(
        5, v1::Event::PUT,
        Instance("b", 1002, v1::HEALTH_PASSING, v1::ADMIN_STATE_DRAINING)));
    while (!context->IsCancelled())
      std::this_thread::sleep_for(milliseconds(10));
    return grpc::Status::CANCELLED;
  });
  std::shared_ptr<Resolver> resolver = fixture.MakeResolver();
  REQUIRE(resolver->View("users").synced);

  std::mutex calls_mu;
  std::vector<std::set<std::string>> calls;
  const uint64_t id =
      resolver->Subscribe("users", [&](const std::vector<Endpoint>& endpoints) {
        std::lock_guard<std::mutex> lock(calls_mu);
        calls.push_back(Ids(endpoints));
      });
  auto call_count = [&] {
    std::lock_guard<std::mutex> lock(calls_mu);
    return calls.size();
  };
  CHECK(call_count() == 1);  // at once: synced
  auto release = [&](int n) {
    std::lock_guard<std::mutex> lock(mu);
    step = n;
    cv.notify_all();
  };
  release(1);
  REQUIRE(Eventually([&] { return resolver->View("users").revision == 4; }));
  release(2);
  REQUIRE(Eventually([&] { return call_count() == 2; }));
  {
    std::lock_guard<std::mutex> lock(calls_mu);
    CHECK(calls[0] == std::set<std::string>{"a", "b"});
    CHECK(calls[1] == std::set<std::string>{"a"});
  }
  resolver->Unsubscribe(id);
  // The drained instance is never picked again.
  for (int i = 0; i < 10; ++i) CHECK(resolver->Pick("users", {})->id == "a");
}

TEST_CASE("reported failures eject an instance from picking",
          "[client][resolver]") {
  Fixture fixture;
  fixture.registry.Add(
      SendAndHold({Snapshot({Instance("a", 1001), Instance("b", 1002),
                             Instance("c", 1003), Instance("d", 1004)}),
                   Message(v1::WatchResponse::SNAPSHOT_END, 3)}));
  auto clock = std::make_shared<FakeClock>();
  ResolverOptions options;
  options.clock = clock;
  options.ejection_failures = 2;
  options.ejection_base_time = milliseconds(1000);
  std::shared_ptr<Resolver> resolver = fixture.MakeResolver(options);
  std::optional<Endpoint> a = resolver->Pick("users", {});
  REQUIRE(a.has_value());
  REQUIRE(a->id == "a");
  resolver->Report(*a, false);
  resolver->Report(*a, false);
  std::set<std::string> picked;
  for (int i = 0; i < 12; ++i) picked.insert(resolver->Pick("users", {})->id);
  CHECK(picked == std::set<std::string>{"b", "c", "d"});
  // Still routable, only skipped.
  CHECK(resolver->View("users").routable.size() == 4);
  clock->Advance(milliseconds(1000));
  picked.clear();
  for (int i = 0; i < 12; ++i) picked.insert(resolver->Pick("users", {})->id);
  CHECK(picked.count("a") == 1);
}

}  // namespace
}  // namespace muster::client
