// High availability end to end: real musterd replicas (--store etcd) over
// a real 3-member etcd cluster, driven from outside through gRPC and
// musterctl while replicas are killed (SIGKILL) and etcd members are
// killed or frozen (SIGSTOP). Every case asserts what a client relies on:
// nothing acknowledged is lost, reads catch up with writes on any
// replica, watches resume elsewhere without gap or duplicate, each
// instance is checked by exactly one live replica.

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "muster/internal/v1/peer.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/child_process.h"
#include "testkit/daemon_process.h"
#include "tests/e2e/ha/ha_cluster.h"
#include "tests/support/eventually.h"

namespace muster::testing {
namespace {

using muster::v1::Event;
using muster::v1::Health;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

std::unique_ptr<HaCluster> StartCluster() {
  absl::StatusOr<std::unique_ptr<HaCluster>> cluster = HaCluster::Start();
  INFO(cluster.status().ToString());
  REQUIRE(cluster.ok());
  return *std::move(cluster);
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void SetMillis(google::protobuf::Duration* duration, int64_t millis) {
  duration->set_seconds(millis / 1000);
  duration->set_nanos(static_cast<int32_t>((millis % 1000) * 1000000));
}

// Every acknowledged registration is readable from replica `i` once it
// has applied the highest acknowledged revision, with the acknowledged
// incarnation.
void CheckAllReadable(const HaCluster& cluster, int i,
                      const std::vector<Acked>& acked) {
  uint64_t max_revision = 0;
  for (const Acked& a : acked)
    max_revision = std::max(max_revision, a.revision);
  absl::StatusOr<std::vector<muster::v1::Instance>> listed =
      cluster.ListAll(i, max_revision);
  INFO(listed.status().ToString());
  REQUIRE(listed.ok());
  std::map<std::string, uint64_t> incarnations;
  for (const auto& instance : *listed) {
    incarnations[instance.id()] = instance.create_revision();
  }
  size_t missing = 0;
  size_t wrong = 0;
  std::string first_bad;
  for (const Acked& a : acked) {
    auto found = incarnations.find(a.id);
    if (found == incarnations.end()) {
      ++missing;
    } else if (found->second != a.incarnation) {
      ++wrong;
    } else {
      continue;
    }
    if (first_bad.empty()) {
      first_bad = absl::StrCat(a.id, " acked at incarnation ", a.incarnation,
                               " revision ", a.revision);
    }
  }
  INFO("replica r" << i << ": " << acked.size() << " acknowledged, " << missing
                   << " missing, " << wrong
                   << " with another incarnation; first: " << first_bad);
  CHECK(missing == 0);
  CHECK(wrong == 0);
}

// SIGCONT for every etcd member at the end of a scope, whatever happened.
struct ContinueEtcdAtExit {
  EtcdCluster& etcd;
  ~ContinueEtcdAtExit() {
    for (int i = 0; i < etcd.size(); ++i) etcd.Continue(i);
  }
};

// Registers load, disturbs the cluster with `disturb`, and checks that
// registrations go on within `resume` and nothing acknowledged is lost on
// any live replica. Then every live replica must take a write itself
// within `resume` (the load moves to another replica on UNAVAILABLE, which
// would hide one stuck on a dead etcd member), and no longer use
// `dead_endpoint` (when given).
void LoadThroughDisturbance(HaCluster& cluster, const std::string& prefix,
                            const std::function<void()>& disturb,
                            seconds resume,
                            const std::string& dead_endpoint = "") {
  RegisterLoad load(cluster, prefix, 3);
  REQUIRE(load.WaitForAcked(60, seconds(20)));
  disturb();
  const auto disturbed_at = Clock::now();
  const size_t before = load.acked_count();
  const bool resumed = load.WaitForAcked(before + 60, resume);
  const double took = SecondsSince(disturbed_at);
  load.Stop();
  INFO("60 more registrations acknowledged "
       << took << " s after the disturbance; " << load.retries() << " retries");
  INFO(cluster.Logs());
  INFO("failed registrations:\n" << load.failure_log());
  // KNOWN MUSTERD BUG (fails now and then as of this commit; the test is
  // right): a registration that meets a conflict (another replica wrote
  // first) is answered NOT_FOUND 'realm "" not found'. The committer
  // prepares the group again, but the Register prepare function moved its
  // captured request into Upsert on the first run (registry/instances.cc,
  // Instances::Register: Upsert(txn, std::move(request), ...)), so the
  // second run sees an empty Instance. Conflicts are common while etcd
  // fails over and whenever replicas write at the same time.
  CHECK(resumed);
  CHECK(load.failures() == 0);
  const std::vector<Acked> acked = load.acked();
  for (int i = 0; i < cluster.size(); ++i) {
    if (!cluster.dead(i)) CheckAllReadable(cluster, i, acked);
  }
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.dead(i)) continue;
    std::string last;
    const bool writes = Eventually(
        [&] {
          muster::v1::RegisterResponse response;
          grpc::Status status = cluster.stub(i).Register(
              ContextMs(6000).get(),
              PlainInstance("direct", prefix + "-direct-" + std::to_string(i)),
              &response);
          last = status.error_message();
          return status.ok();
        },
        resume, milliseconds(100));
    INFO("replica r" << i << " itself: " << last);
    CHECK(writes);
    if (!dead_endpoint.empty()) {
      absl::StatusOr<muster::v1::ServerInfo> info = cluster.Info(i);
      REQUIRE(info.ok());
      CHECK(info->replication().etcd_endpoint() != dead_endpoint);
    }
  }
}

// The etcd member replica 0 uses now.
int MemberInUse(HaCluster& cluster) {
  absl::StatusOr<muster::v1::ServerInfo> info = cluster.Info(0);
  REQUIRE(info.ok());
  for (int m = 0; m < cluster.etcd().size(); ++m) {
    if (cluster.etcd().endpoint(m) == info->replication().etcd_endpoint())
      return m;
  }
  FAIL("replica r0 uses no known etcd member: "
       << info->replication().etcd_endpoint());
  return -1;
}

// TTL-checked instances (service "ttl") registered on replica `via`, a
// thread heartbeating each every second to that replica (unary calls, or
// with `stream` all of them in one message on a HeartbeatStream), and a
// watch of their health on it. REQUIRES: replica `via` lives throughout.
class TtlFleet {
 public:
  static constexpr int kTtlMs = 3000;

