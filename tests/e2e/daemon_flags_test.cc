// The real musterd binary: bad flags, SIGHUP, the start-up order (ports
// before the data dir) and libprotobuf's complaints in musterd's log.

#include <grpcpp/generic/generic_stub.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/child_process.h"
#include "testkit/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

// LogLimiter::Options{}: what musterd lets through of protobuf's lines.
constexpr int kProtobufLogBurst = 10;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A listening socket on 127.0.0.1 holding a port musterd is then given.
class TakenPort {
 public:
  TakenPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ >= 0 &&
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::listen(fd_, 1) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~TakenPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  TakenPort(const TakenPort&) = delete;
  TakenPort& operator=(const TakenPort&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Runs musterd with exactly `args`, to its exit.
RunResult RunMusterd(std::vector<std::string> args) {
  SpawnOptions options;
  options.argv = {MUSTERD_PATH};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  return Run(options, absl::Seconds(30));
}

// Waits (on inotify, up to `timeout`) until the file at `path` holds
// `text`.
bool WaitForText(const std::string& path, const std::string& text,
                 absl::Duration timeout) {
  const int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return false;
  ::inotify_add_watch(fd, path.c_str(), IN_MODIFY);
  const absl::Time deadline = absl::Now() + timeout;
  bool found = false;
  for (;;) {
    // Read after the watch is set, so no write between the two is missed.
    found = absl::StrContains(ReadFile(path), text);
    const absl::Duration left = deadline - absl::Now();
    if (found || left <= absl::ZeroDuration()) break;
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1,
               static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) > 0) {
      char events[4096];
      while (::read(fd, events, sizeof(events)) > 0) {
      }
    }
  }
  ::close(fd);
  return found;
}

std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(seconds));
  return context;
}

// The value of an unlabelled counter in musterd's /metrics; -1 if absent.
double Metric(int http_port, const std::string& name) {
  httplib::Client client("127.0.0.1", http_port);
  client.set_read_timeout(5, 0);
  httplib::Result result = client.Get("/metrics");
  if (!result || result->status != 200) return -1;
  for (absl::string_view line : absl::StrSplit(result->body, '\n')) {
    if (!absl::ConsumePrefix(&line, name + " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return -1;
}

}  // namespace

TEST_CASE("a negative --changelog-retention exits 2 naming the flag and range",
          "[e2e][flags]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--changelog-retention", "-5"});
  CHECK(daemon.RunToExit() == 2);
  CHECK_THAT(daemon.log(),
             Catch::StartsWith("musterd: --changelog-retention: \"-5\" is not "
                               "a whole number from 1 to "));
  CHECK_FALSE(Exists(dir.File("data")));
}

