// musterd --auth, end to end with the real binaries: the bootstrap token
// file (0600, its path logged, its secret nowhere else in clear), no second
// token on restarts, an operator-chosen bootstrap secret, the refusal to
// serve a non-loopback address without --auth, /metrics behind a token and
// musterctl's --token, MUSTER_TOKEN and --token-file.

#include <dirent.h>
#include <httplib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "muster/v1/realm.grpc.pb.h"
#include "testkit/child_process.h"
#include "testkit/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

// Every regular file under `dir`, recursively.
void ListFiles(const std::string& dir, std::vector<std::string>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      ListFiles(path, out);
    } else if (S_ISREG(st.st_mode)) {
      out->push_back(path);
    }
  }
  ::closedir(d);
}

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

std::unique_ptr<grpc::ClientContext> WithToken(const std::string& secret) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  if (!secret.empty())
    context->AddMetadata("authorization", "Bearer " + secret);
  return context;
}

grpc::Status ListRealms(DaemonProcess& daemon, const std::string& secret) {
  auto stub = muster::v1::Realms::NewStub(daemon.channel());
  muster::v1::ListRealmsResponse response;
  return stub->ListRealms(WithToken(secret).get(), {}, &response);
}

// How many tokens musterd says it created in its log.
size_t TokensCreated(DaemonProcess& daemon) {
  const std::string log = daemon.log();
  size_t count = 0;
  for (size_t at = log.find("created admin token"); at != std::string::npos;
       at = log.find("created admin token", at + 1)) {
    ++count;
  }
  return count;
}

RunResult Ctl(const std::string& address, std::vector<std::string> args,
              std::vector<std::string> env = {}) {
  SpawnOptions options;
  options.argv = {MUSTERCTL_PATH, "--addr", address};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = {"MUSTER_ADDR", "MUSTER_REALM", "MUSTER_TOKEN",
                 "MUSTER_TOKEN_FILE", "NO_COLOR=1"};
  options.env.insert(options.env.end(), env.begin(), env.end());
  return Run(options, absl::Seconds(30));
}

}  // namespace

TEST_CASE(
    "musterd --auth writes a bootstrap token file once and guards "
    "everything with it",
    "[e2e][auth]") {
  TempDir temp;
  const std::string data = temp.File("data");
  const std::string log = temp.File("musterd.log");
  DaemonProcess daemon(MUSTERD_PATH, data, log, {"--auth"});
  REQUIRE(daemon.Start());
  const std::string file = data + "/bootstrap-token";

  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string secret = Trimmed(ReadFile(file));
  REQUIRE(secret.size() >= 32);
  // The path is logged; the secret is not.
  CHECK_THAT(daemon.log(), Catch::Contains(file));
  CHECK_THAT(daemon.log(), !Catch::Contains(secret));
  // Nowhere in the data dir in clear but its own file.
  std::vector<std::string> files;
  ListFiles(data, &files);
  CHECK(files.size() > 1);
  for (const std::string& path : files) {
    if (path == file) continue;
    INFO(path);
    CHECK_FALSE(absl::StrContains(ReadFile(path), secret));
  }

  CHECK(ListRealms(daemon, "").error_code() == grpc::UNAUTHENTICATED);
  CHECK(ListRealms(daemon, "mst_not_a_token_at_all_0123456789abcdef")
            .error_code() == grpc::UNAUTHENTICATED);
  CHECK(ListRealms(daemon, secret).ok());
  CHECK(TokensCreated(daemon) == 1);

  SECTION("/metrics needs a token, /healthz and /readyz do not") {
    httplib::Client http("127.0.0.1", daemon.http_port());
    auto open = http.Get("/metrics");
    REQUIRE(open);
    CHECK(open->status == 401);
    CHECK_THAT(open->body, !Catch::Contains("muster_rpcs_total"));
    auto wrong = http.Get("/metrics", {{"Authorization", "Bearer nope"}});
    REQUIRE(wrong);
    CHECK(wrong->status == 401);
    auto scraped =
        http.Get("/metrics", {{"Authorization", "Bearer " + secret}});
    REQUIRE(scraped);
    CHECK(scraped->status == 200);
    // The refusals above are counted, by code; the secret is nowhere.
    CHECK_THAT(scraped->body,
               Catch::Contains("muster_auth_denied_total{service=\"muster.v1."
                               "Realms\",method=\"ListRealms\",code="
                               "\"unauthenticated\"} 2"));
    CHECK_THAT(scraped->body, !Catch::Contains(secret));
    auto health = http.Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    auto ready = http.Get("/readyz");
    REQUIRE(ready);
    CHECK(ready->status == 200);
  }

  SECTION("musterctl takes --token, MUSTER_TOKEN and --token-file") {
    const RunResult none = Ctl(daemon.address(), {"realm", "list"});
    CHECK(none.exit_code == 1);
    CHECK_THAT(none.err, Catch::Contains("UNAUTHENTICATED"));
    CHECK(
        Ctl(daemon.address(), {"--token", secret, "realm", "list"}).exit_code ==
        0);
    CHECK(Ctl(daemon.address(), {"realm", "list"}, {"MUSTER_TOKEN=" + secret})
              .exit_code == 0);
    CHECK(Ctl(daemon.address(), {"--token-file", file, "realm", "list"})
              .exit_code == 0);
    CHECK(
        Ctl(daemon.address(), {"realm", "list"}, {"MUSTER_TOKEN_FILE=" + file})
            .exit_code == 0);
    // The flag wins over the environment.
    CHECK(Ctl(daemon.address(), {"--token-file", file, "realm", "list"},
              {"MUSTER_TOKEN=wrong"})
              .exit_code == 0);
    const RunResult unreadable =
        Ctl(daemon.address(),
            {"--token-file", temp.File("missing"), "realm", "list"});
    CHECK(unreadable.exit_code == 2);
    CHECK_THAT(unreadable.err, Catch::Contains("--token-file"));
    // A watch stream carries the token too.
    CHECK(Ctl(daemon.address(), {"--token", secret, "status"}).exit_code == 0);
  }

  SECTION("a restart makes no second token and leaves the file alone") {
    daemon.KeepPorts();
    REQUIRE(daemon.Restart());
    CHECK(Trimmed(ReadFile(file)) == secret);
    CHECK(TokensCreated(daemon) == 1);
    CHECK_THAT(daemon.log(), Catch::Contains("holds token \"bootstrap\""));
    CHECK(ListRealms(daemon, secret).ok());
    // Without the file, a live admin token is enough: nothing is made.
    REQUIRE(::unlink(file.c_str()) == 0);
    REQUIRE(daemon.Restart());
    CHECK(::stat(file.c_str(), &st) != 0);
    CHECK(TokensCreated(daemon) == 1);
    CHECK(ListRealms(daemon, secret).ok());
  }
}