  TtlFleet(HaCluster& cluster, int via, int count, bool stream = false)
      : cluster_(cluster), via_(via), stream_(stream) {
    for (int k = 0; k < count; ++k) {
      auto ttl = std::make_unique<Ttl>();
      ttl->id = "ttl-" + std::to_string(k);
      muster::v1::RegisterRequest request = PlainInstance("ttl", ttl->id);
      muster::v1::CheckSpec* check =
          request.mutable_instance()->mutable_check();
      check->set_kind(muster::v1::CHECK_KIND_TTL);
      SetMillis(check->mutable_ttl(), kTtlMs);
      SetMillis(check->mutable_deregister_after(), 60000);
      muster::v1::RegisterResponse response;
      grpc::Status status =
          cluster.stub(via).Register(ContextMs(5000).get(), request, &response);
      INFO(status.error_message());
      REQUIRE(status.ok());
      ttl->incarnation = response.instance().create_revision();
      instances_.push_back(std::move(ttl));
    }
    watcher_ = std::make_unique<ResumingWatcher>(cluster, via, 0);
    beater_ = std::thread([this] { Beat(); });
  }
  ~TtlFleet() {
    stop_ = true;
    beater_.join();
  }

  void StopHeartbeats() {
    for (const auto& ttl : instances_) ttl->beating = false;
  }
  // Every instance's last health in the watch is `health`.
  bool AllAre(Health health) const {
    std::map<std::string, Health> now;
    for (const Event& event : watcher_->events()) {
      if (event.instance().service() == "ttl")
        now[event.instance().id()] = event.instance().health();
    }
    if (now.size() != instances_.size()) return false;
    for (const auto& [id, h] : now) {
      if (h != health) return false;
    }
    return true;
  }
  // The CRITICAL verdicts in the watch, as "id@revision".
  std::vector<std::string> Criticals() const {
    std::vector<std::string> out;
    for (const Event& event : watcher_->events()) {
      if (event.instance().service() == "ttl" &&
          event.instance().health() == muster::v1::HEALTH_CRITICAL)
        out.push_back(event.instance().id() + "@" +
                      std::to_string(event.revision()));
    }
    return out;
  }
  int heartbeat_errors() const { return heartbeat_errors_; }
  int critical_answers() const { return critical_answers_; }
  const std::string& last_error() const { return last_error_; }

