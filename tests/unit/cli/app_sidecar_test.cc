// Parsing of update, register -f, heartbeat --keep-alive and run, and the
// client library options run builds from its flags.

#include <catch2/catch.hpp>
#include <sstream>
#include <vector>

#include "cli/app.h"
#include "cli/errors.h"
#include "cli/sidecar_options.h"
#include "tests/unit/cli/parse_args.h"

namespace muster::cli {
namespace {

TEST_CASE("update flags land in UpdateArgs", "[app][update]") {
  CommandLine cl;
  Parsed p = ParseArgs(
      cl, {"update", "web", "web-1", "--add-tag", "a", "--add-tag", "b",
           "--remove-tag", "c", "--meta", "k=v", "--remove-meta", "old",
           "--weight", "5", "--zone", "", "--instance-version", "2"});
  INFO(p.err);
  REQUIRE_FALSE(p.exit.has_value());
  const Invocation& inv = cl.invocation();
  CHECK(inv.command == Command::kUpdate);
  CHECK(inv.update.ref.service == "web");
  CHECK(inv.update.ref.id == "web-1");
  CHECK(inv.update.add_tags == std::vector<std::string>{"a", "b"});
  CHECK(inv.update.remove_tags == std::vector<std::string>{"c"});
  CHECK(inv.update.meta == std::vector<std::string>{"k=v"});
  CHECK(inv.update.remove_meta == std::vector<std::string>{"old"});
  CHECK(inv.update.weight == std::optional<std::string>("5"));
  CHECK(inv.update.zone == std::optional<std::string>(""));
  CHECK(inv.update.version == std::optional<std::string>("2"));
  CHECK(inv.update.tags.empty());
}

TEST_CASE("register -f stands alone", "[app][register_file]") {
  CommandLine cl;
  Parsed p = ParseArgs(cl, {"register", "-f", "instances.yaml"});
  INFO(p.err);
  REQUIRE_FALSE(p.exit.has_value());
  CHECK(cl.invocation().command == Command::kRegister);
  CHECK(cl.invocation().register_args.file == "instances.yaml");

  CommandLine stdin_cl;
  REQUIRE_FALSE(ParseArgs(stdin_cl, {"register", "--file", "-"}).exit);
  CHECK(stdin_cl.invocation().register_args.file == "-");
}

TEST_CASE("heartbeat --keep-alive and its --interval", "[app][keepalive]") {
  CommandLine cl;
  Parsed p = ParseArgs(cl, {"heartbeat", "batch", "b-7", "--keep-alive",
                            "--interval", "5s", "--incarnation", "3"});
  INFO(p.err);
  REQUIRE_FALSE(p.exit.has_value());
  const HeartbeatArgs& h = cl.invocation().heartbeat;
  CHECK(cl.invocation().command == Command::kHeartbeat);
  CHECK(h.keep_alive);
  CHECK(h.interval == std::optional<std::string>("5s"));
  CHECK(h.target.ref.id == "b-7");
  CHECK(h.target.incarnation == std::optional<std::string>("3"));
}

TEST_CASE("run takes the command after --, flags of its own included",
          "[app][run]") {
  CommandLine cl;
  Parsed p = ParseArgs(
      cl, {"run", "--service", "web", "--port", "8080", "--check-grpc", "--tag",
           "v2", "--meta", "team=core", "--drain-grace", "1s", "--", "./server",
           "--port", "8080", "-v", "status"});
  INFO(p.err);
  REQUIRE_FALSE(p.exit.has_value());
  const Invocation& inv = cl.invocation();
  CHECK(inv.command == Command::kRun);
  const SidecarArgs& s = inv.sidecar;
  CHECK(s.service == "web");
  CHECK(s.port == "8080");
  CHECK(s.address == "127.0.0.1");
  REQUIRE(s.check_grpc.has_value());
  CHECK(s.check_grpc->empty());
  CHECK(s.tags == std::vector<std::string>{"v2"});
  CHECK(s.drain_grace == "1s");
  CHECK(s.command ==
        std::vector<std::string>{"./server", "--port", "8080", "-v", "status"});
}

TEST_CASE("Usage errors of the new commands exit 2", "[app]") {
  struct Case {
    std::vector<const char*> args;
    const char* message;
  };
  const Case cases[] = {
      {{"register", "-f", "x.yaml", "--port", "80"}, "excludes"},
      {{"register", "-f", "x.yaml", "web"}, "excludes"},
      {{"register", "web", "--port", "80"}, "--address is required"},
      {{"register", "--address", "h", "--port", "80"}, "SERVICE is required"},
      {{"heartbeat", "web", "1", "--interval", "5s"}, "--keep-alive"},
      {{"update", "web", "1", "--tag", "a", "--add-tag", "b"}, "excludes"},
      {{"update", "web"}, "ID is required"},
      {{"run", "--service", "web", "--", "./server"}, "--port is required"},
      {{"run", "--service", "web", "--port", "1"}, "COMMAND is required"},
      {{"run", "--service", "web", "--port", "1", "--check-tcp", "--ttl", "3s",
        "--", "x"},
       "excludes"},
  };
  for (const Case& c : cases) {
    CommandLine cl;
    Parsed p = ParseArgs(cl, c.args);
    INFO(c.args.front() << ": " << p.err);
    REQUIRE(p.exit == std::optional<int>(kExitUsage));
    CHECK(p.err.find(c.message) != std::string::npos);
  }
}

SidecarArgs Args() {
  SidecarArgs args;
  args.service = "web";
  args.port = "8080";
  args.command = {"./server"};
  return args;
}

TEST_CASE("run's flags become RegistrationOptions", "[run]") {
  SECTION("defaults: a TTL check of 10s on 127.0.0.1, 5s of grace") {
    absl::StatusOr<client::RegistrationOptions> o =
        BuildRegistrationOptions(Args());
    REQUIRE(o.ok());
    CHECK(o->service == "web");
    CHECK(o->address == "127.0.0.1");
    CHECK(o->port == 8080);
    CHECK(o->id.empty());
    CHECK(o->check == client::CheckType::kTtl);
    CHECK(o->ttl == std::chrono::seconds(10));
    CHECK(o->drain_grace == std::chrono::seconds(5));
  }
  SECTION("every flag") {
    SidecarArgs args = Args();
    args.address = "10.0.0.7";
    args.id = "web-a";
    args.check_http = "http://10.0.0.7:8080/health";
    args.tags = {"a", "b"};
    args.meta = {"team=core"};
    args.weight = "20";
    args.zone = "eu-1";
    args.version = "1.2";
    args.drain_grace = "0";
    absl::StatusOr<client::RegistrationOptions> o =
        BuildRegistrationOptions(args);
    REQUIRE(o.ok());
    CHECK(o->address == "10.0.0.7");
    CHECK(o->id == "web-a");
    CHECK(o->check == client::CheckType::kHttp);
    CHECK(o->http_url == "http://10.0.0.7:8080/health");
    CHECK(o->tags == std::vector<std::string>{"a", "b"});
    CHECK(o->metadata.at("team") == "core");
    CHECK(o->weight == 20);
    CHECK(o->zone == "eu-1");
    CHECK(o->version == "1.2");
    CHECK(o->drain_grace.count() == 0);
  }
  SECTION("--ttl, --check-tcp, --check-grpc NAME") {
    SidecarArgs ttl = Args();
    ttl.ttl = "2s";
    CHECK(BuildRegistrationOptions(ttl)->ttl == std::chrono::seconds(2));
    SidecarArgs tcp = Args();
    tcp.check_tcp = true;
    CHECK(BuildRegistrationOptions(tcp)->check == client::CheckType::kTcp);
    SidecarArgs grpc = Args();
    grpc.check_grpc = "api.v1";
    CHECK(BuildRegistrationOptions(grpc)->check == client::CheckType::kGrpc);
    CHECK(BuildRegistrationOptions(grpc)->grpc_service == "api.v1");
  }
}

TEST_CASE("run's bad flag values are usage errors naming the flag", "[run]") {
  struct Case {
    void (*edit)(SidecarArgs&);
    const char* message;
  };
  const Case cases[] = {
      {[](SidecarArgs& a) { a.port = "0"; }, "--port: "},
      {[](SidecarArgs& a) { a.command.clear(); }, "run: give the command"},
      {[](SidecarArgs& a) { a.address = ""; }, "--address: must not be empty"},
      {[](SidecarArgs& a) { a.ttl = "500ms"; }, "--ttl: want at least 1s"},
      {[](SidecarArgs& a) { a.ttl = "soon"; }, "--ttl: "},
      {[](SidecarArgs& a) { a.meta = {"x"}; }, "--meta: "},
      {[](SidecarArgs& a) { a.weight = "0"; }, "--weight: "},
      {[](SidecarArgs& a) { a.drain_grace = "-1s"; }, "--drain-grace: "},
      {[](SidecarArgs& a) {
         a.ttl = "3s";
         a.check_tcp = true;
       },
       "choose one of"},
  };
  for (const Case& c : cases) {
    SidecarArgs args = Args();
    c.edit(args);
    absl::StatusOr<client::RegistrationOptions> o =
        BuildRegistrationOptions(args);
    REQUIRE_FALSE(o.ok());
    INFO(o.status().message());
    CHECK(ExitCodeFor(o.status()) == kExitUsage);
    CHECK(o.status().message().find(c.message) == 0);
  }
}

TEST_CASE("run reaches musterd with musterctl's own settings", "[run]") {
  client::ClientOptions o = BuildClientOptions(
      {"10.0.0.5:7400", "10.0.0.6:7400"}, "prod", absl::Seconds(3), "s3cret",
      TlsFlags{false, "/etc/muster/ca.pem", "", ""});
  CHECK(o.addresses ==
        std::vector<std::string>{"10.0.0.5:7400", "10.0.0.6:7400"});
  CHECK(o.realm == "prod");
  CHECK(o.token == "s3cret");
  CHECK(o.call_timeout == std::chrono::seconds(3));
  CHECK(o.tls.enabled);  // --ca implies TLS
  CHECK(o.tls.ca_file == "/etc/muster/ca.pem");
  CHECK_FALSE(
      BuildClientOptions({"h:1"}, "default", absl::Seconds(1), "", TlsFlags{})
          .tls.enabled);
}

}  // namespace
}  // namespace muster::cli
