// musterctl watch (order, NDJSON, resuming after a daemon restart) and
// explain (passing, drained, critical) against a real musterd.

#include <signal.h>

#include "muster/v1/registry.pb.h"
#include "tests/e2e/cli/harness.h"

namespace muster::e2e {
namespace {

using Fixture = DaemonFixture;

constexpr absl::Duration kLineDeadline = absl::Seconds(15);

struct WatchLine {
  uint64_t revision = 0;
  std::string type;
  std::string cause;
  std::string instance;
};

// A `watch` table line: REVISION TIME TYPE CAUSE SERVICE/ID HEALTH ADMIN.
WatchLine ParseWatchLine(const std::string& line) {
  std::vector<std::string> w = Words(line);
  INFO("watch line: " << line);
  REQUIRE(w.size() >= 7);
  return WatchLine{std::stoull(w[0]), w[2], w[3], w[4]};
}

std::unique_ptr<Child> StartWatch(const std::string& address,
                                  std::vector<std::string> args,
                                  const std::string& stderr_path) {
  args.insert(args.begin(), "watch");
  SpawnOptions options = CtlOptions(address, std::move(args));
  options.err = Sink::File(stderr_path);
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(options);
  REQUIRE(child.ok());
  return *std::move(child);
}

std::string NextLine(Child& child, const std::string& what) {
  std::optional<std::string> line = child.ReadLine(kLineDeadline);
  INFO("waiting for " << what << "; stdout so far:\n" << child.out());
  REQUIRE(line.has_value());
  return *line;
}

TEST_CASE_METHOD(Fixture,
                 "watch prints events in order and resumes after a restart",
                 "[e2e]") {
  Ctl({"register", "web", "--address", "10.0.0.1", "--port", "80", "--id",
       "a"});
  std::string err_path = temp.File("watch.err");
  std::unique_ptr<Child> watch = StartWatch(daemon->address(), {}, err_path);
  CHECK(Words(NextLine(*watch, "header"))[0] == "REVISION");
  WatchLine snapshot = ParseWatchLine(NextLine(*watch, "snapshot of a"));
  CHECK(snapshot.cause == "SNAPSHOT");
  CHECK(snapshot.instance == "web/a");

  Ctl({"register", "web", "--address", "10.0.0.2", "--port", "80", "--id",
       "b"});
  Ctl({"drain", "web", "b"});
  std::vector<WatchLine> seen;
  seen.push_back(ParseWatchLine(NextLine(*watch, "b registered")));
  seen.push_back(ParseWatchLine(NextLine(*watch, "b drained")));

  // The daemon goes away; what happens after it is back must still come
  // out, once each and in order, whether it was committed before or after
  // the watcher reconnects.
  REQUIRE(daemon->Restart());
  Ctl({"register", "web", "--address", "10.0.0.3", "--port", "80", "--id",
       "c"});
  Ctl({"deregister", "web", "a"});
  seen.push_back(ParseWatchLine(NextLine(*watch, "c registered")));
  seen.push_back(ParseWatchLine(NextLine(*watch, "a deregistered")));

  std::vector<std::string> got;
  uint64_t last = snapshot.revision;
  for (const WatchLine& w : seen) {
    CHECK(w.revision > last);
    last = w.revision;
    got.push_back(w.cause + " " + w.instance);
  }
  CHECK(got ==
        std::vector<std::string>{"REGISTERED web/b", "ADMIN_CHANGED web/b",
                                 "REGISTERED web/c", "DEREGISTERED web/a"});
  CHECK(seen.back().type == "DELETE");

  watch->Signal(SIGINT);
  REQUIRE(watch->Wait(absl::Seconds(10)).has_value());
  std::string notices = ReadFile(err_path);
  CHECK(Contains(notices, "snapshot complete at revision"));
  CHECK(Contains(notices, "reconnecting"));
}

TEST_CASE_METHOD(Fixture, "watch -o json prints one event object per line",
                 "[e2e]") {
  for (const char* id : {"a", "b", "c"}) {
    Ctl({"register", "web", "--address", "10.0.0.1", "--port", "80", "--id",
         id});
  }
  Ctl({"register", "other", "--address", "10.0.0.1", "--port", "80"});
  RunResult r = CtlRaw({"watch", "web", "--from-revision", "1", "--max-events",
                        "3", "-o", "json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = SplitLines(r.out);
  REQUIRE(lines.size() == 3);
  std::vector<std::string> ids;
  uint64_t last = 0;
  for (const std::string& line : lines) {
    auto event = ParseJson<v1::Event>(line);
    CHECK(event.revision() > last);
    last = event.revision();
    CHECK(event.type() == v1::Event::PUT);
    CHECK(event.cause() == v1::Event::REGISTERED);
    ids.push_back(event.instance().id());
  }
  CHECK(ids == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("watch says so and re-lists when its revision is compacted",
          "[e2e]") {
  testing::TempDir temp;
  testing::DaemonProcess daemon(MUSTERD_PATH, temp.File("data"),
                                temp.File("data.log"),
                                {"--changelog-retention", "2"});
  const bool started = daemon.Start();
  INFO(daemon.log());
  REQUIRE(started);
  for (const char* id : {"a", "b", "c", "d"}) {
    RunResult r =
        RunCtl(daemon.address(), {"register", "web", "--address", "10.0.0.1",
                                  "--port", "80", "--id", id});
    REQUIRE(r.exit_code == 0);
  }
  RunResult r = RunCtl(daemon.address(), {"watch", "--from-revision", "1",
                                          "--max-events", "4", "-o", "json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.err, "revision 1 is no longer retained"));
  CHECK(Contains(r.err, "re-listing from a fresh snapshot"));
  std::vector<std::string> ids;
  for (const std::string& line : SplitLines(r.out)) {
    auto event = ParseJson<v1::Event>(line);
    CHECK(event.cause() == v1::Event::SNAPSHOT);
    ids.push_back(event.instance().id());
  }
  CHECK(ids == std::vector<std::string>{"a", "b", "c", "d"});
}

TEST_CASE_METHOD(Fixture, "explain a passing and a drained instance", "[e2e]") {
  Ctl({"register", "web", "--address", "10.0.0.1", "--port", "80", "--id",
       "ok"});
  std::string passing = Ctl({"explain", "web", "ok"});
  CHECK(passing.rfind("web/ok (realm \"default\") is routable: it is ENABLED "
                      "and PASSING.\n",
                      0) == 0);
  CHECK(Contains(passing, "Admin state:"));
  CHECK(Contains(passing, "Eviction:"));

  Ctl({"register", "web", "--address", "10.0.0.2", "--port", "80", "--id",
       "drained"});
  Ctl({"drain", "web", "drained", "--reason", "kernel upgrade"});
  std::string drained = Ctl({"explain", "web", "drained"});
  CHECK(Contains(drained, "is NOT routable: an operator drained it."));
  CHECK(Contains(drained, "reason: \"kernel upgrade\""));
  CHECK(Contains(drained, "musterctl enable web drained"));
  auto doc = ParseJson<google::protobuf::Struct>(
      Ctl({"explain", "web", "drained", "-o", "json"}));
  CHECK_FALSE(doc.fields().at("routable").bool_value());
  CHECK(Contains(doc.fields()
                     .at("findings")
                     .struct_value()
                     .fields()
                     .at("adminState")
                     .string_value(),
                 "DRAINING"));
  CHECK(ParseJsonField<v1::Instance>(doc, "instance").admin_state() ==
        v1::ADMIN_STATE_DRAINING);
}

TEST_CASE_METHOD(Fixture, "explain a critical instance", "[e2e]") {
  auto doc = ParseJson<google::protobuf::Struct>(Ctl({"status", "-o", "json"}));
  INFO(
      "the daemon must run its health checker for an instance to turn "
      "critical");
  REQUIRE(
      ParseJsonField<v1::ServerInfo>(doc, "server").health_checker_enabled());

  // A TCP check against a port nobody listens on fails at once; one
  // failure makes it critical. Wait for the checker's verdict through
  // watch rather than by polling.
  std::string closed = "127.0.0.1:" + std::to_string(testing::FreePort());
  std::unique_ptr<Child> watch = StartWatch(
      daemon->address(), {"db", "-o", "json"}, temp.File("watch.err"));
  Ctl({"register", "db", "--address", "127.0.0.1", "--port",
       closed.substr(closed.rfind(':') + 1), "--id", "down", "--check-tcp",
       "--interval", "1s", "--check-timeout", "500ms", "--unhealthy-threshold",
       "1", "--deregister-after", "1h"});
  for (;;) {
    auto event = ParseJson<v1::Event>(NextLine(*watch, "db/down critical"));
    if (event.instance().health() == v1::HEALTH_CRITICAL) break;
  }
  std::string critical = Ctl({"explain", "db", "down"});
  CHECK(Contains(critical, "is NOT routable: its health is CRITICAL."));
  CHECK(Contains(critical,
                 "consecutive failures reached the unhealthy threshold of 1"));
  CHECK(Contains(critical, "Last check:"));
  CHECK(Contains(critical, "TCP every 1s, timeout 500ms"));
  CHECK(Contains(critical, "Eviction:"));
  CHECK(Contains(critical, "unless it recovers first"));
}

}  // namespace
}  // namespace muster::e2e
