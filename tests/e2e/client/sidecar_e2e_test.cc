// musterctl's register -f, update, heartbeat --keep-alive and run (the
// sidecar, built on the client library's Registration) against a real
// musterd, through the real musterctl binary.

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/child_process.h"
#include "testkit/daemon_process.h"
#include "testkit/event_log.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::e2e {
namespace {

using std::chrono::milliseconds;
using testing::Child;
using testing::RunResult;
using testing::SpawnOptions;

using ::muster::testing::Eventually;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A musterd in a temporary directory, and musterctl pointed at it.
struct Sidecar {
  Sidecar() : daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log")) {
    REQUIRE(daemon.Start());
    stub = v1::Registry::NewStub(daemon.channel());
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

  RunResult Ctl(std::vector<std::string> args) const {
    return testing::Run(CtlOptions(std::move(args)), absl::Seconds(30));
  }

  std::unique_ptr<Child> Spawn(std::vector<std::string> args) const {
    auto child = Child::Spawn(CtlOptions(std::move(args)));
    REQUIRE(child.ok());
    return *std::move(child);
  }

  // The instance as musterd has it; NOT_FOUND when gone.
  grpc::Status Get(const std::string& service, const std::string& id,
                   v1::Instance* instance) const {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::GetInstanceRequest request;
    request.set_realm("default");
    request.set_service(service);
    request.set_id(id);
    return stub->GetInstance(&context, request, instance);
  }

  std::vector<v1::Instance> List(const std::string& service) const {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::ListInstancesRequest request;
    request.set_realm("default");
    request.set_service(service);
    request.set_page_size(1000);
    v1::ListInstancesResponse response;
    grpc::Status status = stub->ListInstances(&context, request, &response);
    REQUIRE(status.ok());
    return {response.instances().begin(), response.instances().end()};
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = dir.File(name);
    std::ofstream(path) << text;
    return path;
  }

  testing::TempDir dir;
  testing::DaemonProcess daemon;
  std::unique_ptr<v1::Registry::Stub> stub;
};

TEST_CASE("register -f with a YAML file, then list shows them",
          "[e2e][sidecar]") {
  Sidecar s;
  std::string path = s.WriteFile("instances.yaml", R"(instances:
  - service: web
    id: web-1
    address: 10.0.0.7
    port: 8080
    tags: [canary]
    metadata: {team: payments}
    weight: 10
  - service: web
    id: web-2
    address: 10.0.0.8
    port: 8080
    check: {kind: ttl, ttl: 30s}
  - service: web
    id: web-3
    address: 10.0.0.9
    port: 8080
    check: {kind: tcp, interval: 5s}
)");
  RunResult r = s.Ctl({"register", "-f", path});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("registered web/web-1 incarnation ", 0) == 0);
  CHECK(Contains(r.out, "registered web/web-3 incarnation "));

  RunResult list = s.Ctl({"list", "web", "-o", "json"});
  REQUIRE(list.exit_code == 0);
  v1::ListInstancesResponse parsed;
  REQUIRE(google::protobuf::util::JsonStringToMessage(list.out, &parsed).ok());
  REQUIRE(parsed.instances_size() == 3);
  CHECK(parsed.instances(0).tags(0) == "canary");
  CHECK(parsed.instances(0).metadata().at("team") == "payments");
  CHECK(parsed.instances(0).weight() == 10);
  CHECK(parsed.instances(1).check().kind() == v1::CHECK_KIND_TTL);
  CHECK(parsed.instances(2).check().interval().seconds() == 5);

  // From stdin, and again: an update, not a new incarnation.
  RunResult again = testing::Run(
      SpawnOptions{{"/bin/sh", "-c",
                    std::string(MUSTERCTL_PATH) + " register -f - < " + path},
                   s.CtlOptions({}).env},
      absl::Seconds(30));
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.rfind("updated web/web-1 incarnation ", 0) == 0);

  // One bad entry: exit 2, and not even the good ones are sent.
  std::string bad =
      s.WriteFile("bad.json", R"([{"service": "api", "address": "h", "port": 1},
                      {"service": "api", "address": "h", "port": "x"}])");
  RunResult refused = s.Ctl({"register", "-f", bad});
  CHECK(refused.exit_code == 2);
  CHECK(Contains(refused.err, "bad.json: instance 2 (line 2): port: "));
  CHECK(s.List("api").empty());
}

