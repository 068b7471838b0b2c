// The commands against an in-process fake daemon on 127.0.0.1:0: what is
// sent, what is printed, pagination, the heartbeat's incarnation lookup,
// watch's resume logic, and the exit-code classes of real gRPC failures.

#include "cli/commands.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/errors.h"
#include "google/protobuf/util/json_util.h"
#include "tests/unit/cli/fake_daemon.h"

namespace muster::cli {
namespace {

v1::Instance MakeInstance(const std::string& service, const std::string& id) {
  v1::Instance i;
  i.set_realm("default");
  i.set_service(service);
  i.set_id(id);
  i.set_address("10.0.0.1");
  i.set_port(8080);
  i.set_health(v1::HEALTH_PASSING);
  i.set_admin_state(v1::ADMIN_STATE_ENABLED);
  i.set_create_revision(42);
  return i;
}

v1::Event MakeEvent(uint64_t revision, const std::string& id) {
  v1::Event e;
  e.set_revision(revision);
  e.set_type(v1::Event::PUT);
  e.set_cause(v1::Event::HEALTH_CHANGED);
  *e.mutable_instance() = MakeInstance("web", id);
  return e;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_CASE("list follows every page", "[commands]") {
  Harness h;
  h.registry.SetInstances({MakeInstance("api", "a1"), MakeInstance("web", "w1"),
                           MakeInstance("web", "w2"), MakeInstance("web", "w3"),
                           MakeInstance("web", "w4")});
  Context ctx = h.MakeContext(Format::kTable);
  ListArgs args;
  args.tags = {"canary"};
  absl::Status s = RunList(ctx, args);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::vector<v1::ListInstancesRequest> requests = h.registry.list_requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[1].page_token() == "2");
  CHECK(requests[2].page_token() == "4");
  CHECK(requests[2].tags(0) == "canary");
  std::vector<std::string> lines = Lines(h.out.str());
  REQUIRE(lines.size() == 6);
  CHECK(lines[0].rfind("SERVICE  ID  ADDRESS", 0) == 0);
  CHECK(lines[5].rfind("web      w4  10.0.0.1:8080  PASSING", 0) == 0);
}

TEST_CASE("list -o json prints one document with every instance",
          "[commands]") {
  Harness h;
  h.registry.SetInstances({MakeInstance("web", "w1"), MakeInstance("web", "w2"),
                           MakeInstance("web", "w3")});
  Context ctx = h.MakeContext(Format::kJson);
  REQUIRE(RunList(ctx, ListArgs{}).ok());
  v1::ListInstancesResponse parsed;
  REQUIRE(
      google::protobuf::util::JsonStringToMessage(h.out.str(), &parsed).ok());
  CHECK(parsed.instances_size() == 3);
  CHECK(parsed.revision() == 77);
  CHECK(parsed.next_page_token().empty());
}

v1::ServiceSummary MakeService(const std::string& name, uint64_t instances) {
  v1::ServiceSummary s;
  s.set_name(name);
  s.set_instance_count(instances);
  s.set_routable_count(instances - 1);
  return s;
}

TEST_CASE("services follows every page", "[commands]") {
  Harness h;
  h.registry.SetServices({MakeService("api", 3), MakeService("db", 2),
                          MakeService("queue", 4), MakeService("web", 5),
                          MakeService("worker", 1)});
  SECTION("table") {
    Context ctx = h.MakeContext(Format::kTable);
    absl::Status s = RunServices(ctx);
    INFO(s.ToString());
    REQUIRE(s.ok());
    std::vector<v1::ListServicesRequest> requests =
        h.registry.services_requests();
    REQUIRE(requests.size() == 3);
    CHECK(requests[0].page_token().empty());
    CHECK(requests[1].page_token() == "2");
    CHECK(requests[2].page_token() == "4");
    CHECK(requests[2].realm() == "default");
    std::vector<std::string> lines = Lines(h.out.str());
    REQUIRE(lines.size() == 6);
    CHECK(lines[0].rfind("SERVICE", 0) == 0);
    CHECK(lines[1].rfind("api ", 0) == 0);
    CHECK(lines[5].rfind("worker ", 0) == 0);
  }
  SECTION("json: one document, the first page's revision") {
    Context ctx = h.MakeContext(Format::kJson);
    REQUIRE(RunServices(ctx).ok());
    v1::ListServicesResponse parsed;
    REQUIRE(
        google::protobuf::util::JsonStringToMessage(h.out.str(), &parsed).ok());
    REQUIRE(parsed.services_size() == 5);
    CHECK(parsed.services(4).name() == "worker");
    CHECK(parsed.revision() == 77);
    CHECK(parsed.next_page_token().empty());
  }
}

TEST_CASE("heartbeat looks up the incarnation unless given", "[commands]") {
  Harness h;
  h.registry.SetInstances({MakeInstance("web", "w1")});
  Context ctx = h.MakeContext(Format::kTable);
  InstanceIncarnationArgs args{{"web", "w1"}, std::nullopt};
  REQUIRE(RunHeartbeat(ctx, args).ok());
  CHECK(h.registry.get_calls() == 1);
  args.incarnation = "7";
  REQUIRE(RunHeartbeat(ctx, args).ok());
  CHECK(h.registry.get_calls() == 1);
  CHECK(h.registry.heartbeat_incarnations() == std::vector<uint64_t>{42, 7});
  CHECK(h.out.str().find("incarnation 42: health PASSING") !=
        std::string::npos);
}

TEST_CASE("a bad flag value sends nothing", "[commands]") {
  Harness h;
  Context ctx = h.MakeContext(Format::kTable);
  RegisterArgs args;
  args.service = "web";
  args.address = "10.0.0.1";
  args.port = "8080";
  args.meta = {"novalue"};
  absl::Status s = RunRegister(ctx, args);
  CHECK(ExitCodeFor(s) == kExitUsage);
  CHECK(h.registry.register_calls() == 0);
  args.meta.clear();
  REQUIRE(RunRegister(ctx, args).ok());
  CHECK(h.registry.register_calls() == 1);
  CHECK(h.out.str() ==
        "registered web/generated-1 incarnation 9 (revision 9)\n");
}

TEST_CASE("the daemon's errors are exit 1 with its message", "[commands]") {
  Harness h;
  Context ctx = h.MakeContext(Format::kTable);
  absl::Status missing = RunGet(ctx, InstanceRef{"web", "nope"});
  CHECK(ExitCodeFor(missing) == kExitServerError);
  CHECK(ErrorLine(missing) ==
        "musterctl: NOT_FOUND: instance \"nope\" not found in service "
        "\"web\"");
  // UNAVAILABLE from a connected daemon is its store failing, not the
  // daemon being unreachable.
  absl::Status store = RunStatus(ctx);
  CHECK(ExitCodeFor(store) == kExitServerError);
  CHECK(ErrorLine(store) == "musterctl: UNAVAILABLE: store is read-only");
}

TEST_CASE("a closed port is exit 3 naming the address", "[commands]") {
  // A port that was free a moment ago: bind port 0, note it, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  std::string address = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  Client client(ConnectionOptions{address, absl::Seconds(2)});
  std::ostringstream out;
  std::ostringstream err;
  Context ctx{client,
              "default",
              OutputOptions{},
              out,
              err,
              [] { return absl::FromUnixSeconds(0); },
              [](absl::Duration) {}};
  for (absl::Status s : {RunServices(ctx), RunWatch(ctx, WatchArgs{})}) {
    CHECK(ExitCodeFor(s) == kExitUnreachable);
    CHECK(ErrorLine(s).find("cannot reach musterd at " + address) !=
          std::string::npos);
  }
}

TEST_CASE("an address that never answers is exit 3 after the timeout",
          "[commands]") {
  // A socket that listens but never speaks HTTP/2: connections complete in
  // the kernel's backlog and the channel never becomes ready.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(listen(fd, 16) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  std::string address = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  Client client(ConnectionOptions{address, absl::Milliseconds(300)});
  std::ostringstream out;
  std::ostringstream err;
  Context ctx{client,
              "default",
              OutputOptions{},
              out,
              err,
              [] { return absl::FromUnixSeconds(0); },
              [](absl::Duration) {}};
  absl::Status s = RunServices(ctx);
  close(fd);
  INFO(ErrorLine(s));
  CHECK(ExitCodeFor(s) == kExitUnreachable);
  // gRPC reports a handshake that never completes as DEADLINE_EXCEEDED or
  // UNAVAILABLE depending on timing; either way the daemon is unreachable.
  CHECK(ErrorLine(s).find("cannot reach musterd at " + address + " (") !=
        std::string::npos);
}

v1::WatchResponse Response(v1::WatchResponse::Kind kind, uint64_t revision,
                           std::vector<v1::Event> events) {
  v1::WatchResponse r;
  r.set_kind(kind);
  r.set_revision(revision);
  for (v1::Event& e : events) *r.add_events() = std::move(e);
  return r;
}

TEST_CASE("watch resumes after a drop and re-lists after OUT_OF_RANGE",
          "[commands]") {
  Harness h;
  // 1: snapshot (3, 4) up to 5, one live event (6), then the stream drops.
  h.registry.AddWatchScript(
      {{Response(v1::WatchResponse::SNAPSHOT, 4,
                 {MakeEvent(3, "a"), MakeEvent(4, "b")}),
        Response(v1::WatchResponse::SNAPSHOT_END, 5, {}),
        Response(v1::WatchResponse::EVENTS, 6, {MakeEvent(6, "a")})},
       grpc::Status(grpc::StatusCode::UNAVAILABLE, "daemon restarting")});
  // 2: resuming from 7 is too old.
  h.registry.AddWatchScript(
      {{},
       grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                    "revision 7 is compacted; oldest retained is 9")});
  // 3: a fresh snapshot, then live events.
  h.registry.AddWatchScript(
      {{Response(v1::WatchResponse::SNAPSHOT, 9, {MakeEvent(9, "a")}),
        Response(v1::WatchResponse::SNAPSHOT_END, 9, {}),
        Response(v1::WatchResponse::EVENTS, 11,
                 {MakeEvent(10, "b"), MakeEvent(11, "c")})},
       grpc::Status::OK});
  Context ctx = h.MakeContext(Format::kTable);
  WatchArgs args;
  args.max_events = "6";
  absl::Status s = RunWatch(ctx, args);
  INFO(s.ToString() << "\n" << h.err.str());
  REQUIRE(s.ok());
  CHECK(h.registry.watch_from() == std::vector<uint64_t>{0, 7, 0});
  std::vector<std::string> lines = Lines(h.out.str());
  REQUIRE(lines.size() == 7);  // header + 6 events
  const char* expected[] = {"3 ", "4 ", "6 ", "9 ", "10 ", "11 "};
  for (size_t i = 0; i < 6; ++i) {
    INFO(lines[i + 1]);
    CHECK(lines[i + 1].rfind(expected[i], 0) == 0);
  }
  CHECK(h.err.str().find("reconnecting in 200ms from revision 7") !=
        std::string::npos);
  CHECK(h.err.str().find("re-listing") != std::string::npos);
  CHECK(h.sleeps.size() == 1);
}

TEST_CASE("watch -o json prints one event per line", "[commands]") {
  Harness h;
  h.registry.AddWatchScript(
      {{Response(v1::WatchResponse::EVENTS, 13,
                 {MakeEvent(12, "a"), MakeEvent(13, "b")})},
       grpc::Status::OK});
  Context ctx = h.MakeContext(Format::kJson);
  WatchArgs args;
  args.from_revision = "12";
  args.max_events = "2";
  REQUIRE(RunWatch(ctx, args).ok());
  CHECK(h.registry.watch_from() == std::vector<uint64_t>{12});
  std::vector<std::string> lines = Lines(h.out.str());
  REQUIRE(lines.size() == 2);
  v1::Event e;
  REQUIRE(google::protobuf::util::JsonStringToMessage(lines[1], &e).ok());
  CHECK(e.revision() == 13);
  CHECK(e.instance().id() == "b");
}

TEST_CASE("watch gives up on a refusal", "[commands]") {
  Harness h;  // no script: the fake answers NOT_FOUND
  Context ctx = h.MakeContext(Format::kTable);
  absl::Status s = RunWatch(ctx, WatchArgs{});
  CHECK(ExitCodeFor(s) == kExitServerError);
  CHECK(h.sleeps.empty());
}

}  // namespace
}  // namespace muster::cli
