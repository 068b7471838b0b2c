// update, register -f and heartbeat --keep-alive against the in-process
// fake daemon: what is sent, what is printed, and when they stop.

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli/commands.h"
#include "cli/errors.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/cli/fake_daemon.h"

namespace muster::cli {
namespace {

v1::Instance TtlInstance(const std::string& id, int64_t ttl_seconds) {
  v1::Instance i;
  i.set_realm("default");
  i.set_service("web");
  i.set_id(id);
  i.set_address("10.0.0.1");
  i.set_port(8080);
  i.add_tags("old");
  i.set_weight(2);
  i.set_health(v1::HEALTH_PASSING);
  i.set_admin_state(v1::ADMIN_STATE_ENABLED);
  i.set_create_revision(42);
  i.set_modify_revision(43);
  i.mutable_check()->set_kind(v1::CHECK_KIND_TTL);
  i.mutable_check()->mutable_ttl()->set_seconds(ttl_seconds);
  return i;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string WriteFile(const testing::TempDir& dir, const std::string& name,
                      const std::string& text) {
  std::string path = dir.File(name);
  std::ofstream(path) << text;
  return path;
}

TEST_CASE("update re-registers the instance with only the change",
          "[commands][update]") {
  Harness h;
  h.registry.SetInstances({TtlInstance("web-1", 30)});
  Context ctx = h.MakeContext(Format::kTable);
  UpdateArgs args;
  args.ref = {"web", "web-1"};
  args.weight = "9";
  args.add_tags = {"canary"};
  absl::Status s = RunUpdate(ctx, args);
  INFO(s.ToString() << h.err.str());
  REQUIRE(s.ok());
  std::vector<v1::RegisterRequest> sent = h.registry.register_requests();
  REQUIRE(sent.size() == 1);
  const v1::Instance& i = sent[0].instance();
  CHECK(i.weight() == 9);
  CHECK(i.tags_size() == 2);
  CHECK(i.tags(1) == "canary");
  CHECK(i.check().ttl().seconds() == 30);
  CHECK(i.create_revision() == 0);  // output-only: not sent
  CHECK(i.health() == v1::HEALTH_UNSPECIFIED);
  // Printed as `get` prints it, with the kept incarnation.
  CHECK(h.out.str().find("Weight:") != std::string::npos);
  CHECK(h.out.str().find("old,canary") != std::string::npos);
  CHECK(h.out.str().find("Incarnation:      42") != std::string::npos);
  CHECK(h.err.str().empty());
}

TEST_CASE("update of a missing instance is NOT_FOUND, and sends no Register",
          "[commands][update]") {
  Harness h;
  Context ctx = h.MakeContext(Format::kTable);
  UpdateArgs args;
  args.ref = {"web", "nope"};
  args.zone = "eu-2";
  absl::Status s = RunUpdate(ctx, args);
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK(ExitCodeFor(s) == kExitServerError);
  CHECK(h.registry.register_calls() == 0);

  UpdateArgs nothing;
  nothing.ref = {"web", "nope"};
  CHECK(ExitCodeFor(RunUpdate(ctx, nothing)) == kExitUsage);
  CHECK(h.registry.get_calls() == 1);  // the usage error sent nothing
}

TEST_CASE("register -f registers every entry, one line each",
          "[commands][register_file]") {
  Harness h;
  testing::TempDir dir;
  std::string path = WriteFile(dir, "instances.yaml",
                               "- {service: web, id: a, address: h, port: 1}\n"
                               "- {service: web, address: h, port: 2}\n");
  SECTION("table") {
    Context ctx = h.MakeContext(Format::kTable);
    REQUIRE(RunRegisterFile(ctx, path).ok());
    CHECK(h.out.str() ==
          "registered web/a incarnation 9\n"
          "registered web/generated-1 incarnation 9\n");
    REQUIRE(h.registry.register_requests().size() == 2);
    CHECK(h.registry.register_requests()[1].instance().port() == 2);
  }
  SECTION("json: one RegisterResponse per line") {
    Context ctx = h.MakeContext(Format::kJson);
    REQUIRE(RunRegisterFile(ctx, path).ok());
    std::vector<std::string> lines = Lines(h.out.str());
    REQUIRE(lines.size() == 2);
    v1::RegisterResponse r;
    REQUIRE(google::protobuf::util::JsonStringToMessage(lines[0], &r).ok());
    CHECK(r.instance().id() == "a");
    CHECK(r.created());
  }
}

TEST_CASE("register -f sends nothing when one entry is bad",
          "[commands][register_file]") {
  Harness h;
  testing::TempDir dir;
  std::string path =
      WriteFile(dir, "bad.json",
                R"([{"service": "web", "address": "h", "port": 1},
                                   {"service": "web", "address": "h", "port": 0}])");
  Context ctx = h.MakeContext(Format::kTable);
  absl::Status s = RunRegisterFile(ctx, path);
  CHECK(ExitCodeFor(s) == kExitUsage);
  CHECK(s.message().find(path + ": instance 2 (line 2): port: ") == 0);
  CHECK(h.registry.register_calls() == 0);

  absl::Status missing = RunRegisterFile(ctx, dir.File("absent.yaml"));
  CHECK(ExitCodeFor(missing) == kExitUsage);
  CHECK(missing.message().find("-f: cannot read") == 0);
}

TEST_CASE("register -f goes on after a refused entry and names it",
          "[commands][register_file]") {
  Harness h;
  h.registry.RefuseId("b");
  testing::TempDir dir;
  std::string path =
      WriteFile(dir, "instances.yaml",
                "- {service: web, id: a, address: h, port: 1}\n"
                "- {service: web, id: b, address: h, port: 1}\n"
                "- {service: web, id: c, address: h, port: 1}\n");
  Context ctx = h.MakeContext(Format::kTable);
  absl::Status s = RunRegisterFile(ctx, path);
  CHECK(ExitCodeFor(s) == kExitServerError);
  CHECK(ErrorLine(s) ==
        "musterctl: INVALID_ARGUMENT: 1 of 3 instances were not registered: "
        "web/b");
  CHECK(h.registry.register_calls() == 3);
  CHECK(h.out.str() ==
        "registered web/a incarnation 9\nregistered web/c incarnation 9\n");
  CHECK(h.err.str().find("register web/b failed: INVALID_ARGUMENT") !=
        std::string::npos);
}

TEST_CASE("keep-alive heartbeats every third of the TTL until NOT_FOUND",
          "[commands][keepalive]") {
  Harness h;
  h.registry.SetInstances({TtlInstance("w1", 3)});
  h.registry.AddHeartbeatStatuses(
      {grpc::Status::OK, grpc::Status::OK,
       grpc::Status(grpc::StatusCode::UNAVAILABLE, "store is restarting"),
       grpc::Status(grpc::StatusCode::UNAVAILABLE, "store is restarting"),
       grpc::Status::OK,
       grpc::Status(grpc::StatusCode::NOT_FOUND, "instance \"w1\" not found")});
  Context ctx = h.MakeContext(Format::kTable);
  HeartbeatArgs args;
  args.target.ref = {"web", "w1"};
  args.keep_alive = true;
  absl::Status s = RunKeepAlive(ctx, args);
  INFO(h.err.str());
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK(ErrorLine(s).find("web/w1 is gone (deregistered or evicted)") !=
        std::string::npos);
  CHECK(h.registry.get_calls() == 1);
  CHECK(h.registry.heartbeat_incarnations() ==
        std::vector<uint64_t>(6, uint64_t{42}));
  // A heartbeat every second, the retries after 200ms then 400ms.
  CHECK(h.sleeps ==
        std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(1),
                                    absl::Milliseconds(200),
                                    absl::Milliseconds(400), absl::Seconds(1)});
  std::vector<std::string> lines = Lines(h.out.str());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] ==
        "2023-11-14T22:13:20Z  web/w1 incarnation 42: health PASSING, admin "
        "state ENABLED");
  CHECK(h.err.str().find("retrying in 200ms") != std::string::npos);
}

