#include "healthchecker/scheduler.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "tests/support/fake_clock.h"

namespace muster::healthchecker {
namespace {

using muster::testing::FakeClock;

Scheduler::Options MakeOptions(size_t max_in_flight = 1024,
                               size_t per_host = 1024) {
  Scheduler::Options options;
  options.max_in_flight = max_in_flight;
  options.max_in_flight_per_host = per_host;
  options.random_seed = 42;
  return options;
}

// Records which checks started, and when.
struct Recorder {
  absl::Mutex mu;
  std::vector<uint64_t> started ABSL_GUARDED_BY(mu);
  std::vector<absl::Duration> lags ABSL_GUARDED_BY(mu);

  Scheduler::RunCheck Run() {
    return [this](uint64_t id, absl::Duration lag) {
      absl::MutexLock lock(&mu);
      started.push_back(id);
      lags.push_back(lag);
    };
  }
  size_t count() {
    absl::MutexLock lock(&mu);
    return started.size();
  }
  std::vector<uint64_t> Take() {
    absl::MutexLock lock(&mu);
    std::vector<uint64_t> out;
    out.swap(started);
    return out;
  }
};

TEST_CASE("first ticks are spread over the interval, not a burst",
          "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(), clock);
  Recorder recorder;
  for (int i = 0; i < 1000; ++i)
    scheduler.AddCheck("h", absl::Seconds(10), recorder.Run());
  std::vector<size_t> per_second;
  for (int s = 0; s < 10; ++s) {
    clock.Advance(absl::Seconds(1));
    const size_t before = recorder.count();
    scheduler.RunDue();
    per_second.push_back(recorder.count() - before);
  }
  REQUIRE(recorder.count() == 1000);
  for (size_t n : per_second) {
    INFO(n);
    REQUIRE(n > 50);
    REQUIRE(n < 150);
  }
}

TEST_CASE("every later tick is jittered around the interval", "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(), clock);
  Recorder recorder;
  for (int i = 0; i < 200; ++i)
    scheduler.AddCheck("h", absl::Seconds(10), recorder.Run());
  clock.Advance(absl::Seconds(10));
  scheduler.RunDue();
  const absl::Time finished = clock.Now();
  for (uint64_t id : recorder.Take()) scheduler.Done(id);
  // Nothing before interval * 0.9, everything by interval * 1.1.
  clock.Advance(absl::Seconds(9) - absl::Milliseconds(1));
  REQUIRE(scheduler.RunDue() == 0);
  std::map<int64_t, int> by_100ms;
  while (clock.Now() < finished + absl::Seconds(11)) {
    clock.Advance(absl::Milliseconds(100));
    scheduler.RunDue();
    for (uint64_t id : recorder.Take()) {
      (void)id;
      ++by_100ms[absl::ToInt64Milliseconds(clock.Now() - finished) / 100];
    }
  }
  int total = 0;
  for (const auto& [bucket, n] : by_100ms) total += n;
  REQUIRE(total == 200);
  REQUIRE(by_100ms.size() > 10);  // spread, not one instant
}

TEST_CASE("probes in flight are bounded and waiting checks start as slots free",
          "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(3), clock);
  Recorder recorder;
  for (int i = 0; i < 10; ++i)
    scheduler.AddCheck("h", absl::Seconds(1), recorder.Run());
  clock.Advance(absl::Seconds(1));
  REQUIRE(scheduler.RunDue() == 3);
  REQUIRE(scheduler.in_flight() == 3);
  std::vector<uint64_t> first = recorder.Take();
  clock.Advance(absl::Milliseconds(500));
  scheduler.Done(first[0]);
  REQUIRE(scheduler.RunDue() == 1);
  REQUIRE(scheduler.in_flight() == 3);
  absl::MutexLock lock(&recorder.mu);
  // The late start is measured as scheduling lag.
  REQUIRE(recorder.lags.back() >= absl::Milliseconds(500));
}

TEST_CASE("the per host bound does not block other hosts", "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(100, 2), clock);
  Recorder recorder;
  std::map<uint64_t, std::string> host_of;
  for (int i = 0; i < 5; ++i) {
    host_of[scheduler.AddCheck("a", absl::Seconds(1), recorder.Run())] = "a";
  }
  for (int i = 0; i < 2; ++i) {
    host_of[scheduler.AddCheck("b", absl::Seconds(1), recorder.Run())] = "b";
  }
  clock.Advance(absl::Seconds(1));
  REQUIRE(scheduler.RunDue() == 4);
  std::map<std::string, int> per_host;
  std::vector<uint64_t> started = recorder.Take();
  for (uint64_t id : started) ++per_host[host_of[id]];
  REQUIRE(per_host["a"] == 2);
  REQUIRE(per_host["b"] == 2);
  for (uint64_t id : started) {
    if (host_of[id] == "a") scheduler.Done(id);
  }
  REQUIRE(scheduler.RunDue() == 2);
}

TEST_CASE("timers run once when due and can be cancelled", "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(), clock);
  std::vector<int> ran;
  scheduler.ScheduleAt(clock.Now() + absl::Seconds(2),
                       [&ran] { ran.push_back(2); });
  scheduler.ScheduleAt(clock.Now() + absl::Seconds(1),
                       [&ran] { ran.push_back(1); });
  const uint64_t cancelled = scheduler.ScheduleAt(
      clock.Now() + absl::Seconds(1), [&ran] { ran.push_back(99); });
  scheduler.Cancel(cancelled);
  REQUIRE(scheduler.NextDue() == clock.Now() + absl::Seconds(1));
  REQUIRE(scheduler.RunDue() == 0);
  clock.Advance(absl::Seconds(5));
  REQUIRE(scheduler.RunDue() == 2);
  REQUIRE(ran == std::vector<int>{1, 2});
  REQUIRE(scheduler.RunDue() == 0);
}

TEST_CASE("a removed check stops ticking and frees its slot when done",
          "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(1), clock);
  Recorder recorder;
  const uint64_t a = scheduler.AddCheck("h", absl::Seconds(1), recorder.Run());
  const uint64_t b = scheduler.AddCheck("h", absl::Seconds(1), recorder.Run());
  clock.Advance(absl::Seconds(1));
  REQUIRE(scheduler.RunDue() == 1);
  const uint64_t running = recorder.Take()[0];
  scheduler.RemoveCheck(running);
  REQUIRE(scheduler.in_flight() == 1);
  scheduler.Done(running);
  REQUIRE(scheduler.in_flight() == 0);
  REQUIRE(scheduler.RunDue() == 1);
  REQUIRE(recorder.Take()[0] == (running == a ? b : a));
  clock.Advance(absl::Minutes(1));
  scheduler.RunDue();
  REQUIRE(recorder.Take().empty());  // the other one is still in flight
}

TEST_CASE("the same seed gives the same schedule", "[scheduler]") {
  FakeClock clock;
  Scheduler one(MakeOptions(), clock);
  Scheduler two(MakeOptions(), clock);
  Recorder recorder;
  for (int i = 0; i < 20; ++i) {
    one.AddCheck("h", absl::Seconds(30), recorder.Run());
    two.AddCheck("h", absl::Seconds(30), recorder.Run());
  }
  REQUIRE(one.NextDue() == two.NextDue());
}

TEST_CASE("the scheduler thread runs what the clock makes due", "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(), clock);
  scheduler.Start();
  scheduler.Start();  // idempotent
  absl::Notification ran;
  scheduler.ScheduleAt(clock.Now() + absl::Hours(1), [&ran] { ran.Notify(); });
  clock.Advance(absl::Hours(1));
  // The thread looks at the clock at least every max_wait.
  REQUIRE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
  scheduler.Stop();
  scheduler.Stop();  // idempotent
  REQUIRE(scheduler.RunDue() == 0);
}

TEST_CASE("a run far later than max_wait is a stall, taken before due work",
          "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(), clock);
  std::vector<std::string> seen;
  std::vector<absl::Duration> gaps;
  scheduler.OnStall([&](absl::Duration gap) {
    gaps.push_back(gap);
    seen.push_back("stall");
  });
  scheduler.ScheduleAt(clock.Now() + absl::Seconds(5),
                       [&] { seen.push_back("timer"); });
  scheduler.RunDue();  // the first run only starts the count
  // On schedule: at most max_wait (250ms) plus the threshold (2s) apart.
  for (int i = 0; i < 8; ++i) {
    clock.Advance(absl::Milliseconds(250));
    scheduler.RunDue();
  }
  clock.Advance(absl::Milliseconds(2250));
  REQUIRE_FALSE(scheduler.Stalled());
  scheduler.RunDue();
  REQUIRE(gaps.empty());
  // The process was stopped for 20s.
  clock.Advance(absl::Seconds(20));
  REQUIRE(scheduler.Stalled());
  scheduler.RunDue();
  REQUIRE_FALSE(scheduler.Stalled());
  REQUIRE(gaps == std::vector<absl::Duration>{absl::Seconds(20)});
  REQUIRE(seen == std::vector<std::string>{"stall", "timer"});
  clock.Advance(absl::Milliseconds(250));
  scheduler.RunDue();
  REQUIRE(gaps.size() == 1);
}

TEST_CASE("a step of the wall clock alone is no stall", "[scheduler]") {
  FakeClock clock;
  Scheduler scheduler(MakeOptions(), clock);
  int stalls = 0;
  scheduler.OnStall([&](absl::Duration) { ++stalls; });
  scheduler.RunDue();
  clock.Set(clock.Now() + absl::Hours(1));  // NTP steps forward
  scheduler.RunDue();
  clock.Set(clock.Now() - absl::Hours(2));  // and back
  scheduler.RunDue();
  REQUIRE(stalls == 0);
}

}  // namespace
}  // namespace muster::healthchecker
