// Registration and HealthServer against a real musterd: heartbeats keep a
// TTL instance passing, an operator's deregistration or a daemon crash
// are survived, shutdown drains before it deregisters, and musterd's
// checker probes the health endpoint.

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "muster/client/client.h"
#include "muster/client/health_server.h"
#include "muster/client/registration.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "testkit/event_log.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::client {
namespace {

using std::chrono::milliseconds;
using testing::DaemonProcess;
using testing::TempDir;

using ::muster::testing::Eventually;

// A musterd in a temporary directory, and a Client of it.
struct Daemon {
  Daemon() : daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log")) {}

  bool Start() {
    if (!daemon.Start()) return false;
    stub = v1::Registry::NewStub(daemon.channel());
    return true;
  }

  std::shared_ptr<Client> MakeClient(std::vector<std::string> addresses = {},
                                     const std::string& realm = "default") {
    ClientOptions options;
    options.addresses = addresses.empty()
                            ? std::vector<std::string>{daemon.address()}
                            : addresses;
    options.realm = realm;
    options.call_timeout = milliseconds(2000);
    return Client::Create(options);
  }

  // The instance as musterd has it; status NOT_FOUND when gone.
  grpc::Status Get(const std::string& service, const std::string& id,
                   v1::Instance* instance) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::GetInstanceRequest request;
    request.set_realm("default");
    request.set_service(service);
    request.set_id(id);
    return stub->GetInstance(&context, request, instance);
  }

  // Every retained event of one instance.
  std::vector<v1::Event> Events(const std::string& service,
                                const std::string& id) {
    grpc::ClientContext context;
    v1::ListEventsRequest request;
    request.set_realm("default");
    request.set_service(service);
    request.set_id(id);
    request.set_limit(1000);
    v1::ListEventsResponse response;
    const grpc::Status status = stub->ListEvents(&context, request, &response);
    REQUIRE(status.ok());
    return {response.events().begin(), response.events().end()};
  }

  TempDir dir;
  DaemonProcess daemon;
  std::unique_ptr<v1::Registry::Stub> stub;
};

RegistrationOptions TtlOptions(const std::string& service) {
  RegistrationOptions options;
  options.service = service;
  options.address = "127.0.0.1";
  options.port = 9000;
  options.ttl = milliseconds(2000);
  options.initial_backoff = milliseconds(50);
  options.max_backoff = milliseconds(500);
  options.drain_grace = milliseconds(0);
  return options;
}

std::string HealthOf(Daemon& d, const std::string& service,
                     const std::string& id) {
  v1::Instance instance;
  if (!d.Get(service, id, &instance).ok()) return "gone";
  return v1::Health_Name(instance.health());
}