TEST_CASE("update changes weight and tags, keeping incarnation and health",
          "[e2e][sidecar]") {
  Sidecar s;
  REQUIRE(s.Ctl({"register", "web", "--id", "web-1", "--address", "10.0.0.7",
                 "--port", "80", "--tag", "a", "--meta", "team=core"})
              .exit_code == 0);
  REQUIRE(
      s.Ctl({"drain", "web", "web-1", "--reason", "maintenance"}).exit_code ==
      0);
  v1::Instance before;
  REQUIRE(s.Get("web", "web-1", &before).ok());

  RunResult r = s.Ctl({"update", "web", "web-1", "--weight", "5", "--add-tag",
                       "canary", "--meta", "tier=1"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.out, "Weight:"));
  CHECK(Contains(r.out, "a,canary"));

  v1::Instance after;
  REQUIRE(s.Get("web", "web-1", &after).ok());
  CHECK(after.weight() == 5);
  CHECK(std::vector<std::string>(after.tags().begin(), after.tags().end()) ==
        std::vector<std::string>{"a", "canary"});
  CHECK(after.metadata().at("team") == "core");
  CHECK(after.metadata().at("tier") == "1");
  CHECK(after.address() == "10.0.0.7");
  CHECK(after.create_revision() == before.create_revision());
  CHECK(after.modify_revision() > before.modify_revision());
  CHECK(after.health() == before.health());
  CHECK(after.admin_state() == v1::ADMIN_STATE_DRAINING);

  RunResult missing = s.Ctl({"update", "web", "nope", "--weight", "1"});
  CHECK(missing.exit_code == 1);
  CHECK(Contains(missing.err, "NOT_FOUND"));
  RunResult nothing = s.Ctl({"update", "web", "web-1"});
  CHECK(nothing.exit_code == 2);
}

TEST_CASE(
    "heartbeat --keep-alive keeps a TTL instance passing until it is "
    "deregistered",
    "[e2e][sidecar][slow]") {
  Sidecar s;
  REQUIRE(s.Ctl({"register", "batch", "--id", "b-1", "--address", "10.0.0.9",
                 "--port", "9000", "--check-ttl", "2s"})
              .exit_code == 0);
  std::unique_ptr<Child> keeper =
      s.Spawn({"heartbeat", "batch", "b-1", "--keep-alive"});
  std::optional<std::string> first = keeper->ReadLine(absl::Seconds(10));
  REQUIRE(first.has_value());
  CHECK(Contains(*first, "batch/b-1 incarnation "));
  CHECK(Contains(*first, "health PASSING"));

  // Three TTLs: PASSING throughout.
  const auto until = std::chrono::steady_clock::now() + milliseconds(6000);
  while (std::chrono::steady_clock::now() < until) {
    v1::Instance instance;
    REQUIRE(s.Get("batch", "b-1", &instance).ok());
    REQUIRE(instance.health() == v1::HEALTH_PASSING);
    std::this_thread::sleep_for(milliseconds(200));
  }
  REQUIRE(s.Ctl({"deregister", "batch", "b-1"}).exit_code == 0);
  std::optional<int> code = keeper->Wait(absl::Seconds(15));
  INFO(keeper->err());
  REQUIRE(code == std::optional<int>(1));
  CHECK(Contains(keeper->err(), "batch/b-1 is gone"));
  // A third of 2s: at least six heartbeats in those six seconds.
  CHECK(std::count(keeper->out().begin(), keeper->out().end(), '\n') >= 6);
}

TEST_CASE("heartbeat --keep-alive exits 0 on SIGTERM", "[e2e][sidecar]") {
  Sidecar s;
  REQUIRE(s.Ctl({"register", "batch", "--id", "b-2", "--address", "10.0.0.9",
                 "--port", "9000", "--check-ttl", "30s"})
              .exit_code == 0);
  std::unique_ptr<Child> keeper =
      s.Spawn({"heartbeat", "batch", "b-2", "--keep-alive"});
  REQUIRE(keeper->ReadLine(absl::Seconds(10)).has_value());
  keeper->Signal(SIGTERM);
  CHECK(keeper->Wait(absl::Seconds(10)) == std::optional<int>(0));
  CHECK(Contains(keeper->err(), "interrupted; stopped"));
}