 private:
  struct Ttl {
    std::string id;
    uint64_t incarnation = 0;
    std::atomic<bool> beating{true};
  };

  void Beat() {
    if (stream_) {
      BeatOnStream();
      return;
    }
    while (!stop_) {
      for (const auto& ttl : instances_) {
        if (!ttl->beating) continue;
        muster::v1::HeartbeatRequest request;
        request.set_service("ttl");
        request.set_id(ttl->id);
        request.set_incarnation(ttl->incarnation);
        muster::v1::HeartbeatResponse response;
        grpc::Status status = cluster_.stub(via_).Heartbeat(
            ContextMs(2000).get(), request, &response);
        if (!status.ok()) {
          ++heartbeat_errors_;
          last_error_ = status.error_message();
        }
        if (response.health() == muster::v1::HEALTH_CRITICAL)
          ++critical_answers_;
      }
      std::this_thread::sleep_for(milliseconds(1000));
    }
  }

  void BeatOnStream() {
    grpc::ClientContext context;
    auto stream = cluster_.stub(via_).HeartbeatStream(&context);
    uint64_t sequence = 0;
    while (!stop_) {
      muster::v1::HeartbeatStreamRequest message;
      message.set_sequence(++sequence);
      for (const auto& ttl : instances_) {
        if (!ttl->beating) continue;
        muster::v1::HeartbeatRequest* request = message.add_heartbeats();
        request->set_service("ttl");
        request->set_id(ttl->id);
        request->set_incarnation(ttl->incarnation);
      }
      if (message.heartbeats_size() > 0) {
        muster::v1::HeartbeatStreamResponse response;
        if (!stream->Write(message) || !stream->Read(&response)) {
          ++heartbeat_errors_;
          last_error_ = stream->Finish().error_message();
          return;
        }
        for (const muster::v1::HeartbeatResult& result : response.results()) {
          if (result.code() != 0) {
            ++heartbeat_errors_;
            last_error_ = result.message();
          }
          if (result.health() == muster::v1::HEALTH_CRITICAL)
            ++critical_answers_;
        }
      }
      std::this_thread::sleep_for(milliseconds(1000));
    }
    stream->WritesDone();
    muster::v1::HeartbeatStreamResponse rest;
    while (stream->Read(&rest)) {
    }
    (void)stream->Finish();
  }

  HaCluster& cluster_;
  const int via_;
  const bool stream_;
  std::vector<std::unique_ptr<Ttl>> instances_;
  std::unique_ptr<ResumingWatcher> watcher_;
  std::atomic<bool> stop_{false};
  std::atomic<int> heartbeat_errors_{0};
  std::atomic<int> critical_answers_{0};
  std::string last_error_;  // written by the beater only; read after join
  std::thread beater_;
};

// Watches for `window` that no TTL instance turns critical.
void ExpectNoCritical(const TtlFleet& fleet, milliseconds window) {
  const auto end = Clock::now() + window;
  while (Clock::now() < end) {
    std::vector<std::string> criticals = fleet.Criticals();
    INFO("critical: " << absl::StrJoin(criticals, ", "));
    REQUIRE(criticals.empty());
    std::this_thread::sleep_for(milliseconds(100));
  }
}

// Stops the heartbeats and expects every instance critical within the
// TTL, the lease TTL and 5 s: they are all still checked by someone.
void ExpectAllTurnCritical(TtlFleet& fleet) {
  fleet.StopHeartbeats();
  const auto stopped_at = Clock::now();
  const bool red = Eventually(
      [&] { return fleet.AllAre(muster::v1::HEALTH_CRITICAL); },
      milliseconds(TtlFleet::kTtlMs + kLeaseTtlSeconds * 1000 + 5000),
      milliseconds(100));
  INFO("all critical after " << SecondsSince(stopped_at) << " s");
  CHECK(red);
}

}  // namespace

