// The health checker inside the real musterd: real HTTP targets and TTL
// heartbeats on 127.0.0.1, verdicts and evictions seen through Watch.
// deregister_after cannot be shorter than one minute, so the eviction
// cases each take a little over a minute of real time; they wait for
// events, never for a fixed time.

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "testkit/event_log.h"
#include "tests/support/http_probe_target.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

using muster::v1::Event;
using muster::v1::Health;

std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(seconds));
  return context;
}

// The live (non-snapshot) events about one instance id.
std::vector<Event> About(const std::vector<Event>& events,
                         const std::string& id) {
  std::vector<Event> out;
  for (const Event& event : events) {
    if (event.cause() != Event::SNAPSHOT && event.instance().id() == id)
      out.push_back(event);
  }
  return out;
}

bool HasEviction(const std::vector<Event>& events, const std::string& id) {
  for (const Event& event : About(events, id)) {
    if (event.type() == Event::DELETE && event.cause() == Event::EVICTED)
      return true;
  }
  return false;
}

// The last health an instance's events gave it.
Health LastHealth(const std::vector<Event>& events, const std::string& id) {
  std::vector<Event> mine = About(events, id);
  return mine.empty() ? muster::v1::HEALTH_UNSPECIFIED
                      : mine.back().instance().health();
}

void SetDuration(google::protobuf::Duration* duration, int64_t millis) {
  duration->set_seconds(millis / 1000);
  duration->set_nanos(static_cast<int32_t>((millis % 1000) * 1000000));
}

muster::v1::RegisterRequest HttpInstance(const std::string& realm,
                                         const std::string& id,
                                         const std::string& url) {
  muster::v1::RegisterRequest request;
  request.set_realm(realm);
  muster::v1::Instance* instance = request.mutable_instance();
  instance->set_service("web");
  instance->set_id(id);
  instance->set_address("127.0.0.1");
  instance->set_port(8080);
  muster::v1::CheckSpec* check = instance->mutable_check();
  check->set_kind(muster::v1::CHECK_KIND_HTTP);
  check->set_http_url(url);
  SetDuration(check->mutable_interval(), 1000);
  SetDuration(check->mutable_timeout(), 500);
  check->set_healthy_threshold(1);
  check->set_unhealthy_threshold(2);
  SetDuration(check->mutable_deregister_after(), 60000);
  return request;
}