TEST_CASE("every bad flag value exits 2 with the flag and the rule",
          "[e2e][flags]") {
  struct Case {
    std::vector<std::string> args;
    std::string message;  // the whole stderr line, after "musterd: "
  };
  const std::vector<Case> cases = {
      {{"--changelog-retention=-1"},
       "--changelog-retention: \"-1\" is not a whole number from 1 to "
       "18446744073709551615"},
      {{"--changelog-retention", "99999999999999999999"},
       "--changelog-retention: \"99999999999999999999\" is not a whole "
       "number from 1 to 18446744073709551615"},
      {{"--checker-max-in-flight", "-3"},
       "--checker-max-in-flight: \"-3\" is not a whole number from 1 to "
       "100000"},
      {{"--checker-max-in-flight", "100001"},
       "--checker-max-in-flight: \"100001\" is not a whole number from 1 to "
       "100000"},
      {{"--checker-max-in-flight-per-host", "0"},
       "--checker-max-in-flight-per-host: \"0\" is not a whole number from 1 "
       "to 100000"},
      {{"--grpc-fd-reserve", "4294967360"},
       "--grpc-fd-reserve: \"4294967360\" is not a whole number from 64 to "
       "1048576"},
      {{"--grpc-fd-reserve", "12x"},
       "--grpc-fd-reserve: \"12x\" is not a whole number from 64 to 1048576"},
      {{"--eviction-protection-share", "abc"},
       "--eviction-protection-share: \"abc\" is not a number in (0, 1]; 1 "
       "disables protection"},
      {{"--eviction-protection-share=-0.5"},
       "--eviction-protection-share: \"-0.5\" is not a number in (0, 1]; 1 "
       "disables protection"},
      {{"--checker=maybe"},
       "--checker: \"maybe\" is not one of true, false, yes, no, on, off, 1, "
       "0"},
      {{"--auto-create-realms=2"},
       "--auto-create-realms: \"2\" is not one of true, false, yes, no, on, "
       "off, 1, 0"},
      {{"--log-level", "loud"},
       "--log-level: \"loud\" is not one of debug, info, warning, error"},
      {{"--watch-buffer-bytes=-1MiB"},
       "--watch-buffer-bytes: \"-1MiB\" is not a size from 1 byte to 1TiB (a "
       "whole number, optionally followed by KiB, MiB or GiB)"},
      {{"--grpc-handshake-timeout=-5s"},
       "--grpc-handshake-timeout: must be from 100ms to 1h"},
      {{"--grpc-max-connection-idle", "soon"},
       "--grpc-max-connection-idle: \"soon\" is not a duration (e.g. 500ms, "
       "20s, 30m, 1h)"},
      {{"--listen", "127.0.0.1:99999"},
       "--listen: port \"99999\" is not a number from 0 to 65535"},
      {{"--http-listen", "localhost"},
       "--http-listen: \"localhost\" is not host:port (e.g. 127.0.0.1:7400)"},
      {{"--data-dir="}, "--data-dir: needs a value"},
  };
  TempDir dir;
  for (const Case& c : cases) {
    // Loopback port 0 and a temp dir should a case start musterd after
    // all; a case's own flag replaces the default (twice is an error).
    std::vector<std::string> args;
    for (const auto& [flag, value] :
         std::vector<std::pair<std::string, std::string>>{
             {"--data-dir", dir.File("data")},
             {"--listen", "127.0.0.1:0"},
             {"--http-listen", "127.0.0.1:0"}}) {
      if (!absl::StartsWith(c.args[0], flag)) {
        args.push_back(flag);
        args.push_back(value);
      }
    }
    args.insert(args.end(), c.args.begin(), c.args.end());
    INFO(absl::StrJoin(args, " "));
    const RunResult result = RunMusterd(args);
    CHECK(result.exit_code == 2);
    CHECK(result.err == "musterd: " + c.message + "\n");
    CHECK_FALSE(Exists(dir.File("data")));
  }
}

TEST_CASE("an unknown flag or a stray argument exits 2 with musterd:",
          "[e2e][flags]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--no-such-flag"});
  CHECK(daemon.RunToExit() == 2);
  CHECK(daemon.log() ==
        "musterd: --no-such-flag: unknown flag; see musterd --help\n");

  RunResult stray = RunMusterd({"--data-dir", dir.File("data"), "serve"});
  CHECK(stray.exit_code == 2);
  CHECK(stray.err ==
        "musterd: \"serve\": unexpected argument (musterd takes only flags); "
        "see musterd --help\n");

  RunResult twice = RunMusterd(
      {"--data-dir", dir.File("data"), "--data-dir", dir.File("other")});
  CHECK(twice.exit_code == 2);
  CHECK(twice.err == "musterd: --data-dir: given more than once\n");
  CHECK_FALSE(Exists(dir.File("data")));
  CHECK_FALSE(Exists(dir.File("other")));
}

TEST_CASE("a flag without its value exits 2 naming the flag", "[e2e][flags]") {
  TempDir dir;
  for (const char* flag :
       {"--changelog-retention", "--log-level", "--watch-buffer-bytes",
        "--probe-allow", "--grpc-fd-reserve"}) {
    INFO(flag);
    // The harness puts the extra arguments last: nothing follows the flag.
    DaemonProcess daemon(MUSTERD_PATH, dir.File("data"),
                         dir.File(std::string("log") + flag), {flag});
    CHECK(daemon.RunToExit() == 2);
    CHECK(daemon.log() ==
          "musterd: " + std::string(flag) + ": needs a value\n");
  }
  CHECK_FALSE(Exists(dir.File("data")));
}