TEST_CASE(
    "SIGKILL of a replica under register load loses no acknowledged "
    "registration",
    "[ha][slow]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  LoadThroughDisturbance(
      *cluster, "k", [&] { cluster->KillReplica(0); }, seconds(15));
}

TEST_CASE("SIGKILL of an etcd follower: registrations go on and none is lost",
          "[ha][slow]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  absl::StatusOr<int> leader = cluster->etcd().LeaderIndex();
  REQUIRE(leader.ok());
  // The follower replica 0 talks to, if it talks to one: it must move.
  int follower = MemberInUse(*cluster);
  if (follower == *leader) follower = (*leader + 1) % cluster->etcd().size();
  const std::string endpoint = cluster->etcd().endpoint(follower);
  LoadThroughDisturbance(
      *cluster, "f", [&] { cluster->etcd().Kill(follower); }, seconds(10),
      endpoint);
}

TEST_CASE("SIGKILL of the etcd leader: registrations go on and none is lost",
          "[ha][slow]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  absl::StatusOr<int> leader = cluster->etcd().LeaderIndex();
  REQUIRE(leader.ok());
  const std::string endpoint = cluster->etcd().endpoint(*leader);
  LoadThroughDisturbance(
      *cluster, "l", [&] { cluster->etcd().Kill(*leader); }, seconds(15),
      endpoint);
}

TEST_CASE(
    "SIGSTOP of the etcd leader: registrations resume under a new "
    "leader and none is lost",
    "[ha][slow]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  ContinueEtcdAtExit continue_etcd{cluster->etcd()};
  absl::StatusOr<int> leader = cluster->etcd().LeaderIndex();
  REQUIRE(leader.ok());
  // Resumes while the old leader is still frozen: the other two elect a
  // new one; the replicas talking to the frozen member must move.
  LoadThroughDisturbance(
      *cluster, "s", [&] { cluster->etcd().Stop(*leader); }, seconds(20),
      cluster->etcd().endpoint(*leader));
  cluster->etcd().Continue(*leader);
  // After SIGCONT the old leader rejoins; writes still work.
  muster::v1::RegisterResponse response;
  grpc::Status status = cluster->RegisterWithFailover(
      0, PlainInstance("load", "after-sigcont"), &response, seconds(15));
  INFO(status.error_message());
  CHECK(status.ok());
}

TEST_CASE(
    "a watch resumed on another replica after SIGKILL has no gap and "
    "no duplicate",
    "[ha][slow]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  absl::StatusOr<muster::v1::ServerInfo> info = cluster->Info(0);
  REQUIRE(info.ok());
  const uint64_t from = info->revision() + 1;
  ResumingWatcher watcher(*cluster, 0, from);
  REQUIRE(Eventually([&] { return !watcher.replicas_used().empty(); },
                     seconds(10)));

  RegisterLoad load(*cluster, "w", 3);
  REQUIRE(load.WaitForAcked(30, seconds(20)));
  cluster->KillReplica(0);
  const size_t before = load.acked_count();
  CHECK(load.WaitForAcked(before + 60, seconds(20)));
  load.Stop();
  INFO("failed registrations:\n" << load.failure_log());
  CHECK(load.failures() == 0);
  const std::vector<Acked> acked = load.acked();
  const uint64_t max_revision = load.max_revision();
  INFO(cluster->Logs());
  REQUIRE(watcher.WaitForRevision(max_revision, seconds(15)));

  const std::vector<Event> events = watcher.events();
  const std::vector<int> used = watcher.replicas_used();
  INFO("watched replicas: " << absl::StrJoin(used, ","));
  INFO("watch trace:\n" << watcher.trace());
  CHECK(watcher.errors().empty());
  REQUIRE(used.size() >= 2);
  CHECK(used.front() == 0);
  CHECK(used.back() != 0);

  // In revision order, no event twice. With --store etcd one revision
  // may hold several instances' events: a replica writes a group of
  // mutations as one etcd Txn (registry/committer.h).
  std::set<std::pair<uint64_t, std::string>> distinct;
  for (size_t i = 0; i < events.size(); ++i) {
    INFO("event " << i << " at revision " << events[i].revision());
    if (i > 0) REQUIRE(events[i].revision() >= events[i - 1].revision());
    REQUIRE(distinct.emplace(events[i].revision(), events[i].instance().id())
                .second);
  }
  // Every acknowledged registration exactly once, as a PUT REGISTERED at
  // its incarnation; nothing about an instance never acknowledged.
  std::map<std::string, std::vector<const Event*>> by_id;
  for (const Event& event : events)
    by_id[event.instance().id()].push_back(&event);
  std::set<std::string> acked_ids;
  for (const Acked& a : acked) {
    acked_ids.insert(a.id);
    const auto& seen = by_id[a.id];
    INFO(a.id << " acknowledged at incarnation " << a.incarnation);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0]->type() == Event::PUT);
    CHECK(seen[0]->cause() == Event::REGISTERED);
    CHECK(seen[0]->revision() == a.incarnation);
  }
  for (const auto& [id, seen] : by_id) {
    INFO(id);
    CHECK(acked_ids.count(id) == 1);
  }
  // No gap: the watcher saw exactly the change log's revisions.
  absl::StatusOr<std::vector<Event>> logged = cluster->EventsFrom(1, from);
  REQUIRE(logged.ok());
  std::vector<std::pair<uint64_t, std::string>> logged_revisions;
  for (const Event& event : *logged) {
    if (event.revision() <= watcher.last_revision()) {
      logged_revisions.emplace_back(event.revision(), event.instance().id());
    }
  }
  std::vector<std::pair<uint64_t, std::string>> seen_revisions;
  for (const Event& event : events) {
    seen_revisions.emplace_back(event.revision(), event.instance().id());
  }
  CHECK(seen_revisions == logged_revisions);
}

