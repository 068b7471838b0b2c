// A stall of the real musterd: the daemon is stopped (SIGSTOP, as a VM
// freeze or a long swap would) for longer than the TTL of its instances
// while their clients keep heartbeating every second. The heartbeats
// were sent throughout, so no instance may go CRITICAL because of the
// stall; an instance that really stops heartbeating afterwards still
// must (the control). MUSTER_FAULT_SCALE stretches the stall.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "testkit/event_log.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

using muster::v1::Event;
using SteadyClock = std::chrono::steady_clock;

constexpr int kInstances = 100;
constexpr int kTtlSeconds = 4;
constexpr int kHeartbeatThreads = 4;
constexpr char kRealm[] = "default";
constexpr char kService[] = "stall";

int Scale() {
  const char* value = std::getenv("MUSTER_FAULT_SCALE");
  const int scale = value != nullptr ? std::atoi(value) : 1;
  return std::clamp(scale, 1, 10);
}

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

std::string InstanceId(int i) {
  char id[16];
  std::snprintf(id, sizeof(id), "ttl-%03d", i);
  return id;
}

bool IsCritical(const Event& event) {
  return event.cause() == Event::HEALTH_CHANGED &&
         event.instance().health() == muster::v1::HEALTH_CRITICAL;
}

// Clients heartbeating every instance about once a second, spread over a
// few threads; one instance can be silenced. A call blocked by a stopped
// daemon waits (up to `call_seconds`) and the thread carries on after.
class Heartbeaters final {
 public:
  Heartbeaters(const std::shared_ptr<grpc::Channel>& channel,
               std::vector<uint64_t> incarnations, int call_seconds)
      : stub_(muster::v1::Registry::NewStub(channel)),
        incarnations_(std::move(incarnations)),
        silenced_(incarnations_.size()),
        call_seconds_(call_seconds) {
    for (int t = 0; t < kHeartbeatThreads; ++t) {
      threads_.emplace_back([this, t] { Run(t); });
    }
  }
  ~Heartbeaters() { Stop(); }

  void Silence(size_t index) { silenced_[index] = true; }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int sent() const { return sent_; }
  int failed() const { return failed_; }

 private:
  void Run(int thread) {
    for (;;) {
      const auto round = SteadyClock::now();
      for (size_t i = thread; i < incarnations_.size();
           i += kHeartbeatThreads) {
        if (silenced_[i]) continue;
        muster::v1::HeartbeatRequest request;
        request.set_realm(kRealm);
        request.set_service(kService);
        request.set_id(InstanceId(static_cast<int>(i)));
        request.set_incarnation(incarnations_[i]);
        muster::v1::HeartbeatResponse response;
        grpc::ClientContext context;
        context.set_deadline(In(call_seconds_));
        ++sent_;
        if (!stub_->Heartbeat(&context, request, &response).ok()) ++failed_;
      }
      // The rest of the one-second round, or until Stop().
      const absl::Duration rest = absl::FromChrono(
          round + std::chrono::seconds(1) - SteadyClock::now());
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), rest)) return;
    }
  }

  std::unique_ptr<muster::v1::Registry::Stub> stub_;
  const std::vector<uint64_t> incarnations_;
  std::vector<std::atomic<bool>> silenced_;
  const int call_seconds_;
  std::atomic<int> sent_{0};
  std::atomic<int> failed_{0};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Continues a stopped daemon whatever happens in between.
class ContinueOnExit final {
 public:
  explicit ContinueOnExit(DaemonProcess& daemon) : daemon_(daemon) {}
  ~ContinueOnExit() { daemon_.Signal(SIGCONT); }

 private:
  DaemonProcess& daemon_;
};

}  // namespace

