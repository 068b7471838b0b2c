// The resolver against a real musterd: the snapshot, instances coming,
// going and drained, and a daemon killed and restarted under it.

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/src/daemon_connection.h"
#include "muster/client/client.h"
#include "muster/client/resolver.h"
#include "testkit/daemon_process.h"
#include "tests/e2e/client/users_service.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::client {
namespace {

using std::chrono::milliseconds;
using testing::DaemonProcess;
using testing::TempDir;
using users::Connect;
using users::Deregister;
using users::Drain;
using users::Register;

using ::muster::testing::Eventually;

std::set<std::string> Ids(const std::vector<Endpoint>& endpoints) {
  std::set<std::string> ids;
  for (const Endpoint& endpoint : endpoints) ids.insert(endpoint.id);
  return ids;
}

std::set<std::string> Routable(Resolver& resolver) {
  return Ids(resolver.View("users").routable);
}

TEST_CASE(
    "the resolver serves the snapshot and follows instances that come "
    "and go",
    "[client][e2e][resolver]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());
  std::shared_ptr<Client> client = Connect(daemon);
  Register(*client, "a", 9001);
  Register(*client, "b", 9002);

  std::shared_ptr<Resolver> resolver = Resolver::Create(client);
  const ServiceView view = resolver->View("users");
  CHECK(view.synced);
  CHECK(view.connected);
  CHECK(view.staleness == milliseconds(0));
  CHECK(view.revision > 0);
  CHECK(Ids(view.routable) == std::set<std::string>{"a", "b"});
  REQUIRE(view.routable.size() == 2);
  CHECK(view.routable[0].host_port() == "127.0.0.1:9001");
  CHECK(view.routable[0].weight == 1);

  Register(*client, "c", 9003);
  CHECK(Eventually([&] {
    return Routable(*resolver) == std::set<std::string>{"a", "b", "c"};
  }));
  Deregister(*client, "a");
  CHECK(Eventually([&] {
    return Routable(*resolver) == std::set<std::string>{"b", "c"};
  }));
  for (int i = 0; i < 10; ++i) CHECK(resolver->Pick("users", {})->id != "a");
}

TEST_CASE("a drained instance stops being picked when its event arrives",
          "[client][e2e][resolver]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());
  std::shared_ptr<Client> client = Connect(daemon);
  Register(*client, "a", 9001);
  Register(*client, "b", 9002);
  std::shared_ptr<Resolver> resolver = Resolver::Create(client);

  std::mutex mu;
  std::vector<std::set<std::string>> sets;
  const uint64_t subscription =
      resolver->Subscribe("users", [&](const std::vector<Endpoint>& routable) {
        std::lock_guard<std::mutex> lock(mu);
        sets.push_back(Ids(routable));
      });
  auto last = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return sets.empty() ? std::set<std::string>() : sets.back();
  };
  REQUIRE(Eventually([&] {
    return last() == std::set<std::string>{"a", "b"};
  }));

  Drain(*client, "b");
  REQUIRE(Eventually([&] { return last() == std::set<std::string>{"a"}; }));
  // From the moment the subscriber saw it, no pick returns b.
  for (int i = 0; i < 20; ++i) CHECK(resolver->Pick("users", {})->id == "a");
  std::string why;
  CHECK_FALSE(resolver->Pick("users", {"a"}, &why).has_value());
  CHECK(why == "every routable instance of users was excluded");
  resolver->Unsubscribe(subscription);
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(sets.size() == 2);
  }
}

TEST_CASE(
    "the resolver keeps its set while musterd is down and catches up "
    "after a restart",
    "[client][e2e][resolver][slow]") {
  TempDir dir;
  // No periodic progress within the test: what confirms the resumed watch
  // is the PROGRESS musterd sends once a resume has caught up.
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--watch-progress-interval", "1h"});
  REQUIRE(daemon.Start());
  std::shared_ptr<Client> client = Connect(daemon);
  Register(*client, "a", 9001);
  Register(*client, "b", 9002);
  std::shared_ptr<Resolver> resolver = Resolver::Create(client);
  REQUIRE(Routable(*resolver) == std::set<std::string>{"a", "b"});
  const uint64_t revision = resolver->View("users").revision;

  daemon.KeepPorts();
  daemon.Kill();
  REQUIRE(Eventually([&] { return !resolver->View("users").connected; }));
  std::this_thread::sleep_for(milliseconds(300));
  ServiceView view = resolver->View("users");
  CHECK_FALSE(view.connected);
  CHECK(view.staleness >= milliseconds(300));
  CHECK(Ids(view.routable) == std::set<std::string>{"a", "b"});
  CHECK(view.revision == revision);
  std::optional<Endpoint> picked = resolver->Pick("users", {});
  CHECK(picked.has_value());
  std::this_thread::sleep_for(milliseconds(100));
  CHECK(resolver->View("users").staleness > view.staleness);

  REQUIRE(daemon.Start());
  CHECK(Eventually([&] { return resolver->View("users").connected; }));
  CHECK(resolver->View("users").staleness == milliseconds(0));
  Register(*client, "c", 9003);
  CHECK(Eventually([&] {
    return Routable(*resolver) == std::set<std::string>{"a", "b", "c"};
  }));
  CHECK(resolver->View("users").revision > revision);
}

TEST_CASE("the resolver prefers instances of its zone",
          "[client][e2e][resolver]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());
  std::shared_ptr<Client> client = Connect(daemon);
  Register(*client, "east-1", 9001, "east");
  Register(*client, "west-1", 9002, "west");
  ResolverOptions options;
  options.zone = "west";
  std::shared_ptr<Resolver> resolver = Resolver::Create(client, options);
  for (int i = 0; i < 10; ++i) {
    CHECK(resolver->Pick("users", {})->id == "west-1");
  }
  Drain(*client, "west-1");
  CHECK(
      Eventually([&] { return resolver->Pick("users", {})->id == "east-1"; }));
}

}  // namespace
}  // namespace muster::client