TEST_CASE(
    "a dead TCP-checked instance is evicted exactly once on every "
    "replica",
    "[ha][slow]") {
  // deregister_after cannot be under one minute: a little over a minute.
  std::unique_ptr<HaCluster> cluster = StartCluster();
  const int closed_port = FreePort();  // nothing listens there
  REQUIRE(closed_port != 0);
  // Two instances (eviction protection needs at least 3 checked ones),
  // registered through two different replicas.
  std::vector<std::string> ids = {"dead-a", "dead-b"};
  for (int k = 0; k < 2; ++k) {
    muster::v1::RegisterRequest request = PlainInstance("tcp", ids[k]);
    request.mutable_instance()->set_port(closed_port);
    muster::v1::CheckSpec* check = request.mutable_instance()->mutable_check();
    check->set_kind(muster::v1::CHECK_KIND_TCP);
    SetMillis(check->mutable_interval(), 1000);
    SetMillis(check->mutable_timeout(), 500);
    check->set_unhealthy_threshold(1);
    SetMillis(check->mutable_deregister_after(), 60000);
    muster::v1::RegisterResponse response;
    grpc::Status status =
        cluster->stub(k).Register(ContextMs(5000).get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  auto gone_everywhere = [&] {
    for (int i = 0; i < cluster->size(); ++i) {
      for (const std::string& id : ids) {
        muster::v1::GetInstanceRequest get;
        get.set_service("tcp");
        get.set_id(id);
        muster::v1::Instance instance;
        if (cluster->stub(i)
                .GetInstance(ContextMs(3000).get(), get, &instance)
                .error_code() != grpc::StatusCode::NOT_FOUND) {
          return false;
        }
      }
    }
    return true;
  };
  INFO(cluster->Logs());
  REQUIRE(Eventually(gone_everywhere, seconds(100), milliseconds(500)));

  std::vector<std::vector<uint64_t>> deletes_by_replica;
  for (int i = 0; i < cluster->size(); ++i) {
    absl::StatusOr<std::vector<Event>> events = cluster->EventsFrom(i, 0);
    REQUIRE(events.ok());
    std::vector<uint64_t> deletes;
    for (const std::string& id : ids) {
      int evictions = 0;
      int other_deletes = 0;
      for (const Event& event : *events) {
        if (event.instance().id() != id || event.type() != Event::DELETE)
          continue;
        if (event.cause() == Event::EVICTED) {
          ++evictions;
          deletes.push_back(event.revision());
          CHECK(event.actor() == "health-checker");
          CHECK_THAT(event.reason(), Catch::Contains("evicted"));
        } else {
          ++other_deletes;
        }
      }
      INFO("replica r" << i << ", " << id);
      CHECK(evictions == 1);
      CHECK(other_deletes == 0);
    }
    deletes_by_replica.push_back(deletes);
  }
  CHECK(deletes_by_replica[1] == deletes_by_replica[0]);
  CHECK(deletes_by_replica[2] == deletes_by_replica[0]);
}

TEST_CASE(
    "TTL instances stay passing through the handover of a dead "
    "replica's checks and are still checked after it",
    "[ha][slow]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  // Heartbeats go to r0; r2 is killed. Each instance is owned by r2 with
  // probability 1/3: the chance that none is is (2/3)^18 < 0.1%.
  TtlFleet fleet(*cluster, 0, 18);
  REQUIRE(Eventually([&] { return fleet.AllAre(muster::v1::HEALTH_PASSING); },
                     seconds(15)));

  cluster->KillReplica(2);
  const auto killed_at = Clock::now();
  absl::Status membership = cluster->WaitForMembership(seconds(15));
  INFO(membership.ToString());
  REQUIRE(membership.ok());
  INFO("handover seen " << SecondsSince(killed_at) << " s after the SIGKILL");
  // Three TTLs after the survivors took r2's instances over: past the
  // checker's restart grace, a missed handover or heartbeat turns red.
  ExpectNoCritical(fleet, milliseconds(3 * TtlFleet::kTtlMs));
  CHECK(fleet.critical_answers() == 0);
  CHECK(fleet.heartbeat_errors() == 0);
  CHECK(fleet.AllAre(muster::v1::HEALTH_PASSING));
  // Still checked: every instance (r2's former ones among them) turns
  // critical once its heartbeats stop.
  ExpectAllTurnCritical(fleet);
}

TEST_CASE(
    "TTL instances heartbeated on a stream through one replica are kept "
    "passing by whichever replica checks them",
    "[ha]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  // r0 receives every heartbeat on one stream; about 2/3 of the instances
  // are checked elsewhere and their heartbeats are forwarded.
  TtlFleet fleet(*cluster, 0, 18, /*stream=*/true);
  REQUIRE(Eventually([&] { return fleet.AllAre(muster::v1::HEALTH_PASSING); },
                     seconds(15)));
  ExpectNoCritical(fleet, milliseconds(2 * TtlFleet::kTtlMs));
  INFO(fleet.last_error());
  CHECK(fleet.heartbeat_errors() == 0);
  CHECK(fleet.critical_answers() == 0);
  // Still checked: every instance turns critical once the stream's
  // heartbeats stop.
  ExpectAllTurnCritical(fleet);
}

// KNOWN MUSTERD BUG (fails as of this commit; the test is right): a
// frozen (SIGSTOP) or black-holed etcd member, even a follower, makes
// every replica that talks to it lose its etcd lease. The lease renewal
// (EtcdStore::RenewLoop -> EtcdClient::LeaseKeepAliveOnce) waits the
// client's call_timeout (5 s) on the silent member before it moves to the
// next endpoint, longer than the lease TTL (2 s here, 5 s by default), and
// every replica starts on the same first endpoint. So all replicas drop
// out at once ("replicas now: none" in every log), nobody checks anything
// and fenced verdicts fail for a few seconds, then all join again with
// new leases and every instance is handed over twice.
TEST_CASE(
    "freezing the etcd member the replicas use keeps every replica a "
    "member and every TTL instance passing",
    "[ha][slow]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  ContinueEtcdAtExit continue_etcd{cluster->etcd()};
  TtlFleet fleet(*cluster, 0, 9);
  REQUIRE(Eventually([&] { return fleet.AllAre(muster::v1::HEALTH_PASSING); },
                     seconds(15)));
  const int frozen = MemberInUse(*cluster);
  absl::StatusOr<int> leader = cluster->etcd().LeaderIndex();
  REQUIRE(leader.ok());
  INFO("froze etcd member "
       << frozen << (frozen == *leader ? " (leader)" : " (follower)"));
  cluster->etcd().Stop(frozen);
  // Two members of three still make a quorum: each replica must move to
  // them before its lease runs out, so that none stops checking.
  std::string lost;
  const auto end = Clock::now() + seconds(10);
  while (Clock::now() < end && lost.empty()) {
    for (int i = 0; i < cluster->size() && lost.empty(); ++i) {
      absl::StatusOr<muster::v1::ServerInfo> info = cluster->Info(i);
      if (!info.ok()) continue;
      if (!info->replication().member() ||
          info->replication().replicas_size() != cluster->size()) {
        lost = absl::StrCat("r", i, " member=", info->replication().member(),
                            " sees ", info->replication().replicas_size(),
                            " replicas after ", SecondsSince(end - seconds(10)),
                            " s");
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  INFO(cluster->Logs());
  INFO("membership lost: " << lost);
  CHECK(lost.empty());
  ExpectNoCritical(fleet, milliseconds(2 * TtlFleet::kTtlMs));
  CHECK(fleet.critical_answers() == 0);
  cluster->etcd().Continue(frozen);
  ExpectAllTurnCritical(fleet);
}

TEST_CASE(
    "a replica cut off from etcd refuses writes with UNAVAILABLE and "
    "serves reads that say how stale they are",
    "[ha][slow]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  muster::v1::RegisterResponse registered;
  REQUIRE(cluster->stub(0)
              .Register(ContextMs(5000).get(), PlainInstance("cut", "before"),
                        &registered)
              .ok());
  ContinueEtcdAtExit continue_etcd{cluster->etcd()};
  for (int i = 0; i < cluster->etcd().size(); ++i) cluster->etcd().Stop(i);

  const auto write_at = Clock::now();
  muster::v1::RegisterResponse response;
  grpc::Status status = cluster->stub(0).Register(
      ContextMs(8000).get(), PlainInstance("cut", "during"), &response);
  const double write_s = SecondsSince(write_at);
  INFO("the write answered " << status.error_code() << " \""
                             << status.error_message() << "\" after " << write_s
                             << " s");
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(write_s < 8.0);

  // Reads answer from memory, saying how stale they may be.
  int64_t staleness_ms = -2;
  std::string history;  // every staleness read, when
  auto stale_read = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(3));
    muster::v1::GetInstanceRequest get;
    get.set_service("cut");
    get.set_id("before");
    muster::v1::Instance instance;
    if (!cluster->stub(1).GetInstance(&context, get, &instance).ok())
      return false;
    const auto& metadata = context.GetServerInitialMetadata();
    auto found = metadata.find("muster-staleness-ms");
    if (found == metadata.end()) return false;
    staleness_ms = std::strtoll(
        std::string(found->second.data(), found->second.size()).c_str(),
        nullptr, 10);
    absl::StrAppend(&history, staleness_ms, " ms at +",
                    static_cast<int>(SecondsSince(write_at) * 1000), " ms; ");
    return staleness_ms > 3000;
  };
  const bool grew = Eventually(stale_read, seconds(15), milliseconds(200));
  INFO("muster-staleness-ms " << staleness_ms << ": " << history);
  CHECK(grew);
  absl::StatusOr<muster::v1::ServerInfo> info = cluster->Info(1);
  REQUIRE(info.ok());
  CHECK(info->replication().staleness().seconds() >= 3);

  for (int i = 0; i < cluster->etcd().size(); ++i) cluster->etcd().Continue(i);
  const auto continued_at = Clock::now();
  status = cluster->RegisterWithFailover(0, PlainInstance("cut", "after"),
                                         &response, seconds(20));
  INFO("after SIGCONT: " << status.error_message() << " after "
                         << SecondsSince(continued_at) << " s");
  INFO(cluster->Logs());
  CHECK(status.ok());
  // And the replica catches up: staleness falls back.
  std::string after;
  const bool current = Eventually(
      [&] {
        absl::StatusOr<muster::v1::ServerInfo> now = cluster->Info(1);
        if (!now.ok()) {
          absl::StrAppend(&after, now.status().message(), "; ");
          return false;
        }
        const auto& staleness = now->replication().staleness();
        absl::StrAppend(&after, staleness.seconds(), ".",
                        staleness.nanos() / 1000000, " s; ");
        return staleness.seconds() < 2;
      },
      seconds(15), milliseconds(500));
  INFO("staleness after SIGCONT: " << after);
  CHECK(current);
}

TEST_CASE("read your writes across replicas with min_revision", "[ha]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  uint64_t max_revision = 0;
  std::vector<std::pair<std::string, uint64_t>> written;
  for (int k = 0; k < 20; ++k) {
    const std::string id = "ryw-" + std::to_string(k);
    muster::v1::RegisterResponse response;
    grpc::Status status = cluster->stub(0).Register(
        ContextMs(5000).get(), PlainInstance("ryw", id), &response);
    REQUIRE(status.ok());
    max_revision = std::max(max_revision, response.revision());
    written.emplace_back(id, response.instance().create_revision());
    // At once on another replica, at the write's revision: there.
    muster::v1::GetInstanceRequest get;
    get.set_service("ryw");
    get.set_id(id);
    get.set_min_revision(response.revision());
    muster::v1::Instance instance;
    status = cluster->stub(1 + k % 2).GetInstance(ContextMs(5000).get(), get,
                                                  &instance);
    INFO(id << ": " << status.error_message());
    REQUIRE(status.ok());
    CHECK(instance.create_revision() == response.instance().create_revision());
  }
  // Every replica has the same revisions and incarnations.
  for (const auto& [id, incarnation] : written) {
    std::vector<std::pair<uint64_t, uint64_t>> seen;
    for (int i = 0; i < cluster->size(); ++i) {
      muster::v1::GetInstanceRequest get;
      get.set_service("ryw");
      get.set_id(id);
      get.set_min_revision(max_revision);
      muster::v1::Instance instance;
      REQUIRE(cluster->stub(i)
                  .GetInstance(ContextMs(5000).get(), get, &instance)
                  .ok());
      seen.emplace_back(instance.create_revision(), instance.modify_revision());
    }
    INFO(id);
    CHECK(seen[0].first == incarnation);
    CHECK(seen[1] == seen[0]);
    CHECK(seen[2] == seen[0]);
  }
}

TEST_CASE("musterctl with several addresses uses the first that answers",
          "[ha]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  muster::v1::RegisterResponse response;
  REQUIRE(cluster->stub(1)
              .Register(ContextMs(5000).get(), PlainInstance("cli", "cli-1"),
                        &response)
              .ok());
  cluster->KillReplica(0);
  SpawnOptions options;
  options.argv = {
      MUSTERCTL_PATH,
      "--addr",
      absl::StrJoin(
          {cluster->address(0), cluster->address(1), cluster->address(2)}, ","),
      "--timeout",
      "5s",
      "list",
      "-o",
      "json"};
  RunResult result = Run(options, absl::Seconds(30));
  INFO(result.out << result.err);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.out, Catch::Contains("\"cli-1\""));
}

TEST_CASE("the replicas' peer service refuses a caller without their secret",
          "[ha]") {
  std::unique_ptr<HaCluster> cluster = StartCluster();
  muster::v1::RegisterRequest ttl = PlainInstance("peer", "p-1");
  ttl.mutable_instance()->mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
  ttl.mutable_instance()->mutable_check()->mutable_ttl()->set_seconds(30);
  muster::v1::RegisterResponse registered;
  REQUIRE(
      cluster->stub(0).Register(ContextMs(5000).get(), ttl, &registered).ok());
  auto peer = muster::internal::v1::Peer::NewStub(grpc::CreateChannel(
      cluster->address(1), grpc::InsecureChannelCredentials()));
  muster::internal::v1::ForwardHeartbeatsRequest request;
  request.set_from("intruder");
  muster::internal::v1::ForwardedHeartbeat* heartbeat =
      request.add_heartbeats();
  heartbeat->set_realm("default");
  heartbeat->set_service("peer");
  heartbeat->set_id("p-1");
  heartbeat->set_incarnation(registered.instance().create_revision());
  for (const std::string secret : {"", "not-the-secret"}) {
    INFO("secret \"" << secret << "\"");
    std::unique_ptr<grpc::ClientContext> context = ContextMs(5000);
    if (!secret.empty()) context->AddMetadata("muster-peer-secret", secret);
    muster::internal::v1::ForwardHeartbeatsResponse response;
    const grpc::Status status =
        peer->ForwardHeartbeats(context.get(), request, &response);
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
}

}  // namespace muster::testing