TEST_CASE(
    "a stall of musterd longer than the TTL turns no heartbeating instance "
    "critical",
    "[fault][stall]") {
  const int stop_seconds = 10 * Scale();  // 2.5 TTLs at scale 1
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"));
  REQUIRE(daemon.Start());
  EventLog log(daemon.channel(), kRealm);
  auto stub = muster::v1::Registry::NewStub(daemon.channel());

  std::vector<uint64_t> incarnations;
  for (int i = 0; i < kInstances; ++i) {
    muster::v1::RegisterRequest request;
    request.set_realm(kRealm);
    muster::v1::Instance* instance = request.mutable_instance();
    instance->set_service(kService);
    instance->set_id(InstanceId(i));
    instance->set_address("127.0.0.1");
    instance->set_port(9000);
    muster::v1::CheckSpec* check = instance->mutable_check();
    check->set_kind(muster::v1::CHECK_KIND_TTL);
    check->mutable_ttl()->set_seconds(kTtlSeconds);
    check->mutable_deregister_after()->set_seconds(60);
    muster::v1::RegisterResponse response;
    grpc::ClientContext context;
    context.set_deadline(In(10));
    grpc::Status status = stub->Register(&context, request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    incarnations.push_back(response.instance().create_revision());
  }

  Heartbeaters heartbeaters(daemon.channel(), incarnations, stop_seconds + 20);
  auto all_passing = [](const std::vector<Event>& events) {
    std::vector<bool> passing(kInstances);
    for (const Event& event : events) {
      const std::string& id = event.instance().id();
      if (id.rfind("ttl-", 0) != 0) continue;
      passing[std::stoi(id.substr(4))] =
          event.instance().health() == muster::v1::HEALTH_PASSING;
    }
    return std::count(passing.begin(), passing.end(), true) == kInstances;
  };
  REQUIRE(log.WaitFor(all_passing, 30));
  const size_t before_stall = log.events().size();
  const int heartbeats_before_stall = heartbeaters.sent();

  {
    ContinueOnExit continue_on_exit(daemon);
    daemon.Signal(SIGSTOP);
    // The fault itself: the daemon does not run for this long.
    std::this_thread::sleep_for(std::chrono::seconds(stop_seconds));
  }
  // Any false verdict comes right after the daemon continues: watch over
  // two TTLs (the grace is one TTL) while the heartbeats go on. Nothing is
  // to happen, so this is a fixed window rather than a wait for an event.
  std::this_thread::sleep_for(std::chrono::seconds(2 * kTtlSeconds + 2));
  const int sent_after = heartbeaters.sent() - heartbeats_before_stall;
  std::vector<Event> events = log.events();
  int false_criticals = 0;
  for (size_t i = before_stall; i < events.size(); ++i) {
    if (IsCritical(events[i])) ++false_criticals;
  }

  // The control: one instance really stops heartbeating.
  heartbeaters.Silence(0);
  const auto silenced_at = SteadyClock::now();
  const std::string control_id = InstanceId(0);
  const size_t before_control = events.size();
  const bool control_critical = log.WaitFor(
      [&](const std::vector<Event>& all) {
        for (size_t i = before_control; i < all.size(); ++i) {
          if (IsCritical(all[i]) && all[i].instance().id() == control_id)
            return true;
        }
        return false;
      },
      3 * kTtlSeconds + 5);
  const double control_seconds =
      std::chrono::duration<double>(SteadyClock::now() - silenced_at).count();
  events = log.events();
  int other_criticals = 0;
  for (size_t i = before_control; i < events.size(); ++i) {
    if (IsCritical(events[i]) && events[i].instance().id() != control_id)
      ++other_criticals;
  }
  heartbeaters.Stop();
  const bool stall_logged =
      daemon.log().find("checker: stall detected") != std::string::npos;

  std::printf(
      "FAULT-RESULT stall instances=%d ttl_s=%d stop_s=%d "
      "false_criticals=%d stall_logged=%d control_critical=%d "
      "control_critical_s=%.1f other_criticals=%d heartbeats=%d "
      "heartbeats_after_stall=%d heartbeat_errors=%d\n",
      kInstances, kTtlSeconds, stop_seconds, false_criticals,
      stall_logged ? 1 : 0, control_critical ? 1 : 0, control_seconds,
      other_criticals, heartbeaters.sent(), sent_after, heartbeaters.failed());
  std::fflush(stdout);

  INFO(daemon.log());
  CHECK(false_criticals == 0);
  CHECK(stall_logged);
  REQUIRE(control_critical);
  // It went critical for its silence, after about its TTL.
  CHECK(control_seconds >= kTtlSeconds - 1.5);
  CHECK(other_criticals == 0);
  CHECK(heartbeaters.failed() == 0);
  // The clients really went on heartbeating after the stall.
  CHECK(sent_after >= kInstances * kTtlSeconds);
}

}  // namespace muster::testing
