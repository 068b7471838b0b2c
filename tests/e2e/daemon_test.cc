// The real musterd binary: durability under kill -9, the data-dir lock,
// clean shutdown, health service and start-up errors.

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(seconds));
  return context;
}

std::map<std::string, muster::v1::Instance> ListAll(
    muster::v1::Registry::Stub& stub) {
  std::map<std::string, muster::v1::Instance> out;
  muster::v1::ListInstancesRequest request;
  request.set_page_size(1000);
  for (;;) {
    muster::v1::ListInstancesResponse response;
    grpc::Status status =
        stub.ListInstances(Context().get(), request, &response);
    REQUIRE(status.ok());
    for (const auto& instance : response.instances())
      out[instance.id()] = instance;
    if (response.next_page_token().empty()) return out;
    request.set_page_token(response.next_page_token());
  }
}

muster::v1::ServerInfo Info(muster::v1::Registry::Stub& stub) {
  muster::v1::ServerInfo info;
  REQUIRE(stub.GetServerInfo(Context().get(), {}, &info).ok());
  return info;
}

}  // namespace

TEST_CASE("kill -9 under concurrent load loses no acknowledged registration",
          "[e2e][durability]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());

  constexpr int kClients = 16;
  constexpr int kKillAfter =
      3000;  // acknowledged registrations before the kill
  struct Acks {
    absl::Mutex mu;
    std::map<std::string, uint64_t> by_id ABSL_GUARDED_BY(mu);  // -> revision
  } acks;
  std::atomic<int> acked_count{0};
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto channel = grpc::CreateChannel(daemon.address(),
                                         grpc::InsecureChannelCredentials());
      auto stub = muster::v1::Registry::NewStub(channel);
      for (int i = 0; !stop; ++i) {
        muster::v1::RegisterRequest request;
        auto* instance = request.mutable_instance();
        instance->set_service("load");
        instance->set_id("c" + std::to_string(c) + "-" + std::to_string(i));
        instance->set_address("10.0.0.1");
        instance->set_port(1000 + c);
        muster::v1::RegisterResponse response;
        grpc::Status status =
            stub->Register(Context(5).get(), request, &response);
        if (!status.ok()) return;  // the daemon is gone
        absl::MutexLock lock(&acks.mu);
        acks.by_id[instance->id()] = response.revision();
        ++acked_count;
      }
    });
  }
  while (acked_count < kKillAfter && daemon.running()) {
    std::this_thread::yield();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  daemon.Kill();
  stop = true;
  for (auto& client : clients) client.join();
  std::map<std::string, uint64_t> acked;  // id -> revision
  {
    absl::MutexLock lock(&acks.mu);
    acked = acks.by_id;
  }
  std::fprintf(stderr,
               "e2e: %d acknowledged durable registrations in %.2fs (%.0f/s, "
               "%d clients)\n",
               acked_count.load(), seconds, acked_count.load() / seconds,
               kClients);
  REQUIRE(acked.size() >= kKillAfter);

  REQUIRE(daemon.Start());
  auto stub = muster::v1::Registry::NewStub(daemon.channel());
  std::map<std::string, muster::v1::Instance> stored = ListAll(*stub);
  size_t missing = 0;
  for (const auto& [id, revision] : acked) {
    auto it = stored.find(id);
    if (it == stored.end()) {
      ++missing;
      continue;
    }
    CHECK(it->second.create_revision() == revision);
  }
  CHECK(missing == 0);
  // Nothing half-applied: every stored registration is one whole revision
  // (realm "default" took revision 1), and the change log agrees.
  muster::v1::ServerInfo info = Info(*stub);
  CHECK(info.revision() == stored.size() + 1);
  std::set<uint64_t> revisions;
  for (const auto& [id, instance] : stored)
    revisions.insert(instance.create_revision());
  CHECK(revisions.size() == stored.size());
  CHECK(*revisions.rbegin() == info.revision());
}

TEST_CASE("a second musterd on the same data dir refuses to start", "[e2e]") {
  TempDir dir;
  DaemonProcess first(MUSTERD_PATH, dir.File("data"), dir.File("first.log"));
  REQUIRE(first.Start());
  DaemonProcess second(MUSTERD_PATH, dir.File("data"), dir.File("second.log"));
  CHECK(second.RunToExit() == 1);
  CHECK_THAT(second.log(), Catch::Contains("in use by another musterd"));
  // The first one still serves.
  auto stub = muster::v1::Registry::NewStub(first.channel());
  muster::v1::PingResponse pong;
  CHECK(stub->Ping(Context().get(), {}, &pong).ok());
}

TEST_CASE("SIGTERM exits 0 and a restart finds everything", "[e2e]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());
  auto stub = muster::v1::Registry::NewStub(daemon.channel());
  for (int i = 0; i < 50; ++i) {
    muster::v1::RegisterRequest request;
    request.mutable_instance()->set_service("web");
    request.mutable_instance()->set_id("w" + std::to_string(i));
    request.mutable_instance()->set_address("10.0.0.2");
    request.mutable_instance()->set_port(80);
    muster::v1::RegisterResponse response;
    REQUIRE(stub->Register(Context().get(), request, &response).ok());
  }
  const uint64_t revision = Info(*stub).revision();
  CHECK(daemon.Terminate() == 0);
  CHECK_THAT(daemon.log(), Catch::Contains("stopped cleanly"));

  REQUIRE(daemon.Start());
  stub = muster::v1::Registry::NewStub(daemon.channel());
  CHECK(ListAll(*stub).size() == 50);
  CHECK(Info(*stub).revision() == revision);
}

TEST_CASE("musterd serves grpc.health.v1 as SERVING", "[e2e]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());
  auto health = grpc::health::v1::Health::NewStub(daemon.channel());
  for (const char* service : {"", "muster.v1.Registry", "muster.v1.Realms"}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    REQUIRE(health->Check(Context().get(), request, &response).ok());
    CHECK(response.status() == grpc::health::v1::HealthCheckResponse::SERVING);
  }
}

TEST_CASE("a corrupt data dir stops start-up with a clear message", "[e2e]") {
  TempDir dir;
  {
    DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("first.log"));
    REQUIRE(daemon.Start());
    CHECK(daemon.Terminate() == 0);
  }
  {
    std::ofstream current(dir.File("data/CURRENT"), std::ios::trunc);
    current << "garbage-that-names-no-manifest\n";
  }
  DaemonProcess broken(MUSTERD_PATH, dir.File("data"), dir.File("broken.log"));
  CHECK(broken.RunToExit() == 1);
  CHECK_THAT(broken.log(), Catch::Contains("cannot open the data dir"));
  CHECK_THAT(broken.log(), Catch::Contains(dir.File("data")));
}

TEST_CASE("bad flags exit 2 with the flag named", "[e2e]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--changelog-retention", "0"});
  CHECK(daemon.RunToExit() == 2);
  CHECK_THAT(daemon.log(), Catch::Contains("--changelog-retention"));

  DaemonProcess share(MUSTERD_PATH, dir.File("data"), dir.File("share.log"),
                      {"--eviction-protection-share", "0"});
  CHECK(share.RunToExit() == 2);
  CHECK_THAT(share.log(), Catch::Contains("--eviction-protection-share"));

  DaemonProcess network(MUSTERD_PATH, dir.File("data"), dir.File("net.log"),
                        {"--probe-allow", "10.0.0.0/33"});
  CHECK(network.RunToExit() == 2);
  CHECK_THAT(network.log(), Catch::Contains("10.0.0.0/33"));
}

}  // namespace muster::testing
