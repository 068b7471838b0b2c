// kill -9 cycles under concurrent writers, with the real musterd: after
// every crash and restart, each acknowledged mutation is still there and
// the revisions stay unique, in order and gap-free in the change log.
// MUSTER_FAULT_SCALE multiplies the cycles (5 per unit); MUSTER_FAULT_SEED
// replays a run's random choices (kill delays and the mutation mix).

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "tests/fault/ack_log.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

using muster::v1::Event;
using muster::v1::Instance;
using muster::v1::Registry;

constexpr int kWriters = 6;
constexpr int kCyclesPerScale = 5;
constexpr int kSharedIds = 6;  // ids every writer touches, besides its own
constexpr int kMaxOpsPerCycle = 200000;
constexpr int kMaxWriteSeconds = 20;  // a writer's bound per cycle
constexpr int kChangelogRetention = 3000;
constexpr char kService[] = "fault";

int EnvInt(const char* name, int fallback, int min, int max) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  return std::clamp(std::atoi(value), min, max);
}

uint64_t Seed() {
  const char* value = std::getenv("MUSTER_FAULT_SEED");
  if (value != nullptr && *value != '\0')
    return std::strtoull(value, nullptr, 10);
  std::random_device device;
  return (uint64_t{device()} << 32) | device();
}

std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(seconds));
  return context;
}

// Each writer keeps its own connection across restarts and reconnects
// quickly once musterd listens again on the same port.
std::shared_ptr<grpc::Channel> WriterChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

// One writer's state, kept across cycles. Used by one thread at a time.
struct Writer {
  int index = 0;
  std::mt19937_64 rng;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<Registry::Stub> stub;
  int next_id = 0;
  uint64_t sent = 0;
  std::vector<std::string> own;      // own ids it believes registered
  std::atomic<uint64_t> invalid{0};  // INVALID_ARGUMENT: a bug of this test

  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  }
};

// Sends one mutation and records it. Returns false when its outcome is in
// doubt: musterd is most likely gone, and the writer stops for the cycle.
bool WriteOnce(Writer& w, int cycle, AckLog& log) {
  enum class Op { kRegisterNew, kRegisterExisting, kDeregister, kAdmin };
  const int roll = w.Uniform(0, 99);
  const Op op = roll < 30   ? Op::kRegisterNew
                : roll < 55 ? Op::kRegisterExisting
                : roll < 70 ? Op::kDeregister
                            : Op::kAdmin;
  const bool shared = w.Uniform(0, 3) == 0;
  std::string id;
  int own_index = -1;
  if (op == Op::kRegisterNew) {
    id = "w" + std::to_string(w.index) + "-" + std::to_string(w.next_id++);
  } else if (shared || w.own.empty()) {
    id = "shared-" + std::to_string(w.Uniform(0, kSharedIds - 1));
  } else {
    own_index = w.Uniform(0, static_cast<int>(w.own.size()) - 1);
    id = w.own[own_index];
  }
  // Unique per mutation, so no Register or SetAdminState is a no-op that
  // would answer an older revision.
  const std::string tag = "c" + std::to_string(cycle) + ".w" +
                          std::to_string(w.index) + "." +
                          std::to_string(w.sent++);
  auto forget = [&] {
    if (own_index < 0) return;
    w.own[own_index] = w.own.back();
    w.own.pop_back();
  };

  Mutation m;
  m.cycle = cycle;
  m.writer = w.index;
  m.service = kService;
  m.id = id;
  grpc::Status status;
  if (op == Op::kRegisterNew || op == Op::kRegisterExisting) {
    m.kind = MutationKind::kRegister;
    muster::v1::RegisterRequest request;
    Instance* instance = request.mutable_instance();
    instance->set_service(kService);
    instance->set_id(id);
    instance->set_address("10.1.0." + std::to_string(w.index + 1));
    instance->set_port(static_cast<uint32_t>(w.Uniform(1024, 65535)));
    instance->set_version(tag);
    instance->mutable_check()->set_kind(muster::v1::CHECK_KIND_NONE);
    muster::v1::RegisterResponse response;
    status = w.stub->Register(Context(5).get(), request, &response);
    m.outcome = OutcomeOf(status);
    if (m.outcome == Outcome::kAcknowledged) {
      m.revision = response.revision();
      m.created = response.created();
      m.instance = response.instance();
    }
    if (op == Op::kRegisterNew && m.outcome != Outcome::kRejected)
      w.own.push_back(id);
  } else if (op == Op::kDeregister) {
    m.kind = MutationKind::kDeregister;
    muster::v1::DeregisterRequest request;
    request.set_service(kService);
    request.set_id(id);
    muster::v1::DeregisterResponse response;
    status = w.stub->Deregister(Context(5).get(), request, &response);
    m.outcome = OutcomeOf(status);
    if (m.outcome == Outcome::kAcknowledged) m.revision = response.revision();
    if (m.outcome != Outcome::kInDoubt) forget();
  } else {
    m.kind = MutationKind::kSetAdminState;
    m.admin_state = w.Uniform(0, 1) == 0 ? muster::v1::ADMIN_STATE_DRAINING
                                         : muster::v1::ADMIN_STATE_ENABLED;
    muster::v1::SetAdminStateRequest request;
    request.set_service(kService);
    request.set_id(id);
    request.set_admin_state(m.admin_state);
    request.set_reason(tag);
    Instance response;
    status = w.stub->SetAdminState(Context(5).get(), request, &response);
    m.outcome = OutcomeOf(status);
    if (m.outcome == Outcome::kAcknowledged) {
      m.revision = response.modify_revision();
      m.instance = response;
    }
    if (m.outcome == Outcome::kRejected) forget();
  }
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) ++w.invalid;
  const bool in_doubt = m.outcome == Outcome::kInDoubt;
  log.Record(std::move(m));
  return !in_doubt;
}

