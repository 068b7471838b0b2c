// The clients heartbeat on musterd's HeartbeatStream: the client
// library's registrations (one stream per Client, shared), musterctl's
// `heartbeat --keep-alive` and its sidecar `run`, counted on musterd's
// /metrics (muster_heartbeat_streams, muster_heartbeats_total{via}).

#include <httplib.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "muster/client/client.h"
#include "muster/client/registration.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/child_process.h"
#include "testkit/daemon_process.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::e2e {
namespace {

using std::chrono::milliseconds;
using testing::Child;
using testing::SpawnOptions;

using ::muster::testing::Eventually;

// The value of one metric line (name with its labels, as rendered) on
// /metrics; -1 when absent.
double MetricValue(int http_port, const std::string& series) {
  httplib::Client client("127.0.0.1", http_port);
  httplib::Result result = client.Get("/metrics");
  REQUIRE(result);
  REQUIRE(result->status == 200);
  const std::string prefix = "\n" + series + " ";
  const size_t at = result->body.find(prefix);
  if (at == std::string::npos) return -1;
  return std::stod(result->body.substr(at + prefix.size()));
}

struct Daemon {
  Daemon() : daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log")) {
    REQUIRE(daemon.Start());
    stub = v1::Registry::NewStub(daemon.channel());
  }

  double Streams() {
    return MetricValue(daemon.http_port(), "muster_heartbeat_streams");
  }
  double Heartbeats(const std::string& via) {
    return MetricValue(daemon.http_port(),
                       "muster_heartbeats_total{via=\"" + via + "\"}");
  }

  std::string Health(const std::string& service, const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::GetInstanceRequest request;
    request.set_service(service);
    request.set_id(id);
    v1::Instance instance;
    if (!stub->GetInstance(&context, request, &instance).ok()) return "gone";
    return v1::Health_Name(instance.health());
  }

  SpawnOptions CtlOptions(std::vector<std::string> args) const {
    SpawnOptions options;
    options.argv = {MUSTERCTL_PATH};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = {"MUSTER_ADDR=" + daemon.address(),
                   "MUSTER_REALM",
                   "MUSTER_TOKEN",
                   "MUSTER_TOKEN_FILE",
                   "MUSTER_ZONE",
                   "NO_COLOR=1"};
    return options;
  }

  testing::TempDir dir;
  testing::DaemonProcess daemon;
  std::unique_ptr<v1::Registry::Stub> stub;
};

client::RegistrationOptions Ttl(const std::string& service, uint32_t port) {
  client::RegistrationOptions options;
  options.service = service;
  options.address = "127.0.0.1";
  options.port = port;
  options.ttl = milliseconds(1500);
  options.initial_backoff = milliseconds(50);
  options.max_backoff = milliseconds(500);
  options.drain_grace = milliseconds(0);
  return options;
}

TEST_CASE("a Client's registrations heartbeat on one shared stream",
          "[client][e2e][heartbeat_stream]") {
  Daemon d;
  client::ClientOptions options;
  options.addresses = {d.daemon.address()};
  options.call_timeout = milliseconds(2000);
  std::shared_ptr<client::Client> client = client::Client::Create(options);
  REQUIRE(client != nullptr);
  std::vector<std::unique_ptr<client::Registration>> registrations;
  for (uint32_t port : {9001u, 9002u, 9003u}) {
    registrations.push_back(client::Registration::Start(
        client, Ttl("stream-" + std::to_string(port), port)));
    REQUIRE(registrations.back() != nullptr);
  }
  for (auto& registration : registrations) {
    REQUIRE(registration->WaitRegistered(milliseconds(10000)));
  }
  // Several heartbeats each (a TTL of 1.5 s beats every 0.5 s).
  REQUIRE(Eventually([&] { return d.Heartbeats("stream") >= 12; },
                     milliseconds(10000)));
  for (uint32_t port : {9001u, 9002u, 9003u}) {
    CHECK(d.Health("stream-" + std::to_string(port),
                   "127.0.0.1:" + std::to_string(port)) == "HEALTH_PASSING");
  }
  CHECK(d.Streams() == 1);
  CHECK(d.Heartbeats("unary") == 0);

  // A restarted daemon: the stream is reopened and the instances stay.
  d.daemon.KeepPorts();
  REQUIRE(d.daemon.Restart());
  d.stub = v1::Registry::NewStub(d.daemon.channel());
  REQUIRE(Eventually([&] { return d.Heartbeats("stream") >= 6; },
                     milliseconds(10000)));
  CHECK(d.Streams() == 1);
  CHECK(d.Heartbeats("unary") == 0);
  for (auto& registration : registrations) {
    CHECK(registration->status().registrations == 1);
    CHECK(registration->Shutdown().ok());
  }
  // The registrations are gone; the Client's stream stays until it goes.
  registrations.clear();
  client.reset();
  CHECK(Eventually([&] { return d.Streams() == 0; }, milliseconds(5000)));
}

TEST_CASE("heartbeat --keep-alive and run heartbeat on a stream",
          "[e2e][sidecar][heartbeat_stream]") {
  Daemon d;
  {
    auto registered = testing::Run(
        d.CtlOptions({"register", "batch", "--id", "b-1", "--address",
                      "10.0.0.9", "--port", "9000", "--check-ttl", "3s"}),
        absl::Seconds(30));
    REQUIRE(registered.exit_code == 0);
  }
  auto keeper = Child::Spawn(d.CtlOptions(
      {"heartbeat", "batch", "b-1", "--keep-alive", "--interval", "200ms"}));
  REQUIRE(keeper.ok());
  // Three answered heartbeats, printed.
  for (int i = 0; i < 3; ++i) {
    REQUIRE((*keeper)->ReadLine(absl::Seconds(10)).has_value());
  }
  CHECK(d.Streams() == 1);
  CHECK(d.Heartbeats("stream") >= 3);
  CHECK(d.Heartbeats("unary") == 0);
  CHECK(d.Health("batch", "b-1") == "HEALTH_PASSING");
  (*keeper)->Signal(SIGTERM);
  CHECK((*keeper)->Wait(absl::Seconds(10)) == std::optional<int>(0));
  CHECK(Eventually([&] { return d.Streams() == 0; }, milliseconds(5000)));

  const double before = d.Heartbeats("stream");
  auto run = Child::Spawn(d.CtlOptions(
      {"run", "--service", "web", "--port", "9200", "--id", "w-1", "--ttl",
       "1500ms", "--drain-grace", "0", "--", "sh", "-c", "sleep 3"}));
  REQUIRE(run.ok());
  REQUIRE(Eventually([&] { return d.Heartbeats("stream") >= before + 3; },
                     milliseconds(10000)));
  CHECK(d.Streams() == 1);
  CHECK(d.Heartbeats("unary") == 0);
  CHECK((*run)->Wait(absl::Seconds(20)) == std::optional<int>(0));
}

}  // namespace
}  // namespace muster::e2e