muster::v1::RegisterResponse Register(
    muster::v1::Registry::Stub& stub,
    const muster::v1::RegisterRequest& request) {
  muster::v1::RegisterResponse response;
  grpc::Status status = stub.Register(Context().get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response;
}

// The value of one unlabelled metric on /metrics, or -1 when it is absent.
double MetricValue(int http_port, const std::string& name) {
  httplib::Client client("127.0.0.1", http_port);
  httplib::Result result = client.Get("/metrics");
  REQUIRE(result);
  REQUIRE(result->status == 200);
  const std::string prefix = "\n" + name + " ";
  const size_t at = result->body.find(prefix);
  if (at == std::string::npos) return -1;
  return std::stod(result->body.substr(at + prefix.size()));
}

// Polls /metrics until `name` has `value`; false after `seconds`.
bool WaitForMetric(int http_port, const std::string& name, double value,
                   int seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (MetricValue(http_port, name) != value) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

struct Daemon {
  TempDir dir;
  DaemonProcess process{MUSTERD_PATH, dir.path() + "/data",
                        dir.path() + "/musterd.log"};
  Daemon() { REQUIRE(process.Start()); }
};

constexpr int kEvictWaitSeconds = 120;

}  // namespace

TEST_CASE(
    "an HTTP-checked instance passes then fails and is evicted in watch order",
    "[e2e][checker]") {
  Daemon daemon;
  auto target = HttpProbeTarget::Start();
  REQUIRE(target.ok());
  auto stub = muster::v1::Registry::NewStub(daemon.process.channel());
  EventLog log(daemon.process.channel(), "default");

  Register(*stub, HttpInstance("default", "web-1", (*target)->Url()));
  REQUIRE(log.WaitFor(
      [](const auto& events) {
        return LastHealth(events, "web-1") == muster::v1::HEALTH_PASSING;
      },
      20));

  (*target)->Stop();  // connection refused from now on
  REQUIRE(log.WaitFor(
      [](const auto& events) { return HasEviction(events, "web-1"); },
      kEvictWaitSeconds));

  std::vector<Event> mine = About(log.events(), "web-1");
  REQUIRE(mine.size() == 4);
  CHECK(mine[0].cause() == Event::REGISTERED);
  CHECK(mine[0].instance().health() == muster::v1::HEALTH_STARTING);
  CHECK(mine[1].cause() == Event::HEALTH_CHANGED);
  CHECK(mine[1].instance().health() == muster::v1::HEALTH_PASSING);
  CHECK(mine[2].cause() == Event::HEALTH_CHANGED);
  CHECK(mine[2].instance().health() == muster::v1::HEALTH_CRITICAL);
  CHECK(mine[3].type() == Event::DELETE);
  CHECK(mine[3].cause() == Event::EVICTED);
  CHECK_THAT(mine[3].reason(), Catch::StartsWith("evicted: critical for"));
  CHECK_THAT(mine[3].reason(), Catch::Contains("connection refused"));
  for (size_t i = 1; i < mine.size(); ++i)
    CHECK(mine[i].revision() > mine[i - 1].revision());
  // Critical for at least deregister_after before the eviction.
  CHECK(mine[3].time().seconds() - mine[2].time().seconds() >= 59);

  muster::v1::GetInstanceRequest get;
  get.set_service("web");
  get.set_id("web-1");
  muster::v1::Instance gone;
  CHECK(stub->GetInstance(Context().get(), get, &gone).error_code() ==
        grpc::NOT_FOUND);
  CHECK(MetricValue(daemon.process.http_port(),
                    "muster_checker_evictions_total") == 1);
}

TEST_CASE("a TTL instance that stops heartbeating goes critical and is evicted",
          "[e2e][checker]") {
  Daemon daemon;
  auto stub = muster::v1::Registry::NewStub(daemon.process.channel());
  EventLog log(daemon.process.channel(), "default");

  muster::v1::RegisterRequest request;
  muster::v1::Instance* instance = request.mutable_instance();
  instance->set_service("batch");
  instance->set_id("ttl-1");
  instance->set_address("127.0.0.1");
  instance->set_port(9000);
  instance->mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
  SetDuration(instance->mutable_check()->mutable_ttl(), 2000);
  SetDuration(instance->mutable_check()->mutable_deregister_after(), 60000);
  const muster::v1::RegisterResponse registered = Register(*stub, request);

  muster::v1::HeartbeatRequest heartbeat;
  heartbeat.set_service("batch");
  heartbeat.set_id("ttl-1");
  heartbeat.set_incarnation(registered.instance().create_revision());
  muster::v1::HeartbeatResponse answer;
  REQUIRE(stub->Heartbeat(Context().get(), heartbeat, &answer).ok());
  REQUIRE(log.WaitFor(
      [](const auto& events) {
        return LastHealth(events, "ttl-1") == muster::v1::HEALTH_PASSING;
      },
      20));
  // Heartbeats keep it passing and are not revisions of their own.
  const size_t events_before = About(log.events(), "ttl-1").size();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(stub->Heartbeat(Context().get(), heartbeat, &answer).ok());
    CHECK(answer.health() == muster::v1::HEALTH_PASSING);
  }
  CHECK(About(log.events(), "ttl-1").size() == events_before);

  // No more heartbeats.
  REQUIRE(log.WaitFor(
      [](const auto& events) { return HasEviction(events, "ttl-1"); },
      kEvictWaitSeconds));
  std::vector<Event> mine = About(log.events(), "ttl-1");
  REQUIRE(mine.size() == 4);
  CHECK(mine[2].instance().health() == muster::v1::HEALTH_CRITICAL);
  CHECK_THAT(mine[3].reason(), Catch::StartsWith("evicted: critical for"));

  // A heartbeat for the evicted incarnation is refused.
  CHECK(stub->Heartbeat(Context().get(), heartbeat, &answer).error_code() ==
        grpc::NOT_FOUND);
}