muster::v1::ServerInfo Info(Registry::Stub& stub) {
  muster::v1::ServerInfo info;
  grpc::Status status = stub.GetServerInfo(Context().get(), {}, &info);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return info;
}

std::vector<Instance> ListAll(Registry::Stub& stub) {
  std::vector<Instance> out;
  muster::v1::ListInstancesRequest request;
  request.set_page_size(1000);
  for (int page = 0; page < 10000; ++page) {
    muster::v1::ListInstancesResponse response;
    grpc::Status status =
        stub.ListInstances(Context().get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    out.insert(out.end(), response.instances().begin(),
               response.instances().end());
    if (response.next_page_token().empty()) return out;
    request.set_page_token(response.next_page_token());
  }
  FAIL("ListInstances did not end after 10000 pages");
  return out;
}

// The whole change log of realm "default", oldest first, paged.
std::vector<Event> ListAllEvents(Registry::Stub& stub, uint64_t& oldest,
                                 uint64_t& current) {
  std::vector<Event> out;
  muster::v1::ListEventsRequest request;
  request.set_limit(1000);
  for (int page = 0; page < 10000; ++page) {
    muster::v1::ListEventsResponse response;
    grpc::Status status = stub.ListEvents(Context().get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    if (page == 0) {
      oldest = response.oldest_retained_revision();
      current = response.revision();
    }
    out.insert(out.end(), response.events().begin(), response.events().end());
    if (response.next_revision() == 0) return out;
    request.set_from_revision(response.next_revision());
  }
  FAIL("ListEvents did not end after 10000 pages");
  return out;
}

// Revisions of realm "default" itself: they carry no instance event.
std::vector<uint64_t> RealmRevisions(std::shared_ptr<grpc::Channel> channel) {
  auto realms = muster::v1::Realms::NewStub(channel);
  muster::v1::GetRealmRequest request;
  request.set_name("default");
  muster::v1::Realm realm;
  grpc::Status status = realms->GetRealm(Context().get(), request, &realm);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return {realm.create_revision(), realm.modify_revision()};
}

}  // namespace

TEST_CASE("kill -9 cycles under concurrent writers lose no acknowledged write",
          "[fault][kill9]") {
  const auto started = std::chrono::steady_clock::now();
  const int cycles = kCyclesPerScale * EnvInt("MUSTER_FAULT_SCALE", 1, 1, 1000);
  const uint64_t seed = Seed();
  std::fprintf(stderr, "kill9: %d cycles, MUSTER_FAULT_SEED=%llu\n", cycles,
               static_cast<unsigned long long>(seed));
  INFO("MUSTER_FAULT_SEED=" << seed);
  std::mt19937_64 rng(seed);

  TempDir dir;
  // No health checker: every revision then comes from a writer (or the
  // default realm), and each stored instance must equal its last ack. A
  // short change log: compaction then runs (and gets killed) during the
  // load too, from the second or third cycle on.
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--no-checker", "--changelog-retention",
                        std::to_string(kChangelogRetention)});
  daemon.KeepPorts();
  REQUIRE(daemon.Start());

  std::vector<Writer> writers(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    writers[i].index = i;
    writers[i].rng.seed(seed + 1 + i);
    writers[i].channel = WriterChannel(daemon.address());
    writers[i].stub = Registry::NewStub(writers[i].channel);
  }

  AckLog log;
  uint64_t lost = 0;
  uint64_t gaps = 0;
  uint64_t backwards = 0;  // revisions a restart would hand out again
  uint64_t last_seen = Info(*Registry::NewStub(daemon.channel())).revision();
  uint64_t last_oldest = 0;
  CheckReport report;
  for (int cycle = 1; cycle <= cycles; ++cycle) {
    INFO("cycle " << cycle);
    auto stub = Registry::NewStub(daemon.channel());
    const uint64_t start_revision = Info(*stub).revision();
    for (Writer& w : writers) {
      REQUIRE(w.channel->WaitForConnected(std::chrono::system_clock::now() +
                                          std::chrono::seconds(10)));
    }

    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (Writer& w : writers) {
      threads.emplace_back([&w, &stop, &log, cycle] {
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::seconds(kMaxWriteSeconds);
        for (int n = 0; n < kMaxOpsPerCycle && !stop.load(); ++n) {
          if (std::chrono::steady_clock::now() > deadline) break;
          if (!WriteOnce(w, cycle, log)) break;
        }
      });
    }
    const int kill_after_ms =
        std::uniform_int_distribution<int>(300, 1500)(rng);
    // The kill lands at a random moment of the load.
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    // Only synced commits are visible, so this revision must survive.
    const uint64_t seen_before_kill = Info(*stub).revision();
    daemon.Kill();
    stop = true;
    for (auto& thread : threads) thread.join();
    for (const Writer& w : writers) CHECK(w.invalid.load() == 0);

    REQUIRE(daemon.Start());
    stub = Registry::NewStub(daemon.channel());
    const uint64_t restarted = Info(*stub).revision();
    const uint64_t acked_max = log.MaxAcknowledgedRevision();
    const uint64_t cycle_min = log.MinAcknowledgedRevision(cycle);
    CHECK(cycle_min != 0);  // the cycle acknowledged writes
    CHECK(cycle_min > start_revision);
    CHECK(start_revision >= last_seen);
    CHECK(restarted >= seen_before_kill);
    CHECK(restarted >= acked_max);
    if (start_revision < last_seen || restarted < seen_before_kill ||
        restarted < acked_max) {
      ++backwards;
    }
    last_seen = restarted;

    report = CheckReport{};
    log.CheckRevisions(report);
    log.CheckState(ListAll(*stub), report);
    uint64_t oldest = 0;
    uint64_t current = 0;
    std::vector<Event> events = ListAllEvents(*stub, oldest, current);
    CHECK(current == restarted);
    CHECK(oldest >= last_oldest);  // compaction never comes undone
    last_oldest = oldest;
    log.CheckChangeLog(events, oldest, current,
                       RealmRevisions(daemon.channel()), report);
    std::fprintf(stderr,
                 "kill9: cycle %d/%d killed after %d ms: revision %llu -> "
                 "%llu (seen before the kill %llu), change log %llu..%llu, "
                 "%llu acknowledged so far\n",
                 cycle, cycles, kill_after_ms,
                 static_cast<unsigned long long>(start_revision),
                 static_cast<unsigned long long>(restarted),
                 static_cast<unsigned long long>(seen_before_kill),
                 static_cast<unsigned long long>(oldest),
                 static_cast<unsigned long long>(current),
                 static_cast<unsigned long long>(log.acknowledged()));
    for (const std::string& problem : report.problems) FAIL_CHECK(problem);
    CHECK(report.ok());
    lost = std::max(lost, report.lost);
    gaps = std::max(gaps, report.gaps + report.duplicates);
  }
  CHECK(daemon.Terminate() == 0);

  // Each kind of mutation was acknowledged, so each check had work to do.
  CHECK(log.acknowledged(MutationKind::kRegister) > 0);
  CHECK(log.acknowledged(MutationKind::kDeregister) > 0);
  CHECK(log.acknowledged(MutationKind::kSetAdminState) > 0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  std::printf(
      "FAULT-RESULT kill9 cycles=%d acknowledged=%llu lost=%llu "
      "revisions_reused=%llu gaps=%llu seconds=%.1f\n",
      cycles, static_cast<unsigned long long>(log.acknowledged()),
      static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(report.revisions_reused + backwards),
      static_cast<unsigned long long>(gaps), seconds);
  std::fflush(stdout);
}

}  // namespace muster::testing