TEST_CASE("the bootstrap secret can come from --bootstrap-token-file",
          "[e2e][auth]") {
  TempDir temp;
  const std::string file = temp.File("my-token");
  const std::string secret = "mst_chosen_by_the_operator_0123456789abcdef";
  std::ofstream(file) << secret << "\n";
  ::chmod(file.c_str(), 0600);
  DaemonProcess daemon(MUSTERD_PATH, temp.File("data"),
                       temp.File("musterd.log"),
                       {"--auth", "--bootstrap-token-file", file});
  REQUIRE(daemon.Start());
  CHECK(ListRealms(daemon, secret).ok());
  CHECK(Trimmed(ReadFile(file)) == secret);
  CHECK_THAT(daemon.log(), !Catch::Contains(secret));
  CHECK_THAT(daemon.log(), Catch::Contains(file));
}

TEST_CASE("musterd refuses a non-loopback address without --auth",
          "[e2e][auth]") {
  TempDir temp;
  for (const std::vector<std::string>& listen :
       {std::vector<std::string>{"--listen", "0.0.0.0:0", "--http-listen",
                                 "127.0.0.1:0"},
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--http-listen",
                                 "0.0.0.0:0"}}) {
    SpawnOptions options;
    options.argv = {MUSTERD_PATH, "--data-dir", temp.File("data")};
    options.argv.insert(options.argv.end(), listen.begin(), listen.end());
    const RunResult result = Run(options, absl::Seconds(30));
    INFO(result.err);
    CHECK(result.exit_code == 2);
    const std::string flag =
        listen[1] == "0.0.0.0:0" ? "--listen" : "--http-listen";
    CHECK_THAT(result.err, Catch::StartsWith("musterd: " + flag + ": "));
    CHECK_THAT(result.err, Catch::Contains("--insecure-no-auth"));
    // Nothing was created.
    struct stat st {};
    CHECK(::stat(temp.File("data").c_str(), &st) != 0);
  }
  for (const auto& [args, message] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--auth", "--insecure-no-auth"},
            "musterd: --insecure-no-auth: cannot be given with --auth"},
           {{"--token-rate", "-1"}, "musterd: --token-rate: "},
           {{"--token-burst", "0"}, "musterd: --token-burst: "},
           {{"--max-watchers-per-client", "x"},
            "musterd: --max-watchers-per-client: "}}) {
    SpawnOptions options;
    options.argv = {MUSTERD_PATH, "--data-dir", temp.File("data")};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    const RunResult result = Run(options, absl::Seconds(30));
    INFO(result.err);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::StartsWith(message));
  }
}

}  // namespace muster::testing
