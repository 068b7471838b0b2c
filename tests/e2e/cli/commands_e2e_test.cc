// musterctl's query and change commands against a real musterd, in table
// and JSON output.

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <regex>

#include "muster/v1/realm.pb.h"
#include "muster/v1/registry.pb.h"
#include "tests/e2e/cli/harness.h"

namespace muster::e2e {
namespace {

using Fixture = DaemonFixture;

// The row of a table whose first columns are `first` (and `second`).
std::vector<std::string> Row(const std::string& table, const std::string& first,
                             const std::string& second = "") {
  for (const std::string& line : SplitLines(table)) {
    std::vector<std::string> w = Words(line);
    if (!w.empty() && w[0] == first && (second.empty() || w[1] == second)) {
      return w;
    }
  }
  FAIL("no row " << first << " " << second << " in:\n" << table);
  return {};
}

TEST_CASE_METHOD(Fixture, "status reports the daemon revision and realms",
                 "[e2e]") {
  std::string table = Ctl({"status"});
  CHECK(Contains(table, "Daemon:"));
  CHECK(Contains(table, daemon->address() + " (reachable, health SERVING)"));
  CHECK(Contains(table, "Version:"));
  CHECK(Contains(table, "Revision:"));
  CHECK(Row(table, "default").size() >= 4);

  Ctl({"register", "web", "--address", "10.0.0.1", "--port", "80"});
  auto doc = ParseJson<google::protobuf::Struct>(Ctl({"status", "-o", "json"}));
  CHECK(doc.fields().at("address").string_value() == daemon->address());
  CHECK(doc.fields().at("reachable").bool_value());
  CHECK(doc.fields().at("health").string_value() == "SERVING");
  auto info = ParseJsonField<v1::ServerInfo>(doc, "server");
  CHECK(info.revision() > 0);
  CHECK(info.instance_count() == 1);
  CHECK(info.data_dir() == temp.File("data"));
  auto realms = ParseJsonField<v1::ListRealmsResponse>(doc, "realms");
  REQUIRE(realms.realms_size() >= 1);
  CHECK(realms.realms(0).realm().name() == "default");
  CHECK(realms.realms(0).instance_count() == 1);
}

TEST_CASE_METHOD(Fixture, "realm create list get and delete", "[e2e]") {
  CHECK(Ctl({"realm", "create", "staging", "--description", "pre-production",
             "--eviction-protection-share", "0.3", "--default-deregister-after",
             "30m"})
            .rfind("realm \"staging\" created (revision ", 0) == 0);
  auto prod =
      ParseJson<v1::Realm>(Ctl({"realm", "create", "prod", "-o", "json"}));
  CHECK(prod.name() == "prod");
  CHECK(prod.create_revision() > 0);

  std::string table = Ctl({"realm", "list"});
  CHECK(Words(SplitLines(table)[0])[0] == "REALM");
  CHECK(Row(table, "staging").back() == "pre-production");
  Row(table, "prod");
  Row(table, "default");
  auto list =
      ParseJson<v1::ListRealmsResponse>(Ctl({"realm", "list", "-o", "json"}));
  CHECK(list.realms_size() == 3);

  auto staging =
      ParseJson<v1::Realm>(Ctl({"realm", "get", "staging", "-o", "json"}));
  CHECK(staging.settings().description() == "pre-production");
  CHECK(staging.settings().eviction_protection_share() == 0.3);
  CHECK(staging.settings().default_deregister_after().seconds() == 1800);
  std::string get = Ctl({"realm", "get", "staging"});
  CHECK(Contains(get, "Eviction protection share:"));
  CHECK(Contains(get, "30m"));

  RunResult again = CtlRaw({"realm", "create", "staging"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.rfind("musterctl: ALREADY_EXISTS: ", 0) == 0);

  Ctl({"--realm", "staging", "register", "web", "--address", "10.0.0.1",
       "--port", "80", "--id", "w1"});
  RunResult in_staging =
      CtlRaw({"list", "-o", "json"}, {"MUSTER_REALM=staging"});
  REQUIRE(in_staging.exit_code == 0);
  CHECK(ParseJson<v1::ListInstancesResponse>(in_staging.out).instances_size() ==
        1);
  CHECK(ParseJson<v1::ListInstancesResponse>(Ctl({"list", "-o", "json"}))
            .instances_size() == 0);
  RunResult busy = CtlRaw({"realm", "delete", "staging"});
  CHECK(busy.exit_code == 1);
  CHECK(busy.err.rfind("musterctl: FAILED_PRECONDITION: ", 0) == 0);
  CHECK(Ctl({"realm", "delete", "staging", "--force"})
            .find("1 instances deleted") != std::string::npos);
  RunResult gone = CtlRaw({"realm", "get", "staging"});
  CHECK(gone.exit_code == 1);
  CHECK(gone.err.rfind("musterctl: NOT_FOUND: ", 0) == 0);
  auto deleted = ParseJson<v1::DeleteRealmResponse>(
      Ctl({"realm", "delete", "prod", "-o", "json"}));
  CHECK(deleted.revision() > 0);
  CHECK(CtlRaw({"realm", "delete", "default"}).exit_code == 1);
}

TEST_CASE_METHOD(Fixture, "register services list and get", "[e2e]") {
  std::string out = Ctl({"register", "web", "--address", "10.0.0.1", "--port",
                         "8080", "--id", "web-1", "--tag", "canary", "--meta",
                         "team=payments", "--zone", "eu-1"});
  std::smatch m;
  REQUIRE(std::regex_match(
      out, m,
      std::regex("registered web/web-1 incarnation ([0-9]+) \\(revision "
                 "([0-9]+)\\)\n")));
  CHECK(m[1] == m[2]);
  std::string incarnation = m[1];
  Ctl({"register", "web", "--address", "10.0.0.2", "--port", "8080", "--id",
       "web-2", "--zone", "eu-2"});
  auto api = ParseJson<v1::RegisterResponse>(
      Ctl({"register", "api", "--address", "10.0.0.3", "--port", "9090", "-o",
           "json"}));
  CHECK(api.created());
  CHECK_FALSE(api.instance().id().empty());
  CHECK(api.instance().create_revision() == api.revision());
  // Re-registering updates the instance and keeps its incarnation.
  CHECK(Ctl({"register", "web", "--address", "10.0.0.1", "--port", "8080",
             "--id", "web-1", "--tag", "canary", "--meta", "team=payments",
             "--zone", "eu-1", "--weight", "5"})
            .rfind("updated web/web-1 incarnation " + incarnation + " ", 0) ==
        0);

  std::string services = Ctl({"services"});
  CHECK(Words(SplitLines(services)[0]) ==
        std::vector<std::string>{"SERVICE", "INSTANCES", "ROUTABLE"});
  CHECK(Row(services, "web")[1] == "2");
  CHECK(Row(services, "api")[1] == "1");
  auto summary =
      ParseJson<v1::ListServicesResponse>(Ctl({"services", "-o", "json"}));
  REQUIRE(summary.services_size() == 2);
  CHECK(summary.services(0).name() == "api");
  CHECK(summary.services(1).instance_count() == 2);

  std::vector<std::string> lines = SplitLines(Ctl({"list"}));
  REQUIRE(lines.size() == 4);
  CHECK(Words(lines[0]) == std::vector<std::string>{"SERVICE", "ID", "ADDRESS",
                                                    "HEALTH", "ADMIN", "ZONE",
                                                    "TAGS", "AGE"});
  // Columns line up: every row starts its ADDRESS under the header's.
  size_t address_column = lines[0].find("ADDRESS");
  for (size_t i = 1; i < lines.size(); ++i) {
    CHECK(lines[i].find("10.0.0.") == address_column);
  }
  std::vector<std::string> web1 = Row(Ctl({"list"}), "web", "web-1");
  CHECK(web1[2] == "10.0.0.1:8080");
  CHECK(web1[4] == "ENABLED");
  CHECK(web1[5] == "eu-1");
  CHECK(web1[6] == "canary");

  auto only = [this](std::vector<std::string> args) {
    args.insert(args.begin(), "list");
    args.push_back("-o");
    args.push_back("json");
    std::vector<std::string> ids;
    auto response = ParseJson<v1::ListInstancesResponse>(Ctl(args));
    for (const v1::Instance& i : response.instances()) {
      ids.push_back(i.id());
    }
    return ids;
  };
  CHECK(only({}).size() == 3);
  CHECK(only({"web"}) == std::vector<std::string>{"web-1", "web-2"});
  CHECK(only({"--tag", "canary"}) == std::vector<std::string>{"web-1"});
  CHECK(only({"--meta", "team=payments"}) == std::vector<std::string>{"web-1"});
  CHECK(only({"--zone", "eu-2"}) == std::vector<std::string>{"web-2"});
  CHECK(only({"nothing-here"}).empty());

  std::string get = Ctl({"get", "web", "web-1"});
  for (const char* part : {"Service:", "10.0.0.1:8080", "Incarnation:",
                           "team=payments", "Check:", "Weight:"}) {
    INFO(part);
    CHECK(Contains(get, part));
  }
  auto instance =
      ParseJson<v1::Instance>(Ctl({"get", "web", "web-1", "-o", "json"}));
  CHECK(instance.weight() == 5);
  CHECK(instance.metadata().at("team") == "payments");
  CHECK(std::to_string(instance.create_revision()) == incarnation);
  CHECK(instance.modify_revision() > instance.create_revision());
}

TEST_CASE_METHOD(Fixture, "drain enable heartbeat and deregister", "[e2e]") {
  Ctl({"register", "web", "--address", "10.0.0.1", "--port", "80", "--id",
       "w1"});
  auto routable = [this] {
    return ParseJson<v1::ListInstancesResponse>(
               Ctl({"list", "--routable", "-o", "json"}))
        .instances_size();
  };
  CHECK(routable() == 1);
  CHECK(Ctl({"drain", "web", "w1", "--reason", "kernel upgrade"}) ==
        "web/w1 is now DRAINING (reason: \"kernel upgrade\"); not routable\n");
  CHECK(routable() == 0);
  auto drained =
      ParseJson<v1::Instance>(Ctl({"get", "web", "w1", "-o", "json"}));
  CHECK(drained.admin_state() == v1::ADMIN_STATE_DRAINING);
  CHECK(drained.admin_reason() == "kernel upgrade");
  auto enabled =
      ParseJson<v1::Instance>(Ctl({"enable", "web", "w1", "-o", "json"}));
  CHECK(enabled.admin_state() == v1::ADMIN_STATE_ENABLED);
  CHECK(routable() == 1);

  auto batch = ParseJson<v1::RegisterResponse>(
      Ctl({"register", "batch", "--address", "10.0.0.9", "--port", "9000",
           "--id", "b1", "--check-ttl", "30s", "-o", "json"}));
  std::string incarnation = std::to_string(batch.instance().create_revision());
  CHECK(batch.instance().check().kind() == v1::CHECK_KIND_TTL);
  CHECK(batch.instance().check().ttl().seconds() == 30);
  CHECK(Ctl({"heartbeat", "batch", "b1"})
            .rfind("heartbeat sent for batch/b1 incarnation " + incarnation +
                       ": health ",
                   0) == 0);
  auto beat = ParseJson<v1::HeartbeatResponse>(
      Ctl({"heartbeat", "batch", "b1", "--incarnation", incarnation, "-o",
           "json"}));
  CHECK(beat.admin_state() == v1::ADMIN_STATE_ENABLED);
  RunResult stale =
      CtlRaw({"heartbeat", "batch", "b1", "--incarnation", "999999"});
  CHECK(stale.exit_code == 1);
  CHECK(stale.err.rfind("musterctl: FAILED_PRECONDITION: ", 0) == 0);

  auto dereg = ParseJson<v1::DeregisterResponse>(
      Ctl({"deregister", "batch", "b1", "-o", "json"}));
  CHECK(dereg.revision() > batch.revision());
  CHECK(Ctl({"deregister", "web", "w1"})
            .rfind("deregistered web/w1 (revision ", 0) == 0);
  for (std::vector<std::string> args :
       {std::vector<std::string>{"get", "web", "w1"},
        {"deregister", "web", "w1"},
        {"heartbeat", "batch", "b1"},
        {"heartbeat", "batch", "b1", "--incarnation", incarnation}}) {
    RunResult r = CtlRaw(args);
    INFO(args[0] << " " << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.rfind("musterctl: NOT_FOUND: ", 0) == 0);
  }
}

TEST_CASE_METHOD(Fixture, "history lists one instance's events in order",
                 "[e2e]") {
  Ctl({"register", "web", "--address", "10.0.0.1", "--port", "80", "--id",
       "w1"});
  Ctl({"register", "web", "--address", "10.0.0.2", "--port", "80", "--id",
       "w2"});
  Ctl({"drain", "web", "w1", "--reason", "deploy"});
  Ctl({"enable", "web", "w1"});
  Ctl({"deregister", "web", "w1"});

  auto events = ParseJson<v1::ListEventsResponse>(
      Ctl({"history", "web", "w1", "-o", "json"}));
  std::vector<v1::Event::Cause> causes;
  uint64_t last = 0;
  for (const v1::Event& e : events.events()) {
    CHECK(e.instance().id() == "w1");
    CHECK(e.revision() > last);
    last = e.revision();
    causes.push_back(e.cause());
  }
  CHECK(causes == std::vector<v1::Event::Cause>{
                      v1::Event::REGISTERED, v1::Event::ADMIN_CHANGED,
                      v1::Event::ADMIN_CHANGED, v1::Event::DEREGISTERED});

  std::vector<std::string> lines = SplitLines(Ctl({"history", "web", "w1"}));
  REQUIRE(lines.size() == 5);
  CHECK(Words(lines[0])[0] == "REVISION");
  CHECK(Contains(lines[0], "ACTOR"));
  CHECK(Contains(lines[1], "REGISTERED"));
  CHECK(Contains(lines[2], "DRAINING"));
  // Without access tokens or client certificates, callers are anonymous.
  for (const v1::Event& e : events.events()) CHECK(e.actor() == "anonymous");
  CHECK(Contains(lines[2], "anonymous"));

  // explain names who made the latest change of a live instance, and why.
  Ctl({"drain", "web", "w2", "--reason", "kernel update"});
  std::string explained = Ctl({"explain", "web", "w2"});
  INFO(explained);
  CHECK(Contains(explained,
                 "ADMIN_CHANGED by anonymous (drained: kernel "
                 "update)"));
  CHECK(Contains(lines[4], "DELETE"));
  CHECK(Contains(lines[4], "DEREGISTERED"));
}

}  // namespace
}  // namespace muster::e2e

namespace muster::e2e {
namespace {

// All of what a pty master holds once the writer has exited.
std::string DrainPty(int master) {
  std::string text;
  for (;;) {
    pollfd fd{master, POLLIN, 0};
    if (poll(&fd, 1, 0) <= 0) break;
    char buffer[4096];
    ssize_t got = read(master, buffer, sizeof(buffer));
    if (got <= 0) break;  // EIO: no writer left
    text.append(buffer, got);
  }
  return text;
}

TEST_CASE_METHOD(DaemonFixture, "health is coloured only on a terminal",
                 "[e2e]") {
  Ctl({"register", "web", "--address", "10.0.0.1", "--port", "80", "--id",
       "w1"});
  CHECK_FALSE(Contains(Ctl({"list"}), "\x1b["));

  for (bool no_color : {false, true}) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(grantpt(master) == 0);
    REQUIRE(unlockpt(master) == 0);
    SpawnOptions options =
        CtlOptions(daemon->address(), {"list"},
                   no_color ? std::vector<std::string>{"NO_COLOR=1"}
                            : std::vector<std::string>{});
    options.out = Sink::File(ptsname(master));
    absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(options);
    REQUIRE(child.ok());
    std::optional<int> code = (*child)->Wait(absl::Seconds(20));
    std::string screen = DrainPty(master);
    close(master);
    INFO("NO_COLOR " << no_color << ": " << screen);
    REQUIRE(code == std::optional<int>(0));
    CHECK(Contains(screen, "w1"));
    CHECK(Contains(screen, "\x1b[32mPASSING\x1b[0m") != no_color);
  }
}

}  // namespace
}  // namespace muster::e2e