TEST_CASE("musterd --help and --version exit 0", "[e2e][flags]") {
  RunResult help = RunMusterd({"--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("--changelog-retention"));
  RunResult version = RunMusterd({"--version"});
  CHECK(version.exit_code == 0);
  CHECK_FALSE(version.out.empty());
}

TEST_CASE("SIGHUP is logged and musterd keeps serving", "[e2e][signals]") {
  TempDir dir;
  const std::string log = dir.File("musterd.log");
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), log);
  REQUIRE(daemon.Start());
  daemon.Signal(SIGHUP);
  CHECK(WaitForText(log, "SIGHUP: ", absl::Seconds(10)));
  CHECK_THAT(daemon.log(), Catch::Contains("restart it to change them"));
  CHECK_FALSE(daemon.WaitExit(0).has_value());
  auto stub = muster::v1::Registry::NewStub(daemon.channel());
  muster::v1::PingResponse pong;
  CHECK(stub->Ping(Context().get(), {}, &pong).ok());
  // A second one too.
  daemon.Signal(SIGHUP);
  CHECK(stub->Ping(Context().get(), {}, &pong).ok());
  CHECK(daemon.Terminate() == 0);
  // musterd takes a pending SIGHUP before a pending SIGTERM (the lower
  // number first), so the second one is in the log too.
  const std::string text = daemon.log();
  size_t lines = 0;
  for (size_t at = text.find("SIGHUP: "); at != std::string::npos;
       at = text.find("SIGHUP: ", at + 1)) {
    ++lines;
  }
  CHECK(lines == 2);
  CHECK_THAT(text, Catch::Contains("stopped cleanly"));
}

TEST_CASE("a taken gRPC port is one line and no data dir", "[e2e][startup]") {
  TempDir dir;
  TakenPort taken;
  REQUIRE(taken.port() != 0);
  const RunResult result =
      RunMusterd({"--listen", taken.address(), "--http-listen", "127.0.0.1:0",
                  "--data-dir", dir.File("data")});
  // A start-up failure, as a data dir in use: 1.
  CHECK(result.exit_code == 1);
  CHECK(result.err ==
        "musterd: --listen " + taken.address() + ": address already in use\n");
  CHECK(result.out.empty());
  CHECK_FALSE(Exists(dir.File("data")));
}

TEST_CASE("a taken HTTP port is one line and no data dir", "[e2e][startup]") {
  TempDir dir;
  TakenPort taken;
  REQUIRE(taken.port() != 0);
  const RunResult result =
      RunMusterd({"--listen", "127.0.0.1:0", "--http-listen", taken.address(),
                  "--data-dir", dir.File("data")});
  CHECK(result.exit_code == 1);
  CHECK(result.err == "musterd: --http-listen " + taken.address() +
                          ": address already in use\n");
  CHECK(result.out.empty());
  CHECK_FALSE(Exists(dir.File("data")));
}

TEST_CASE(
    "libprotobuf's complaints reach musterd's log in its format and limited",
    "[e2e][logs]") {
  TempDir dir;
  const std::string log = dir.File("musterd.log");
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), log);
  REQUIRE(daemon.Start());
  // RegisterRequest.realm (field 1, length-delimited) holding 0xff 0xfe,
  // which is not UTF-8. The generic stub sends these bytes as they are.
  const char bytes[] = {0x0a, 0x02, static_cast<char>(0xff),
                        static_cast<char>(0xfe)};
  grpc::GenericStub stub(daemon.channel());
  constexpr int kRequests = 50;
  for (int i = 0; i < kRequests; ++i) {
    grpc::Slice slice(bytes, sizeof(bytes));
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    auto context = Context();
    absl::Notification done;
    grpc::Status status;
    stub.UnaryCall(context.get(), "/muster.v1.Registry/Register",
                   grpc::StubOptions(), &request, &response,
                   [&](grpc::Status s) {
                     status = std::move(s);
                     done.Notify();
                   });
    REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    // musterd parses the body before it answers, so whatever protobuf
    // logs about it is written by now.
    CHECK_FALSE(status.ok());
  }

  const std::regex ours(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR protobuf: .*invalid UTF-8.*)");
  int routed = 0;
  std::istringstream lines(ReadFile(log));
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    CHECK_FALSE(absl::StrContains(line, "[libprotobuf"));
    if (absl::StrContains(line, "invalid UTF-8")) {
      CHECK(std::regex_match(line, ours));
      ++routed;
    }
  }
  CHECK(routed >= 1);
  CHECK(routed <= kProtobufLogBurst);
  // The rest were counted, not written.
  CHECK(Metric(daemon.http_port(), "muster_protobuf_log_dropped_total") >=
        kRequests - routed);
  CHECK(daemon.Terminate() == 0);
}

}  // namespace muster::testing
