// The whole loop with real processes: musterd, three identity instances
// registering themselves through the client library, and a frontend
// calling service://identity through the resolver and the HTTP client
// (examples/). Instances die, are drained, shut down, and musterd
// restarts, while the frontend keeps sending.
//
// Each case prints what it measured on stderr ("fleet measured: ...").

#include "tests/e2e/fleet/fleet.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace muster::fleet {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// REQUIRE that, on failure, shows every process's log.
#define FLEET_REQUIRE(fleet, condition)                  \
  do {                                                   \
    if (!(condition)) {                                  \
      FAIL(#condition << "\n" << (fleet).Diagnostics()); \
    }                                                    \
  } while (false)

const std::vector<std::string> kIds = {"identity-1", "identity-2",
                                       "identity-3"};

// musterd, the three instances routable, the frontend at `rate` and
// served by all three.
void StartFleet(Fleet& fleet, int rate,
                const std::vector<std::string>& identity_args = {}) {
  FLEET_REQUIRE(fleet, fleet.daemon().Start());
  for (const std::string& id : kIds) {
    FLEET_REQUIRE(fleet, fleet.StartIdentity(id, identity_args) != nullptr);
  }
  FLEET_REQUIRE(fleet, fleet.AwaitRoutable(kIds, seconds(20)));
  FLEET_REQUIRE(fleet, fleet.StartFrontend(rate));
  FLEET_REQUIRE(fleet, fleet.AwaitServedBy(kIds, 3, seconds(20)));
}

// The frontend's final stats, which it prints on stdout at exit.
google::protobuf::Struct FinalStats(Fleet& fleet) {
  const int code = fleet.StopFrontend();
  FLEET_REQUIRE(fleet, code == 0);
  google::protobuf::Struct stats;
  const std::string out = testing::ReadFile(fleet.frontend_out_path());
  FLEET_REQUIRE(fleet,
                google::protobuf::util::JsonStringToMessage(out, &stats).ok());
  return stats;
}

uint64_t Sum(const std::map<std::string, uint64_t>& counts) {
  uint64_t sum = 0;
  for (const auto& [id, count] : counts) sum += count;
  return sum;
}

TEST_CASE(
    "three identity instances register themselves and the frontend "
    "reaches all three",
    "[fleet][e2e]") {
  Fleet fleet;
  StartFleet(fleet, 30);

  // musterd has them as the instances registered them: TTL checks,
  // PASSING through heartbeats, at the ports they serve on.
  const std::vector<v1::Instance> instances = fleet.Instances(true);
  REQUIRE(instances.size() == 3);
  for (const v1::Instance& instance : instances) {
    const Identity* identity = fleet.identity(instance.id());
    REQUIRE(identity != nullptr);
    CHECK(instance.address() == "127.0.0.1");
    CHECK(instance.port() == static_cast<uint32_t>(identity->port));
    CHECK(instance.check().kind() == v1::CHECK_KIND_TTL);
    CHECK(instance.health() == v1::HEALTH_PASSING);
    CHECK(instance.admin_state() == v1::ADMIN_STATE_ENABLED);

    auto stats = identity->Stats();
    REQUIRE(stats.has_value());
    CHECK(String(*stats, {"registration", "state"}) == "registered");
    CHECK(String(*stats, {"registration", "health"}) == "PASSING");
    CHECK(Number(*stats, {"registration", "incarnation"}) ==
          static_cast<double>(instance.create_revision()));
    CHECK(Number(*stats, {"served"}) >= 3);
  }
  auto user = GetJson(fleet.identity("identity-2")->port, "/users/42");
  REQUIRE(user.has_value());
  CHECK(String(*user, {"id"}) == "42");
  CHECK(String(*user, {"name"}) == "user-42");
  CHECK(String(*user, {"served_by"}) == "identity-2");

  const google::protobuf::Struct stats = FinalStats(fleet);
  const auto by_instance = Counts(stats, "by_instance");
  INFO(testing::ReadFile(fleet.frontend_out_path()));
  CHECK(Number(stats, {"failures"}) == 0);
  CHECK(Number(stats, {"successes"}) == Number(stats, {"completed"}));
  CHECK(Number(stats, {"completed"}) == Number(stats, {"requests"}));
  CHECK(static_cast<double>(Sum(by_instance)) == Number(stats, {"successes"}));
  for (const std::string& id : kIds) CHECK(by_instance.at(id) >= 3);
  CHECK(String(stats, {"last_error"}).empty());
  // One log line per request, each answered 200 by one of the three.
  const auto log =
      ParseFrontendLog(testing::ReadFile(fleet.frontend_log_path()));
  CHECK(static_cast<double>(log.size()) == Number(stats, {"completed"}));
  for (const FrontendRequest& request : log) {
    CHECK(request.status == 200);
    CHECK(fleet.identity(request.instance) != nullptr);
  }
}

TEST_CASE(
    "the frontend retries away from an identity instance killed with "
    "SIGKILL, within its retry budget",
    "[fleet][e2e]") {
  Fleet fleet;
  StartFleet(fleet, 40);
  auto before = fleet.FrontendStats();
  REQUIRE(before.has_value());

  Identity* killed = fleet.identity("identity-2");
  killed->child->Signal(SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  // Its TTL (3 s) runs out: musterd makes it CRITICAL, the resolver drops
  // it. Until then the frontend's tries on it fail and are retried.
  FLEET_REQUIRE(fleet,
                fleet.AwaitRoutable({"identity-1", "identity-3"}, seconds(20)));
  FLEET_REQUIRE(fleet, Eventually(
                           [&] {
                             for (const auto& instance : fleet.Instances(true))
                               if (instance.id() == "identity-2") return false;
                             return true;
                           },
                           seconds(20)));
  const double unroutable_after_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                    killed_at)
          .count();
  // Requests keep flowing once the resolver has dropped it too.
  FLEET_REQUIRE(fleet, Eventually(
                           [&] {
                             auto stats = fleet.FrontendStats();
                             if (!stats) return false;
                             for (const std::string& id :
                                  Strings(*stats, {"resolver", "routable"})) {
                               if (id == "identity-2") return false;
                             }
                             return true;
                           },
                           seconds(10)));
  auto now = fleet.FrontendStats();
  REQUIRE(now.has_value());
  FLEET_REQUIRE(fleet, fleet.AwaitCompleted(
                           static_cast<uint64_t>(Number(*now, {"completed"})),
                           40, seconds(20)));

  const google::protobuf::Struct stats = FinalStats(fleet);
  INFO(testing::ReadFile(fleet.frontend_out_path()));
  const double failures = Number(stats, {"failures"});
  const double retried = Number(stats, {"retried_requests"});
  const double retries = Number(stats, {"retries"});
  const uint64_t failed_tries_on_killed =
      Counts(stats, "failed_tries_by_instance")["identity-2"];
  std::fprintf(stderr,
               "fleet measured: kill -9 of 1 of 3 at 40/s: %.0f requests, "
               "%.0f needed retries (%.0f retries), %.0f failed, %llu failed "
               "tries on the killed instance, budget refused %.0f; musterd "
               "had it unroutable after %.1f s\n",
               Number(stats, {"completed"}), retried, retries, failures,
               static_cast<unsigned long long>(failed_tries_on_killed),
               Number(stats, {"budget_exhausted"}), unroutable_after_s);

  // Tries on the dead instance failed and were retried on a live one:
  // the budget (20% of requests plus 10 a second) covers the few tries
  // the dead instance gets before outlier ejection (5 failures in a row)
  // and its TTL take it out, so no request fails.
  CHECK(failed_tries_on_killed >= 1);
  CHECK(retried >= 1);
  CHECK(failures == 0);
  CHECK(Number(stats, {"budget_exhausted"}) == 0);
  const auto log =
      ParseFrontendLog(testing::ReadFile(fleet.frontend_log_path()));
  int retried_in_log = 0;
  for (const FrontendRequest& request : log) {
    CHECK(request.status == 200);
    if (request.attempts > 1) {
      ++retried_in_log;
      CHECK(request.instance != "identity-2");
    }
  }
  CHECK(retried_in_log == static_cast<int>(retried));
}

TEST_CASE(
    "a drained identity instance gets no request picked after the "
    "frontend's resolver saw the drain",
    "[fleet][e2e]") {
  Fleet fleet;
  StartFleet(fleet, 50);
  Identity* drained = fleet.identity("identity-3");

  const int64_t call_start_us = RealtimeMicros();
  v1::Instance instance;
  const grpc::Status status =
      fleet.SetAdminState(drained->id, v1::ADMIN_STATE_DRAINING, &instance);
  const int64_t call_end_us = RealtimeMicros();
  REQUIRE(status.ok());
  const uint64_t drain_revision = instance.modify_revision();
  REQUIRE(drain_revision > 0);

  // The frontend's resolver passes the drain's revision; then the drained
  // instance's count stops.
  FLEET_REQUIRE(fleet, Eventually(
                           [&] {
                             auto stats = fleet.FrontendStats();
                             return stats &&
                                    Number(*stats, {"resolver", "revision"}) >=
                                        static_cast<double>(drain_revision);
                           },
                           seconds(10)));
  auto stats = fleet.FrontendStats();
  REQUIRE(stats.has_value());
  // Whatever was picked before it is answered by now.
  FLEET_REQUIRE(fleet, fleet.AwaitCompleted(
                           static_cast<uint64_t>(Number(*stats, {"completed"})),
                           25, seconds(10)));
  const double served_then = Number(*drained->Stats(), {"served"});
  stats = fleet.FrontendStats();
  FLEET_REQUIRE(fleet, fleet.AwaitCompleted(
                           static_cast<uint64_t>(Number(*stats, {"completed"})),
                           75, seconds(10)));
  CHECK(Number(*drained->Stats(), {"served"}) == served_then);

  const google::protobuf::Struct final_stats = FinalStats(fleet);
  CHECK(Number(final_stats, {"failures"}) == 0);

  // Exact: no request whose pre-pick revision is at or past the drain's
  // reached the drained instance; some before it did, many after did not.
  const auto log =
      ParseFrontendLog(testing::ReadFile(fleet.frontend_log_path()));
  int after = 0;
  int before_on_drained = 0;
  for (const FrontendRequest& request : log) {
    if (request.revision >= drain_revision) {
      ++after;
      CHECK(request.instance != drained->id);
    } else if (request.instance == drained->id) {
      ++before_on_drained;
    }
  }
  CHECK(after >= 75);
  CHECK(before_on_drained >= 1);

  // musterd keeps it, DRAINING, heartbeating.
  bool found = false;
  for (const v1::Instance& i : fleet.Instances(false)) {
    if (i.id() != drained->id) continue;
    found = true;
    CHECK(i.admin_state() == v1::ADMIN_STATE_DRAINING);
    CHECK(i.health() == v1::HEALTH_PASSING);
  }
  CHECK(found);

  // From the drain's commit to the last request the drained one served.
  int64_t commit_us = 0;
  for (const v1::Event& event : fleet.Events()) {
    if (event.revision() == drain_revision) {
      commit_us = google::protobuf::util::TimeUtil::TimestampToMicroseconds(
          event.time());
    }
  }
  CHECK(commit_us > 0);
  int64_t last_us = 0;
  for (const ServedRequest& request :
       ParseIdentityLog(testing::ReadFile(drained->log_path))) {
    if (request.path.rfind("/users/", 0) == 0) last_us = request.time_us;
  }
  std::fprintf(stderr,
               "fleet measured: drain at 50/s: the drained instance's last "
               "request came %.1f ms after the drain's commit (%.1f ms after "
               "the SetAdminState call began, %.1f ms after it returned)\n",
               (last_us - commit_us) / 1000.0,
               (last_us - call_start_us) / 1000.0,
               (last_us - call_end_us) / 1000.0);
}

TEST_CASE(
    "the fleet rides through a musterd restart: the frontend serves "
    "from its cache and the registrations recover without eviction",
    "[fleet][e2e][slow]") {
  // musterd's default progress interval (10 s): what confirms the
  // frontend's resumed watch is the PROGRESS musterd sends once a resume
  // has caught up.
  Fleet fleet;
  StartFleet(fleet, 30);
  std::map<std::string, uint64_t> incarnations;
  for (const v1::Instance& instance : fleet.Instances(true)) {
    incarnations[instance.id()] = instance.create_revision();
  }
  REQUIRE(incarnations.size() == 3);

  fleet.daemon().Kill();
  // The resolver notices and keeps serving the cached set.
  FLEET_REQUIRE(
      fleet,
      Eventually(
          [&] {
            auto stats = fleet.FrontendStats();
            return stats && Number(*stats, {"resolver", "staleness_ms"}) > 0;
          },
          seconds(10)));
  auto stats = fleet.FrontendStats();
  REQUIRE(stats.has_value());
  FLEET_REQUIRE(fleet, fleet.AwaitCompleted(
                           static_cast<uint64_t>(Number(*stats, {"completed"})),
                           60, seconds(10)));
  stats = fleet.FrontendStats();
  REQUIRE(stats.has_value());
  const double staleness_ms = Number(*stats, {"resolver", "staleness_ms"});
  CHECK(staleness_ms >= 1000);
  CHECK(Number(*stats, {"failures"}) == 0);
  CHECK(Counts(*stats, "by_instance").size() == 3);
  for (const std::string& id : kIds) {
    auto identity_stats = fleet.identity(id)->Stats();
    REQUIRE(identity_stats.has_value());
    CHECK(String(*identity_stats, {"registration", "state"}) == "retrying");
  }

  fleet.daemon().KeepPorts();
  const auto restarting = std::chrono::steady_clock::now();
  FLEET_REQUIRE(fleet, fleet.daemon().Start());
  const auto restarted = std::chrono::steady_clock::now();
  FLEET_REQUIRE(fleet, fleet.AwaitRoutable(kIds, seconds(20)));
  // The resolver retries at most 5 s apart (jittered backoff), and the
  // resumed watch is confirmed at once.
  FLEET_REQUIRE(fleet,
                Eventually(
                    [&] {
                      auto s = fleet.FrontendStats();
                      return s && Number(*s, {"resolver", "staleness_ms"}) == 0;
                    },
                    seconds(9)));
  const auto reconnected = std::chrono::steady_clock::now();
  // Two TTLs after the restart: had the heartbeats not reached the new
  // musterd, the instances would be CRITICAL by now.
  std::this_thread::sleep_for(seconds(6));
  for (const v1::Instance& instance : fleet.Instances(false)) {
    CHECK(instance.health() == v1::HEALTH_PASSING);
    CHECK(instance.create_revision() == incarnations[instance.id()]);
  }
  CHECK(fleet.Instances(true).size() == 3);
  for (const std::string& id : kIds) {
    auto identity_stats = fleet.identity(id)->Stats();
    REQUIRE(identity_stats.has_value());
    CHECK(String(*identity_stats, {"registration", "state"}) == "registered");
    CHECK(Number(*identity_stats, {"registration", "registrations"}) == 1);
    CHECK(String(*identity_stats, {"registration", "last_error"}).empty());
  }
  for (const v1::Event& event : fleet.Events()) {
    INFO("event " << event.ShortDebugString());
    CHECK(event.type() != v1::Event::DELETE);
    CHECK(event.cause() != v1::Event::EVICTED);
    CHECK(event.instance().health() != v1::HEALTH_CRITICAL);
  }

  const google::protobuf::Struct final_stats = FinalStats(fleet);
  std::fprintf(stderr,
               "fleet measured: musterd kill -9 and restart at 30/s: "
               "%.0f requests, %.0f failed, %.0f retried; staleness reached "
               "%.0f ms while down; musterd started in %.1f s, the "
               "frontend's watch was back %.1f s later\n",
               Number(final_stats, {"completed"}),
               Number(final_stats, {"failures"}),
               Number(final_stats, {"retried_requests"}), staleness_ms,
               std::chrono::duration<double>(restarted - restarting).count(),
               std::chrono::duration<double>(reconnected - restarted).count());
  CHECK(Number(final_stats, {"failures"}) == 0);
}

TEST_CASE(
    "an identity instance stopped with SIGTERM drains, serves through "
    "its grace and deregisters, and the frontend loses no request",
    "[fleet][e2e]") {
  Fleet fleet;
  StartFleet(fleet, 40, {"--drain-grace", "2s"});
  Identity* leaving = fleet.identity("identity-1");

  const auto signalled = std::chrono::steady_clock::now();
  leaving->child->Signal(SIGTERM);
  const std::optional<int> code = leaving->child->Wait(absl::Seconds(20));
  const auto exited = std::chrono::steady_clock::now();
  FLEET_REQUIRE(fleet, code.has_value());
  CHECK(*code == 0);
  CHECK(exited - signalled >= milliseconds(2000));

  for (const v1::Instance& instance : fleet.Instances(false)) {
    CHECK(instance.id() != leaving->id);
  }
  // DRAINING ("shutting down") first, then this incarnation deregistered.
  std::vector<v1::Event> events;
  for (const v1::Event& event : fleet.Events()) {
    if (event.instance().id() == leaving->id &&
        event.cause() != v1::Event::HEALTH_CHANGED &&
        event.cause() != v1::Event::REGISTERED) {
      events.push_back(event);
    }
  }
  REQUIRE(events.size() == 2);
  CHECK(events[0].cause() == v1::Event::ADMIN_CHANGED);
  CHECK(events[0].instance().admin_state() == v1::ADMIN_STATE_DRAINING);
  CHECK(events[1].type() == v1::Event::DELETE);
  CHECK(events[1].cause() == v1::Event::DEREGISTERED);

  // It served during the grace no request picked after the drain reached
  // the frontend, and nothing failed.
  auto stats = fleet.FrontendStats();
  REQUIRE(stats.has_value());
  FLEET_REQUIRE(fleet, fleet.AwaitCompleted(
                           static_cast<uint64_t>(Number(*stats, {"completed"})),
                           40, seconds(10)));
  const google::protobuf::Struct final_stats = FinalStats(fleet);
  CHECK(Number(final_stats, {"failures"}) == 0);
  const uint64_t drain_revision = events[0].revision();
  for (const FrontendRequest& request :
       ParseFrontendLog(testing::ReadFile(fleet.frontend_log_path()))) {
    CHECK(request.status == 200);
    if (request.revision >= drain_revision) {
      CHECK(request.instance != leaving->id);
    }
  }
}

TEST_CASE(
    "identity with --check http is probed by musterd on its "
    "HealthServer, whose /readyz turns 503 while it drains",
    "[fleet][e2e]") {
  Fleet fleet;
  FLEET_REQUIRE(fleet, fleet.daemon().Start());
  Identity* identity = fleet.StartIdentity(
      "identity-h", {"--check", "http", "--drain-grace", "3s"});
  FLEET_REQUIRE(fleet, identity != nullptr);
  FLEET_REQUIRE(fleet, fleet.AwaitRoutable({"identity-h"}, seconds(20)));
  const std::vector<v1::Instance> instances = fleet.Instances(true);
  REQUIRE(instances.size() == 1);
  const v1::CheckSpec& check = instances[0].check();
  CHECK(check.kind() == v1::CHECK_KIND_HTTP);
  const std::string prefix = "http://127.0.0.1:";
  REQUIRE(check.http_url().rfind(prefix, 0) == 0);
  const std::string path = "/readyz";
  REQUIRE(check.http_url().size() > prefix.size() + path.size());
  REQUIRE(check.http_url().substr(check.http_url().size() - path.size()) ==
          path);
  const int health_port = std::stoi(check.http_url().substr(prefix.size()));
  CHECK(health_port != identity->port);
  CHECK(GetStatus(health_port, "/readyz") == 200);

  identity->child->Signal(SIGTERM);
  FLEET_REQUIRE(
      fleet,
      Eventually([&] { return GetStatus(health_port, "/readyz") == 503; },
                 seconds(3)));
  // Still serving its own traffic through the grace.
  auto user = GetJson(identity->port, "/users/1");
  CHECK(user.has_value());
  const std::optional<int> code = identity->child->Wait(absl::Seconds(20));
  FLEET_REQUIRE(fleet, code.has_value());
  CHECK(*code == 0);
  CHECK(fleet.Instances(false).empty());
}

}  // namespace
}  // namespace muster::fleet
