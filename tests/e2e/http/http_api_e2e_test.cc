// The HTTP/JSON API of the real musterd binary (--http-listen): wired in
// main.cc with its routes, its workers and access control, and ended with
// the process while an event stream is open.

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

void Register(DaemonProcess& daemon, const std::string& id,
              const std::string& token = "") {
  auto stub = muster::v1::Registry::NewStub(daemon.channel());
  muster::v1::RegisterRequest request;
  request.mutable_instance()->set_service("web");
  request.mutable_instance()->set_id(id);
  request.mutable_instance()->set_address("10.0.0.1");
  request.mutable_instance()->set_port(80);
  muster::v1::RegisterResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  grpc::Status status = stub->Register(&context, request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

TEST_CASE("musterd serves /v1 on --http-listen and streams events live",
          "[e2e][http_api]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--checker=false"});
  REQUIRE(daemon.Start());
  Register(daemon, "1");

  httplib::Client client("127.0.0.1", daemon.http_port());
  client.set_read_timeout(10);
  auto list = client.Get("/v1/realms/default/instances?service=web");
  REQUIRE(list);
  CHECK(list->status == 200);
  CHECK(absl::StrContains(list->body, "\"id\":\"1\""));
  auto info = client.Get("/v1/info");
  REQUIRE(info);
  CHECK(absl::StrContains(info->body, "\"version\""));
  auto bad = client.Get("/v1/realms/default/instances?page_size=0x");
  REQUIRE(bad);
  CHECK(bad->status == 400);

  // A stream: the snapshot, then a registration made over gRPC.
  std::atomic<bool> saw_snapshot{false};
  std::atomic<bool> saw_put{false};
  std::atomic<bool> ended{false};
  std::thread reader([&] {
    httplib::Client sse("127.0.0.1", daemon.http_port());
    sse.set_read_timeout(30);
    std::string text;
    sse.Get("/v1/realms/default/watch", [&](const char* data, size_t size) {
      text.append(data, size);
      if (absl::StrContains(text, "event: snapshot")) saw_snapshot = true;
      if (absl::StrContains(text, "\"id\":\"2\"")) saw_put = true;
      return true;
    });
    ended = true;
  });
  REQUIRE(Eventually([&] { return saw_snapshot.load(); }));
  Register(daemon, "2");
  CHECK(Eventually([&] { return saw_put.load(); }, std::chrono::seconds(1)));

  // SIGTERM with the stream open: musterd ends it and exits cleanly.
  const auto start = std::chrono::steady_clock::now();
  CHECK(daemon.Terminate(15) == 0);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(Eventually([&] { return ended.load(); }));
  reader.join();
}

TEST_CASE("musterd --auth: /v1 needs the bearer token, /ui/ does not",
          "[e2e][http_api]") {
  TempDir dir;
  const std::string data = dir.File("data");
  DaemonProcess daemon(MUSTERD_PATH, data, dir.File("musterd.log"),
                       {"--checker=false", "--auth"});
  REQUIRE(daemon.Start());
  std::ifstream in(data + "/bootstrap-token");
  std::string secret;
  std::getline(in, secret);
  secret = std::string(absl::StripAsciiWhitespace(secret));
  REQUIRE_FALSE(secret.empty());
  Register(daemon, "1", secret);

  httplib::Client client("127.0.0.1", daemon.http_port());
  client.set_read_timeout(10);
  auto refused = client.Get("/v1/realms/default/instances");
  REQUIRE(refused);
  CHECK(refused->status == 401);
  CHECK(absl::StrContains(refused->body, "\"code\":\"UNAUTHENTICATED\""));
  auto allowed = client.Get("/v1/realms/default/instances",
                            {{"Authorization", "Bearer " + secret}});
  REQUIRE(allowed);
  CHECK(allowed->status == 200);
  CHECK(absl::StrContains(allowed->body, "\"id\":\"1\""));
  auto drained =
      client.Post("/v1/realms/default/services/web/instances/1/drain",
                  {{"Authorization", "Bearer " + secret}},
                  "{\"reason\":\"e2e\"}", "application/json");
  REQUIRE(drained);
  CHECK(drained->status == 200);
  CHECK(absl::StrContains(drained->body, "ADMIN_STATE_DRAINING"));
  // /ui/ is never behind the token: the page (when built in) or a 404
  // that is not a 401.
  auto ui = client.Get("/ui/");
  REQUIRE(ui);
  CHECK(ui->status != 401);
}

}  // namespace
}  // namespace muster::testing
