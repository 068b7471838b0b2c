// musterctl's exit codes against a real musterd (1: refused, 2: usage,
// 3: unreachable), plus help and bash completion.

#include <algorithm>
#include <fstream>

#include "muster/v1/realm.pb.h"
#include "muster/v1/registry.pb.h"
#include "tests/e2e/cli/harness.h"

namespace muster::e2e {
namespace {

using Fixture = DaemonFixture;

// What the daemon holds, to prove a failed command changed nothing.
struct State {
  uint64_t revision = 0;
  int instances = 0;
  int realms = 0;
};

State ReadState(DaemonFixture& f) {
  auto doc =
      ParseJson<google::protobuf::Struct>(f.Ctl({"status", "-o", "json"}));
  auto info = ParseJsonField<v1::ServerInfo>(doc, "server");
  return State{info.revision(), static_cast<int>(info.instance_count()),
               static_cast<int>(info.realm_count())};
}

TEST_CASE_METHOD(Fixture, "usage errors exit 2 and change nothing", "[e2e]") {
  Ctl({"register", "web", "--address", "10.0.0.1", "--port", "80", "--id",
       "w1"});
  State before = ReadState(*this);
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"bogus"},
      {"get", "web"},
      {"list", "--no-such-flag"},
      {"-o", "yaml", "list"},
      {"--timeout", "0", "list"},
      {"--timeout", "5x", "list"},
      {"--addr", "nonsense", "list"},
      {"--addr", "127.0.0.1:99999", "list"},
      {"register", "web", "--address", "10.0.0.2", "--port", "0"},
      {"register", "web", "--address", "10.0.0.2", "--port", "http"},
      {"register", "web", "--address", "10.0.0.2", "--port", "80", "--meta",
       "team"},
      {"register", "web", "--address", "10.0.0.2", "--port", "80",
       "--check-ttl", "10"},
      {"register", "web", "--address", "10.0.0.2", "--port", "80",
       "--check-tcp", "--check-ttl", "5s"},
      {"register", "web", "--address", "10.0.0.2", "--port", "80", "--interval",
       "5s"},
      {"register", "web", "--address", "10.0.0.2", "--port", "80",
       "--check-tcp", "--interval", "-5s"},
      {"deregister", "web", "w1", "--incarnation", "latest"},
      {"drain", "web"},
      {"list", "--meta", "=x"},
      {"watch", "--from-revision", "-1"},
      {"realm", "create", "x", "--eviction-protection-share", "2"},
      {"realm", "create", "x", "--default-deregister-after", "forever"},
      {"completion", "zsh"},
  };
  for (const std::vector<std::string>& args : bad) {
    RunResult r = CtlRaw(args);
    std::string joined;
    for (const std::string& a : args) joined += " " + a;
    INFO("musterctl" << joined << "\nstderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("musterctl: ", 0) == 0);
  }
  State after = ReadState(*this);
  CHECK(after.revision == before.revision);
  CHECK(after.instances == before.instances);
  CHECK(after.realms == before.realms);
}

TEST_CASE_METHOD(Fixture, "the daemon refusing a request is exit 1", "[e2e]") {
  State before = ReadState(*this);
  RunResult missing = CtlRaw({"get", "web", "nope"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.out.empty());
  CHECK(missing.err.rfind("musterctl: NOT_FOUND: ", 0) == 0);
  CHECK(Contains(missing.err, "nope"));

  // The daemon validates names; a rejected register stores nothing.
  RunResult invalid =
      CtlRaw({"register", "Bad_Name", "--address", "10.0.0.1", "--port", "80"});
  CHECK(invalid.exit_code == 1);
  CHECK(invalid.err.rfind("musterctl: INVALID_ARGUMENT: ", 0) == 0);
  RunResult bad_url = CtlRaw({"register", "web", "--address", "10.0.0.1",
                              "--port", "80", "--check-http", "not a url"});
  CHECK(bad_url.exit_code == 1);
  CHECK(bad_url.err.rfind("musterctl: INVALID_ARGUMENT: ", 0) == 0);

  RunResult no_realm = CtlRaw({"--realm", "nowhere", "services"});
  CHECK(no_realm.exit_code == 1);
  CHECK(no_realm.err.rfind("musterctl: NOT_FOUND: ", 0) == 0);

  State after = ReadState(*this);
  CHECK(after.revision == before.revision);
  CHECK(after.instances == 0);
}

TEST_CASE("an unreachable daemon is exit 3 naming the address", "[e2e]") {
  std::string address = "127.0.0.1:" + std::to_string(testing::FreePort());
  for (std::vector<std::string> args :
       {std::vector<std::string>{"status"},
        {"list", "-o", "json"},
        {"register", "web", "--address", "10.0.0.1", "--port", "80"},
        {"watch"},
        {"explain", "web", "w1"}}) {
    RunResult r = RunCtl(address, args);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("musterctl: cannot reach musterd at " + address, 0) == 0);
  }
  // --addr wins over MUSTER_ADDR.
  RunResult flag = RunCtl("127.0.0.1:1", {"--addr", address, "status"});
  CHECK(flag.exit_code == 3);
  CHECK(Contains(flag.err, address));
}

TEST_CASE_METHOD(Fixture,
                 "with several addresses musterctl uses the first that "
                 "answers",
                 "[e2e]") {
  const std::string dead = "127.0.0.1:" + std::to_string(testing::FreePort());
  RunResult r = RunCtl(dead + "," + daemon->address(), {"status"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.out, daemon->address() + " (reachable"));
  // None answering: exit 3 naming the first.
  const std::string other = "127.0.0.1:" + std::to_string(testing::FreePort());
  RunResult none = RunCtl(dead + "," + other, {"status"});
  CHECK(none.exit_code == 3);
  CHECK(none.err.rfind("musterctl: cannot reach musterd at " + dead, 0) == 0);
  // A bad element is a usage error naming it.
  RunResult bad = RunCtl(daemon->address() + ",nope", {"status"});
  CHECK(bad.exit_code == 2);
  CHECK(Contains(bad.err, "\"nope\""));
}

TEST_CASE_METHOD(Fixture, "a stopped daemon is exit 3", "[e2e]") {
  Ctl({"status"});
  REQUIRE(daemon->Terminate() == 0);
  RunResult r = CtlRaw({"status"});
  CHECK(r.exit_code == 3);
  CHECK(Contains(r.err, daemon->address()));
}

TEST_CASE("help documents every command with an example", "[e2e]") {
  const std::vector<std::string> commands = {
      "status",       "realm",        "realm list",     "realm get",
      "realm create", "realm delete", "services",       "list",
      "get",          "register",     "deregister",     "heartbeat",
      "drain",        "enable",       "watch",          "explain",
      "history",      "completion",   "completion bash"};
  RunResult all = RunCtl("127.0.0.1:1", {"--help-all"});
  REQUIRE(all.exit_code == 0);
  CHECK(Contains(all.out, "Exit codes:"));
  for (const std::string& command : commands) {
    INFO(command);
    CHECK(Contains(all.out, "Usage: musterctl " + command + " [OPTIONS]"));
    std::vector<std::string> args = Words(command);
    args.push_back("--help");
    RunResult help = RunCtl("127.0.0.1:1", args);
    CHECK(help.exit_code == 0);
    CHECK(help.err.empty());
    CHECK(Contains(help.out, "Usage: musterctl " + command + " [OPTIONS]"));
    CHECK(Contains(help.out, "Examples:\n  musterctl " + command));
    CHECK(Contains(all.out, "Examples:\n  musterctl " + command));
  }
}

TEST_CASE("bash completion completes commands and flags", "[e2e]") {
  RunResult script = RunCtl("127.0.0.1:1", {"completion", "bash"});
  REQUIRE(script.exit_code == 0);
  testing::TempDir dir;
  std::string path = dir.File("musterctl.bash");
  {
    std::ofstream file(path);
    file << script.out;
  }
  auto complete = [&path](const std::string& words) {
    // COMP_WORDS as bash would split the command line; the last word is
    // the one being completed.
    std::string program = "source " + path + "\nCOMP_WORDS=(" + words +
                          ")\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
                          "_musterctl\necho \"${COMPREPLY[*]}\"\n";
    RunResult r = Run(SpawnOptions{{"/bin/bash", "--norc", "-c", program},
                                   {},
                                   Sink::Pipe(),
                                   Sink::Pipe()},
                      absl::Seconds(10));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return Words(r.out);
  };
  CHECK(complete("musterctl re") ==
        std::vector<std::string>{"realm", "register"});
  CHECK(complete("musterctl realm d") == std::vector<std::string>{"delete"});
  CHECK(complete("musterctl realm delete --f") ==
        std::vector<std::string>{"--force"});
  CHECK(complete("musterctl -o j") == std::vector<std::string>{"json"});
  CHECK(complete("musterctl --realm realm li") ==
        std::vector<std::string>{"list"});
  std::vector<std::string> checks = complete("musterctl register web --check-");
  std::sort(checks.begin(), checks.end());
  CHECK(checks ==
        std::vector<std::string>{"--check-grpc", "--check-grpc-tls",
                                 "--check-http", "--check-tcp",
                                 "--check-timeout", "--check-tls-server-name",
                                 "--check-tls-skip-verify", "--check-ttl"});
}

}  // namespace
}  // namespace muster::e2e
