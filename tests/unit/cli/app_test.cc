#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "cli/errors.h"
#include "tests/unit/cli/parse_args.h"

namespace muster::cli {
namespace {

TEST_CASE("Global flags have defaults and work after the command", "[app]") {
  CommandLine cl;
  Parsed p = ParseArgs(cl, {"list", "web", "-o", "json", "--realm", "prod",
                            "--routable", "--tag", "a", "--tag", "b"});
  REQUIRE_FALSE(p.exit.has_value());
  const Invocation& inv = cl.invocation();
  CHECK(inv.command == Command::kList);
  CHECK(inv.global.output == "json");
  CHECK(inv.global.realm == "prod");
  CHECK(inv.global.address == "127.0.0.1:7400");
  CHECK(inv.global.timeout == "5s");
  CHECK(inv.list.service == "web");
  CHECK(inv.list.routable_only);
  CHECK(inv.list.tags == std::vector<std::string>{"a", "b"});
}

TEST_CASE("MUSTER_ADDR and MUSTER_REALM set the defaults", "[app]") {
  setenv("MUSTER_ADDR", "10.1.2.3:9000", 1);
  setenv("MUSTER_REALM", "staging", 1);
  CommandLine cl;
  Parsed p = ParseArgs(cl, {"services"});
  unsetenv("MUSTER_ADDR");
  unsetenv("MUSTER_REALM");
  REQUIRE_FALSE(p.exit.has_value());
  CHECK(cl.invocation().global.address == "10.1.2.3:9000");
  CHECK(cl.invocation().global.realm == "staging");

  setenv("MUSTER_REALM", "staging", 1);
  CommandLine flag_wins;
  p = ParseArgs(flag_wins, {"--realm", "prod", "services"});
  unsetenv("MUSTER_REALM");
  CHECK(flag_wins.invocation().global.realm == "prod");
}

TEST_CASE("Every command parses to its Command", "[app]") {
  struct Case {
    std::vector<const char*> args;
    Command command;
  };
  const Case cases[] = {
      {{"status"}, Command::kStatus},
      {{"realm", "list"}, Command::kRealmList},
      {{"realm", "get", "prod"}, Command::kRealmGet},
      {{"realm", "create", "prod"}, Command::kRealmCreate},
      {{"realm", "update", "prod", "--description", "x"},
       Command::kRealmUpdate},
      {{"realm", "delete", "prod", "--force"}, Command::kRealmDelete},
      {{"services"}, Command::kServices},
      {{"list"}, Command::kList},
      {{"get", "web", "1"}, Command::kGet},
      {{"register", "web", "--address", "h", "--port", "1"},
       Command::kRegister},
      {{"deregister", "web", "1"}, Command::kDeregister},
      {{"heartbeat", "web", "1", "--incarnation", "7"}, Command::kHeartbeat},
      {{"drain", "web", "1", "--reason", "x"}, Command::kDrain},
      {{"enable", "web", "1"}, Command::kEnable},
      {{"watch", "web", "--from-revision", "3"}, Command::kWatch},
      {{"explain", "web", "1"}, Command::kExplain},
      {{"history", "web", "1"}, Command::kHistory},
      {{"completion", "bash"}, Command::kCompletionBash},
  };
  for (const Case& c : cases) {
    CommandLine cl;
    Parsed p = ParseArgs(cl, c.args);
    INFO(c.args.front() << " " << p.err);
    REQUIRE_FALSE(p.exit.has_value());
    CHECK(cl.invocation().command == c.command);
  }
}

TEST_CASE("Register flags land in RegisterArgs", "[app]") {
  CommandLine cl;
  Parsed p =
      ParseArgs(cl, {"register", "web", "--address", "10.0.0.7", "--port",
                     "8080", "--id", "web-1", "--meta", "a=1", "--check-grpc",
                     "--interval", "5s", "--weight", "3"});
  REQUIRE_FALSE(p.exit.has_value());
  const RegisterArgs& r = cl.invocation().register_args;
  CHECK(r.id == "web-1");
  CHECK(r.port == "8080");
  CHECK(r.meta == std::vector<std::string>{"a=1"});
  REQUIRE(r.check_grpc.has_value());
  CHECK(r.check_grpc->empty());
  CHECK(r.interval == std::optional<std::string>("5s"));
  CHECK(r.weight == std::optional<std::string>("3"));
  CHECK_FALSE(r.check_ttl.has_value());
}

TEST_CASE("realm update flags land in RealmUpdateArgs only when given",
          "[app]") {
  CommandLine cl;
  Parsed p = ParseArgs(cl, {"realm", "update", "prod", "--description", "",
                            "--default-deregister-after", "default"});
  REQUIRE_FALSE(p.exit.has_value());
  const RealmUpdateArgs& u = cl.invocation().realm_update;
  CHECK(u.name == "prod");
  CHECK(u.description == std::optional<std::string>(""));
  CHECK_FALSE(u.eviction_protection_share.has_value());
  CHECK(u.default_deregister_after == std::optional<std::string>("default"));
}

TEST_CASE("Usage errors exit 2 and say what is wrong", "[app]") {
  struct Case {
    std::vector<const char*> args;
    const char* message;
  };
  const Case cases[] = {
      {{}, "subcommand is required"},
      {{"bogus"}, "unknown command \"bogus\""},
      {{"realm", "bogus"}, "unknown command"},
      {{"get", "web"}, "ID is required"},
      {{"list", "--no-such-flag"}, "--no-such-flag"},
      {{"-o", "yaml", "status"}, "yaml"},
      {{"register", "web", "--address", "h"}, "--port is required"},
      {{"register", "web", "--address", "h", "--port", "1", "--check-tcp",
        "--check-ttl", "3s"},
       "excludes"},
      {{"realm", "delete"}, "NAME is required"},
      {{"realm", "update", "--description", "x"}, "NAME is required"},
  };
  for (const Case& c : cases) {
    CommandLine cl;
    Parsed p = ParseArgs(cl, c.args);
    INFO(p.err);
    REQUIRE(p.exit == std::optional<int>(kExitUsage));
    CHECK(p.err.rfind("musterctl: ", 0) == 0);
    CHECK(p.err.find(c.message) != std::string::npos);
    CHECK(p.out.empty());
  }
}

TEST_CASE("Help exits 0 with an example for every command", "[app]") {
  const std::vector<std::vector<const char*>> commands = {
      {"status"},
      {"realm"},
      {"realm", "list"},
      {"realm", "get"},
      {"realm", "create"},
      {"realm", "update"},
      {"realm", "delete"},
      {"services"},
      {"list"},
      {"get"},
      {"register"},
      {"deregister"},
      {"heartbeat"},
      {"drain"},
      {"enable"},
      {"update"},
      {"run"},
      {"watch"},
      {"explain"},
      {"history"},
      {"completion"},
      {"completion", "bash"}};
  for (std::vector<const char*> args : commands) {
    std::string joined = args.front();
    if (args.size() > 1) joined += std::string(" ") + args[1];
    args.push_back("--help");
    CommandLine cl;
    Parsed p = ParseArgs(cl, args);
    INFO(joined << "\n" << p.out);
    REQUIRE(p.exit == std::optional<int>(0));
    CHECK(p.out.find("Examples:\n  musterctl " + joined) != std::string::npos);
  }
  CommandLine root;
  Parsed p = ParseArgs(root, {"--help"});
  REQUIRE(p.exit == std::optional<int>(0));
  CHECK(p.out.find("Exit codes:") != std::string::npos);
  CHECK(p.out.find("MUSTER_ADDR") != std::string::npos);

  CommandLine all;
  p = ParseArgs(all, {"--help-all"});
  REQUIRE(p.exit == std::optional<int>(0));
  CHECK(p.out.find("--check-ttl") != std::string::npos);
  CHECK(p.out.find("--from-revision") != std::string::npos);
}

TEST_CASE("The bash completion script knows every command", "[app]") {
  CommandLine cl;
  std::string script = BashCompletion(cl.app());
  CHECK(script.find("complete -F _musterctl musterctl") != std::string::npos);
  for (const char* word :
       {"\"realm/delete\"", "\"realm/update\"", "\"completion/bash\"",
        "--check-http", "--force", "--eviction-protection-share",
        "--default-deregister-after", "--from-revision", "--routable",
        "--timeout"}) {
    INFO(word);
    CHECK(script.find(word) != std::string::npos);
  }
}

}  // namespace
}  // namespace muster::cli