TEST_CASE("keep-alive stops on a re-registration and on an interrupt",
          "[commands][keepalive]") {
  Harness h;
  h.registry.SetInstances({TtlInstance("w1", 30)});
  Context ctx = h.MakeContext(Format::kTable);
  HeartbeatArgs args;
  args.target.ref = {"web", "w1"};
  args.keep_alive = true;
  SECTION("FAILED_PRECONDITION") {
    h.registry.AddHeartbeatStatuses(
        {grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "stale")});
    absl::Status s = RunKeepAlive(ctx, args);
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(s.message().find("was registered again: incarnation 42") !=
          std::string::npos);
    CHECK(h.sleeps.empty());
  }
  SECTION("interrupted: OK, after the heartbeats so far") {
    ctx.interrupted = [&h] { return h.sleeps.size() >= 3; };
    REQUIRE(RunKeepAlive(ctx, args).ok());
    CHECK(h.registry.heartbeat_incarnations().size() == 3);
    CHECK(h.sleeps == std::vector<absl::Duration>(3, absl::Seconds(10)));
    CHECK(h.err.str().find("interrupted; stopped") != std::string::npos);
  }
  SECTION("--interval and --incarnation given: no lookup") {
    args.target.incarnation = "7";
    args.interval = "250ms";
    ctx.interrupted = [&h] { return h.sleeps.size() >= 2; };
    REQUIRE(RunKeepAlive(ctx, args).ok());
    CHECK(h.registry.get_calls() == 0);
    CHECK(h.registry.heartbeat_incarnations() == std::vector<uint64_t>{7, 7});
    CHECK(h.sleeps == std::vector<absl::Duration>(2, absl::Milliseconds(250)));
  }
  SECTION("a too short --interval is a usage error") {
    args.interval = "10ms";
    CHECK(ExitCodeFor(RunKeepAlive(ctx, args)) == kExitUsage);
    CHECK(h.registry.heartbeat_incarnations().empty());
  }
}

TEST_CASE("keep-alive of an instance without a TTL check beats every 10s",
          "[commands][keepalive]") {
  Harness h;
  v1::Instance i = TtlInstance("w1", 0);
  i.mutable_check()->set_kind(v1::CHECK_KIND_HTTP);
  h.registry.SetInstances({i});
  h.registry.AddHeartbeatStatuses(
      {grpc::Status::OK, grpc::Status(grpc::StatusCode::NOT_FOUND, "gone")});
  Context ctx = h.MakeContext(Format::kJson);
  HeartbeatArgs args;
  args.target.ref = {"web", "w1"};
  args.keep_alive = true;
  CHECK(RunKeepAlive(ctx, args).code() == absl::StatusCode::kNotFound);
  CHECK(h.sleeps == std::vector<absl::Duration>{absl::Seconds(10)});
  v1::HeartbeatResponse r;
  REQUIRE(google::protobuf::util::JsonStringToMessage(Lines(h.out.str())[0], &r)
              .ok());
  CHECK(r.health() == v1::HEALTH_PASSING);
}

}  // namespace
}  // namespace muster::cli