TEST_CASE(
    "eviction protection holds back a realm whose targets all die until they "
    "return",
    "[e2e][checker]") {
  Daemon daemon;
  auto stub = muster::v1::Registry::NewStub(daemon.process.channel());
  muster::v1::CreateRealmRequest create;
  create.set_name("fleet");
  muster::v1::Realm realm;
  REQUIRE(muster::v1::Realms::NewStub(daemon.process.channel())
              ->CreateRealm(Context().get(), create, &realm)
              .ok());
  EventLog log(daemon.process.channel(), "fleet");
  std::vector<std::unique_ptr<HttpProbeTarget>> targets;
  for (int i = 0; i < 10; ++i) {
    auto target = HttpProbeTarget::Start();
    REQUIRE(target.ok());
    targets.push_back(std::move(*target));
    Register(*stub, HttpInstance("fleet", "web-" + std::to_string(i),
                                 targets.back()->Url()));
  }
  auto all_are = [](Health health) {
    return [health](const std::vector<Event>& events) {
      for (int i = 0; i < 10; ++i) {
        if (LastHealth(events, "web-" + std::to_string(i)) != health)
          return false;
      }
      return true;
    };
  };
  REQUIRE(log.WaitFor(all_are(muster::v1::HEALTH_PASSING), 30));

  for (auto& target : targets) target->AnswerStatus(503, "down");
  REQUIRE(log.WaitFor(all_are(muster::v1::HEALTH_CRITICAL), 30));
  // The sweep that notices runs every second.
  CHECK(WaitForMetric(daemon.process.http_port(),
                      "muster_checker_eviction_paused_realms", 1, 10));

  // Well past deregister_after: nothing was evicted.
  const auto critical_since = std::chrono::steady_clock::now();
  CHECK_FALSE(log.WaitFor(
      [](const auto& events) {
        for (const Event& event : events) {
          if (event.type() == Event::DELETE) return true;
        }
        return false;
      },
      75));
  CHECK(std::chrono::steady_clock::now() - critical_since >=
        std::chrono::seconds(75));
  muster::v1::ListInstancesRequest list;
  list.set_realm("fleet");
  muster::v1::ListInstancesResponse listed;
  REQUIRE(stub->ListInstances(Context().get(), list, &listed).ok());
  CHECK(listed.instances_size() == 10);
  CHECK_THAT(
      daemon.process.log(),
      Catch::Contains("eviction protection pauses evictions in realm fleet"));

  for (auto& target : targets) target->AnswerStatus(200, "ok");
  const bool recovered = log.WaitFor(all_are(muster::v1::HEALTH_PASSING), 30);
  if (!recovered) {
    REQUIRE(stub->ListInstances(Context().get(), list, &listed).ok());
    for (const auto& instance : listed.instances()) {
      UNSCOPED_INFO(instance.id()
                    << " " << muster::v1::Health_Name(instance.health()) << " "
                    << instance.health_detail().output());
    }
    UNSCOPED_INFO(daemon.process.log());
  }
  REQUIRE(recovered);
  CHECK(WaitForMetric(daemon.process.http_port(),
                      "muster_checker_eviction_paused_realms", 0, 10));
  CHECK(MetricValue(daemon.process.http_port(),
                    "muster_checker_evictions_total") == 0);
}

TEST_CASE("a link-local probe target is refused at registration",
          "[e2e][checker]") {
  Daemon daemon;
  auto stub = muster::v1::Registry::NewStub(daemon.process.channel());
  muster::v1::RegisterRequest request = HttpInstance(
      "default", "meta", "http://169.254.169.254/latest/meta-data");
  muster::v1::RegisterResponse response;
  grpc::Status status = stub->Register(Context().get(), request, &response);
  CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
  CHECK_THAT(status.error_message(),
             Catch::Contains("instance.check.http_url"));

  request = HttpInstance("default", "meta", "http://127.0.0.1:1/health");
  request.mutable_instance()->set_address("169.254.169.254");
  status = stub->Register(Context().get(), request, &response);
  CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
  CHECK_THAT(status.error_message(), Catch::Contains("instance.address"));

  muster::v1::ListInstancesResponse listed;
  REQUIRE(stub->ListInstances(Context().get(), {}, &listed).ok());
  CHECK(listed.instances_size() == 0);
}

}  // namespace muster::testing