TEST_CASE("run registers while the command runs and exits with its status",
          "[e2e][sidecar]") {
  Sidecar s;
  const std::string port = std::to_string(testing::FreePort());
  const std::string id = "127.0.0.1:" + port;
  std::unique_ptr<Child> run =
      s.Spawn({"run", "--service", "web", "--port", port, "--ttl", "2s",
               "--drain-grace", "0", "--", "sh", "-c", "sleep 4; exit 7"});
  REQUIRE(Eventually(
      [&] {
        v1::Instance instance;
        return s.Get("web", id, &instance).ok() &&
               instance.health() == v1::HEALTH_PASSING;
      },
      milliseconds(4000)));
  CHECK_FALSE(run->Exited());  // registered while the command runs
  std::optional<int> code = run->Wait(absl::Seconds(20));
  INFO(run->err());
  CHECK(code == std::optional<int>(7));
  CHECK(Contains(run->err(), "registered web/" + id));
  CHECK(Contains(run->err(), "exited with status 7"));
  v1::Instance gone;
  CHECK(s.Get("web", id, &gone).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("SIGTERM to run is passed on, drains, then deregisters",
          "[e2e][sidecar]") {
  Sidecar s;
  testing::EventLog events(s.daemon.channel(), "default");
  const std::string marks = s.dir.File("signals");
  const std::string script = "trap 'echo HUP >> " + marks +
                             "' HUP; trap 'echo TERM >> " + marks +
                             "; exit 3' TERM; while true; do sleep 0.1; done";
  std::unique_ptr<Child> run =
      s.Spawn({"run", "--service", "api", "--port", "9100", "--id", "api-1",
               "--drain-grace", "1s", "--", "sh", "-c", script});
  REQUIRE(Eventually(
      [&] {
        v1::Instance instance;
        return s.Get("api", "api-1", &instance).ok();
      },
      milliseconds(10000)));
  run->Signal(SIGHUP);
  REQUIRE(Eventually([&] { return Contains(testing::ReadFile(marks), "HUP"); },
                     milliseconds(5000)));
  CHECK_FALSE(run->Exited());
  run->Signal(SIGTERM);
  std::optional<int> code = run->Wait(absl::Seconds(20));
  INFO(run->err());
  CHECK(code == std::optional<int>(3));
  CHECK(testing::ReadFile(marks) == "HUP\nTERM\n");

  // DRAINING first, DELETE after it.
  REQUIRE(events.WaitFor(
      [](const std::vector<v1::Event>& all) {
        for (const v1::Event& e : all) {
          if (e.type() == v1::Event::DELETE && e.instance().id() == "api-1") {
            return true;
          }
        }
        return false;
      },
      10));
  int drained_at = -1;
  int deleted_at = -1;
  std::vector<v1::Event> all = events.events();
  for (int i = 0; i < static_cast<int>(all.size()); ++i) {
    const v1::Event& e = all[i];
    if (e.instance().id() != "api-1") continue;
    if (e.cause() == v1::Event::ADMIN_CHANGED &&
        e.instance().admin_state() == v1::ADMIN_STATE_DRAINING &&
        drained_at < 0) {
      drained_at = i;
    }
    if (e.type() == v1::Event::DELETE) deleted_at = i;
  }
  CHECK(drained_at >= 0);
  CHECK(deleted_at > drained_at);
  v1::Instance gone;
  CHECK(s.Get("api", "api-1", &gone).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE(
    "run of a command that cannot be started exits 127, registering "
    "nothing",
    "[e2e][sidecar]") {
  Sidecar s;
  RunResult r = s.Ctl({"run", "--service", "ghost", "--port", "9200", "--",
                       s.dir.File("no-such-program"), "--flag"});
  CHECK(r.exit_code == 127);
  CHECK(Contains(r.err, "cannot start"));
  CHECK(Contains(r.err, "No such file or directory"));
  CHECK(s.List("ghost").empty());
}

TEST_CASE("run with an option the registry would refuse starts nothing",
          "[e2e][sidecar]") {
  Sidecar s;
  const std::string marker = s.dir.File("started");
  RunResult r = s.Ctl({"run", "--service", "Web", "--port", "9201", "--", "sh",
                       "-c", "touch " + marker});
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.err, "--service"));
  CHECK_FALSE(std::ifstream(marker).good());
  CHECK(s.List("web").empty());
}

}  // namespace
}  // namespace muster::e2e