TEST_CASE("a TTL registration stays passing over several TTLs",
          "[client][e2e][registration]") {
  Daemon d;
  REQUIRE(d.Start());
  auto client = d.MakeClient();
  REQUIRE(client != nullptr);
  grpc::Status status;
  auto registration =
      Registration::Start(client, TtlOptions("identity"), &status);
  REQUIRE(registration != nullptr);
  REQUIRE(registration->WaitRegistered(milliseconds(10000)));
  const RegistrationStatus first = registration->status();
  CHECK(first.id == "127.0.0.1:9000");
  CHECK(first.incarnation > 0);
  CHECK(first.registrations == 1);

  REQUIRE(Eventually(
      [&] { return HealthOf(d, "identity", first.id) == "HEALTH_PASSING"; },
      milliseconds(5000)));
  // Three TTLs: never anything but PASSING, the same incarnation.
  const auto until = std::chrono::steady_clock::now() + milliseconds(6000);
  while (std::chrono::steady_clock::now() < until) {
    v1::Instance instance;
    REQUIRE(d.Get("identity", first.id, &instance).ok());
    REQUIRE(instance.health() == v1::HEALTH_PASSING);
    REQUIRE(instance.create_revision() == first.incarnation);
    std::this_thread::sleep_for(milliseconds(200));
  }
  CHECK(registration->status().health == "PASSING");
  CHECK(registration->status().state == RegistrationState::kRegistered);
  CHECK(registration->Shutdown().ok());
  v1::Instance gone;
  CHECK(d.Get("identity", first.id, &gone).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("an operator's deregistration is followed by a new incarnation",
          "[client][e2e][registration]") {
  Daemon d;
  REQUIRE(d.Start());
  auto registration =
      Registration::Start(d.MakeClient(), TtlOptions("identity"));
  REQUIRE(registration != nullptr);
  REQUIRE(registration->WaitRegistered(milliseconds(10000)));
  const RegistrationStatus first = registration->status();

  {
    grpc::ClientContext context;
    v1::DeregisterRequest request;
    request.set_realm("default");
    request.set_service("identity");
    request.set_id(first.id);
    v1::DeregisterResponse response;
    REQUIRE(d.stub->Deregister(&context, request, &response).ok());
  }
  REQUIRE(Eventually(
      [&] {
        const RegistrationStatus now = registration->status();
        return now.registrations == 2 &&
               now.state == RegistrationState::kRegistered;
      },
      milliseconds(8000)));
  const RegistrationStatus second = registration->status();
  CHECK(second.incarnation != first.incarnation);
  v1::Instance instance;
  REQUIRE(d.Get("identity", first.id, &instance).ok());
  CHECK(instance.create_revision() == second.incarnation);
}

TEST_CASE("a registration survives musterd killed and restarted",
          "[client][e2e][registration]") {
  Daemon d;
  REQUIRE(d.Start());
  auto registration =
      Registration::Start(d.MakeClient(), TtlOptions("identity"));
  REQUIRE(registration != nullptr);
  REQUIRE(registration->WaitRegistered(milliseconds(10000)));
  const RegistrationStatus first = registration->status();

  d.daemon.Kill();
  REQUIRE(Eventually(
      [&] {
        return registration->status().state == RegistrationState::kRetrying;
      },
      milliseconds(8000)));
  CHECK_FALSE(registration->status().last_error.empty());

  d.daemon.KeepPorts();
  REQUIRE(d.Start());
  REQUIRE(Eventually(
      [&] {
        return registration->status().state == RegistrationState::kRegistered;
      },
      milliseconds(10000)));
  const RegistrationStatus after = registration->status();
  CHECK(after.incarnation == first.incarnation);
  CHECK(after.registrations == 1);
  CHECK(after.last_error.empty());
  v1::Instance instance;
  REQUIRE(d.Get("identity", first.id, &instance).ok());
  CHECK(instance.create_revision() == first.incarnation);
  for (const v1::Event& event : d.Events("identity", first.id)) {
    CHECK(event.type() != v1::Event::DELETE);
  }
}

TEST_CASE("shutdown drains then waits the grace before it deregisters",
          "[client][e2e][registration]") {
  Daemon d;
  REQUIRE(d.Start());
  testing::EventLog log(d.daemon.channel(), "default");
  auto health = HealthServer::Start({"127.0.0.1", 0, nullptr});
  REQUIRE(health != nullptr);
  RegistrationOptions options = TtlOptions("identity");
  options.ttl = milliseconds(1000);
  options.health_server = health.get();
  auto registration = Registration::Start(d.MakeClient(), options);
  REQUIRE(registration != nullptr);
  REQUIRE(registration->WaitRegistered(milliseconds(10000)));
  REQUIRE(Eventually(
      [&] {
        return HealthOf(d, "identity", "127.0.0.1:9000") == "HEALTH_PASSING";
      },
      milliseconds(5000)));

  // A grace longer than the TTL: heartbeats go on while draining, and the
  // state stays "draining" through them.
  grpc::Status status;
  std::thread shutdown(
      [&] { status = registration->Shutdown(milliseconds(2000)); });
  CHECK(Eventually(
      [&] {
        return registration->status().state == RegistrationState::kDraining;
      },
      milliseconds(2000)));
  for (int i = 0; i < 10; ++i) {
    const RegistrationState state = registration->status().state;
    CHECK((state == RegistrationState::kDraining ||
           state == RegistrationState::kStopped));
    std::this_thread::sleep_for(milliseconds(100));
  }
  shutdown.join();
  CHECK(status.ok());
  CHECK(registration->status().state == RegistrationState::kStopped);
  CHECK(registration->Shutdown().ok());  // the first result again

  // /readyz turned 503 with the drain.
  {
    httplib::Client http("127.0.0.1", health->port());
    auto result = http.Get("/readyz");
    REQUIRE(result);
    CHECK(result->status == 503);
  }

  REQUIRE(log.WaitFor(
      [](const std::vector<v1::Event>& events) {
        return !events.empty() &&
               events.back().cause() == v1::Event::DEREGISTERED;
      },
      10));
  const std::vector<v1::Event> events = log.events();
  const v1::Event* drained = nullptr;
  const v1::Event* deregistered = nullptr;
  for (const v1::Event& event : events) {
    if (event.cause() == v1::Event::ADMIN_CHANGED) {
      CHECK(event.instance().admin_state() == v1::ADMIN_STATE_DRAINING);
      CHECK(event.instance().admin_reason() == "shutting down");
      drained = &event;
    }
    if (drained != nullptr && deregistered == nullptr) {
      // Nothing turned the draining instance CRITICAL.
      CHECK(event.instance().health() != v1::HEALTH_CRITICAL);
    }
    if (event.cause() == v1::Event::DEREGISTERED) {
      CHECK(drained != nullptr);  // drained first
      deregistered = &event;
    }
  }
  REQUIRE(drained != nullptr);
  REQUIRE(deregistered != nullptr);
  CHECK(deregistered->revision() > drained->revision());
  const int64_t gap_ms =
      (deregistered->time().seconds() - drained->time().seconds()) * 1000 +
      (deregistered->time().nanos() - drained->time().nanos()) / 1000000;
  CHECK(gap_ms >= 2000);
}

TEST_CASE("musterd's checker probes the health server of an HTTP check",
          "[client][e2e][registration]") {
  Daemon d;
  REQUIRE(d.Start());
  auto health = HealthServer::Start({"127.0.0.1", 0, nullptr});
  REQUIRE(health != nullptr);
  RegistrationOptions options = TtlOptions("web");
  options.check = CheckType::kHttp;
  options.http_url = health->url("/readyz");
  options.interval = milliseconds(1000);
  options.ttl = milliseconds(1000);  // existence checks every 500 ms
  options.heartbeat_fraction = 0.5;
  auto registration = Registration::Start(d.MakeClient(), options);
  REQUIRE(registration != nullptr);
  REQUIRE(registration->WaitRegistered(milliseconds(10000)));
  const std::string id = registration->status().id;

  REQUIRE(Eventually([&] { return HealthOf(d, "web", id) == "HEALTH_PASSING"; },
                     milliseconds(8000)));
  CHECK(Eventually([&] { return registration->status().health == "PASSING"; },
                   milliseconds(3000)));

  health->SetReady(false);  // /readyz answers 503
  REQUIRE(
      Eventually([&] { return HealthOf(d, "web", id) == "HEALTH_CRITICAL"; },
                 milliseconds(10000)));
  CHECK(Eventually([&] { return registration->status().health == "CRITICAL"; },
                   milliseconds(3000)));
  // A CRITICAL instance is still registered: no re-registration.
  CHECK(registration->status().registrations == 1);
}

TEST_CASE("a registration musterd refuses fails at once",
          "[client][e2e][registration]") {
  Daemon d;
  REQUIRE(d.Start());
  auto client = d.MakeClient({}, "no-such-realm");
  REQUIRE(client != nullptr);
  auto registration = Registration::Start(client, TtlOptions("identity"));
  REQUIRE(registration != nullptr);
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(registration->WaitRegistered(milliseconds(10000)));
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(5000));
  const RegistrationStatus status = registration->status();
  CHECK(status.state == RegistrationState::kFailed);
  CHECK_THAT(status.last_error, Catch::StartsWith("Register: NOT_FOUND"));
  CHECK(status.registrations == 0);
  CHECK(registration->Shutdown().ok());
}

TEST_CASE("a registration fails over from a dead daemon address",
          "[client][e2e][registration]") {
  Daemon d;
  REQUIRE(d.Start());
  const std::string dead = "127.0.0.1:" + std::to_string(testing::FreePort());
  auto client = d.MakeClient({dead, d.daemon.address()});
  REQUIRE(client != nullptr);
  auto registration = Registration::Start(client, TtlOptions("identity"));
  REQUIRE(registration != nullptr);
  REQUIRE(registration->WaitRegistered(milliseconds(10000)));
  CHECK(client->current_address() == d.daemon.address());
  v1::Instance instance;
  REQUIRE(d.Get("identity", "127.0.0.1:9000", &instance).ok());
  CHECK(instance.create_revision() == registration->status().incarnation);
}

}  // namespace
}  // namespace muster::client
