// The bench's noise guard: /proc/stat and /proc/PID/stat parsing, the
// other programs' share of the CPU, and the re-run decision.

#include "bench/noise.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "bench/point.h"

namespace muster::bench {
namespace {

// A /proc/stat of a 2-core machine (Linux 6.1 prints every field).
constexpr char kProcStat[] =
    "cpu  1000 20 300 5000 40 7 9 11 13 0\n"
    "cpu0 500 10 150 2500 20 3 4 5 6 0\n"
    "cpu1 500 10 150 2500 20 4 5 6 7 0\n"
    "intr 123456 0 0\n"
    "ctxt 987654\n"
    "btime 1700000000\n"
    "processes 4321\n";

TEST_CASE("noise: the aggregate cpu line of /proc/stat is parsed", "[noise]") {
  const std::optional<CpuTimes> t = ParseProcStat(kProcStat, false);
  REQUIRE(t.has_value());
  // user + nice + system + steal.
  CHECK(t->busy == 1000 + 20 + 300 + 11);
  // The first 8 fields; guest (13) is already in user.
  CHECK(t->total == 1000 + 20 + 300 + 5000 + 40 + 7 + 9 + 11);
  // With irq and softirq.
  const std::optional<CpuTimes> with = ParseProcStat(kProcStat, true);
  REQUIRE(with.has_value());
  CHECK(with->busy == 1000 + 20 + 300 + 11 + 7 + 9);
  CHECK(with->total == t->total);
}

TEST_CASE("noise: the kernel config says where interrupt time goes",
          "[noise]") {
  CHECK(IrqTimeAccountedApart("CONFIG_A=y\nCONFIG_IRQ_TIME_ACCOUNTING=y\n") ==
        std::optional<bool>(true));
  CHECK(IrqTimeAccountedApart("CONFIG_IRQ_TIME_ACCOUNTING=y\n") ==
        std::optional<bool>(true));
  CHECK(IrqTimeAccountedApart("CONFIG_HAVE_IRQ_TIME_ACCOUNTING=y\n"
                              "# CONFIG_IRQ_TIME_ACCOUNTING is not set\n") ==
        std::optional<bool>(false));
  CHECK_FALSE(
      IrqTimeAccountedApart("CONFIG_HAVE_IRQ_TIME_ACCOUNTING=y\n").has_value());
  CHECK_FALSE(IrqTimeAccountedApart("").has_value());
}

TEST_CASE("noise: an old kernel's 4-field cpu line has no steal", "[noise]") {
  const std::optional<CpuTimes> t = ParseProcStat("cpu 10 2 3 100\n", true);
  REQUIRE(t.has_value());
  CHECK(t->busy == 15);
  CHECK(t->total == 115);
}

TEST_CASE("noise: /proc/stat without an aggregate line or fields is refused",
          "[noise]") {
  CHECK_FALSE(ParseProcStat("", false).has_value());
  CHECK_FALSE(ParseProcStat("cpu0 1 2 3 4\nintr 5\n", false).has_value());
  CHECK_FALSE(ParseProcStat("cpu  1 2 3\n", false).has_value());
  CHECK_FALSE(ParseProcStat("cpu  1 2 x 4\n", false).has_value());
  // The aggregate line need not come first.
  const std::optional<CpuTimes> t =
      ParseProcStat("cpu0 9 9 9 9\ncpu  1 2 3 4 5 6 7 8\n", false);
  REQUIRE(t.has_value());
  CHECK(t->busy == 1 + 2 + 3 + 8);
}

TEST_CASE("noise: a process's utime and stime are read past its command",
          "[noise]") {
  // Fields 14 and 15 (utime, stime) are 250 and 75; the command holds a
  // space and a parenthesis.
  const std::string stat =
      "4242 (etcd (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 "
      "20 0 12 0 123 456789 789 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 "
      "0 17 1 0 0 0 0 0\n";
  const std::optional<uint64_t> ticks = ParseProcessTicks(stat);
  REQUIRE(ticks.has_value());
  CHECK(*ticks == 325);
  CHECK_FALSE(ParseProcessTicks("").has_value());
  CHECK_FALSE(ParseProcessTicks("12 (short) S 1 2 3").has_value());
  CHECK_FALSE(
      ParseProcessTicks("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 5 0 0").has_value());
}

TEST_CASE("noise: this process's own /proc entries parse", "[noise]") {
  // The guard reads these on every point; a format change would turn it
  // off silently.
  std::string self;
  {
    FILE* f = std::fopen("/proc/self/stat", "r");
    REQUIRE(f != nullptr);
    char buf[4096];
    const size_t n = std::fread(buf, 1, sizeof(buf), f);
    std::fclose(f);
    self.assign(buf, n);
  }
  CHECK(ParseProcessTicks(self).has_value());
  CHECK(NoiseGuard::Global().Take().cpu.total > 0);
}

TEST_CASE("noise: other programs' cores are the busy ticks less ours",
          "[noise]") {
  const CpuTimes before{1000, 5000};
  // 2 s at 100 ticks/s on 2 cores: 400 ticks pass; 300 busy, 120 ours.
  const CpuTimes after{1300, 5400};
  CHECK(OtherCores(before, after, 120, 2.0, 100) == Approx(0.9));
  // All of it ours: nothing else ran.
  CHECK(OtherCores(before, after, 300, 2.0, 100) == Approx(0.0));
  // Ours sampled a tick above the machine's: never negative.
  CHECK(OtherCores(before, after, 301, 2.0, 100) == 0.0);
  // Nonsense inputs give 0, not a division by zero or a wrap-around.
  CHECK(OtherCores(before, after, 0, 0.0, 100) == 0.0);
  CHECK(OtherCores(after, before, 0, 2.0, 100) == 0.0);
}

// Runs the guard over attempts that measure `others` in turn; the
// attempts it ran.
GuardOutcome Guard(const NoisePolicy& policy, const std::vector<double>& others,
                   std::vector<int>* ran, int final_at = -1) {
  return RunGuarded(policy, [&](int i) {
    ran->push_back(i);
    REQUIRE(i < static_cast<int>(others.size()));
    return AttemptNoise{others[i], i == final_at};
  });
}

TEST_CASE("noise: a quiet point runs once", "[noise]") {
  std::vector<int> ran;
  const GuardOutcome o = Guard({0.3, 2}, {0.1}, &ran);
  CHECK(ran == std::vector<int>{0});
  CHECK(o.attempts == 1);
  CHECK(o.kept == 0);
  CHECK_FALSE(o.noisy);
  CHECK(o.other_cores == Approx(0.1));
}

TEST_CASE("noise: at the threshold a point is not noisy", "[noise]") {
  std::vector<int> ran;
  const GuardOutcome o = Guard({0.3, 2}, {0.3}, &ran);
  CHECK(o.attempts == 1);
  CHECK_FALSE(o.noisy);
}

TEST_CASE("noise: a noisy point re-runs until quiet", "[noise]") {
  std::vector<int> ran;
  const GuardOutcome o = Guard({0.3, 2}, {0.9, 0.2, 0.0}, &ran);
  CHECK(ran == std::vector<int>{0, 1});
  CHECK(o.kept == 1);
  CHECK_FALSE(o.noisy);
  CHECK(o.other_cores == Approx(0.2));
}

TEST_CASE(
    "noise: always noisy, the retries are bounded and the quietest "
    "attempt is kept, marked noisy",
    "[noise]") {
  std::vector<int> ran;
  const GuardOutcome o = Guard({0.3, 2}, {0.9, 0.5, 1.2, 0.1}, &ran);
  CHECK(ran == std::vector<int>{0, 1, 2});
  CHECK(o.attempts == 3);
  CHECK(o.kept == 1);
  CHECK(o.noisy);
  CHECK(o.other_cores == Approx(0.5));
}

TEST_CASE("noise: of equally noisy attempts the first is kept", "[noise]") {
  std::vector<int> ran;
  const GuardOutcome o = Guard({0.3, 1}, {0.7, 0.7}, &ran);
  CHECK(o.attempts == 2);
  CHECK(o.kept == 0);
}

TEST_CASE("noise: no retries, or a negative count, run once", "[noise]") {
  for (int retries : {0, -3}) {
    std::vector<int> ran;
    const GuardOutcome o = Guard({0.3, retries}, {2.0, 0.0}, &ran);
    CHECK(ran == std::vector<int>{0});
    CHECK(o.noisy);
  }
}

TEST_CASE("noise: a threshold of 0 turns the guard off", "[noise]") {
  std::vector<int> ran;
  const GuardOutcome o = Guard({0.0, 2}, {2.0, 0.0}, &ran);
  CHECK(ran == std::vector<int>{0});
  CHECK_FALSE(o.noisy);
}

TEST_CASE("noise: a final attempt is kept and stops the re-runs", "[noise]") {
  std::vector<int> ran;
  // The second attempt failed: kept although noisier than the first.
  const GuardOutcome o = Guard({0.3, 5}, {0.9, 1.5, 0.0}, &ran, 1);
  CHECK(ran == std::vector<int>{0, 1});
  CHECK(o.kept == 1);
  CHECK(o.noisy);
}

// A point whose attempts the fake meter judges by `others`, in turn:
// attempt k answers 10 * (k + 1) calls in k + 1 seconds, numbered from
// the seq it is given, with `errors_at` failing once.
struct FakePoint {
  explicit FakePoint(std::vector<double> others_in, int errors_at_in = -1)
      : others(std::move(others_in)), errors_at(errors_at_in) {}

  std::vector<double> others;
  int errors_at;
  std::vector<uint64_t> first_seqs;

  LoadResult Run(const NoisePolicy& policy) {
    int metered = 0;
    return RunPointWith(
        policy,
        [&](const std::function<void()>& run) {
          run();
          return others.at(metered++);
        },
        [&](uint64_t first_seq) {
          const int k = static_cast<int>(first_seqs.size());
          first_seqs.push_back(first_seq);
          LoadResult r;
          r.ok = 10 * (k + 1);
          r.issued = r.ok + (k == errors_at ? 1 : 0);
          r.wall_seconds = k + 1;
          r.latencies_ms.assign(r.ok, k + 1);
          if (k == errors_at) {
            r.errors = 1;
            r.first_error = "attempt " + std::to_string(k);
          }
          return r;
        });
  }
};

TEST_CASE("noise: a quiet point is measured once, its other CPU recorded",
          "[noise]") {
  FakePoint point{{0.1}};
  const LoadResult r = point.Run({0.3, 2});
  CHECK(point.first_seqs == std::vector<uint64_t>{0});
  CHECK(r.ok == 10);
  CHECK(r.retries == 0);
  CHECK_FALSE(r.noisy);
  CHECK(OtherCores(r) == Approx(0.1));
  CHECK(r.discarded_ok == 0);
  CHECK(MeasuredSeconds(r) == Approx(1));
}

TEST_CASE(
    "noise: a re-run numbers on and the quietest attempt is kept with "
    "the others folded in",
    "[noise]") {
  FakePoint point{{0.9, 0.4, 0.6}};
  const LoadResult r = point.Run({0.3, 2});
  // Attempts 0, 1, 2 issued 10, 20, 30 requests.
  CHECK(point.first_seqs == std::vector<uint64_t>{0, 10, 30});
  CHECK(r.issued == 60);
  // Attempt 1 is kept (20 calls in 2 s), still noisy.
  CHECK(r.ok == 20);
  CHECK(r.latencies_ms.size() == 20);
  CHECK(r.wall_seconds == Approx(2));
  CHECK(OtherCores(r) == Approx(0.4));
  CHECK(r.noisy);
  CHECK(r.retries == 2);
  CHECK(r.discarded_ok == 10 + 30);
  CHECK(r.discarded_seconds == Approx(1 + 3));
  CHECK(MeasuredSeconds(r) == Approx(6));
  CHECK(r.errors == 0);
}

TEST_CASE("noise: a failed attempt stops the re-runs and its errors count",
          "[noise]") {
  FakePoint point{{0.9, 0.1, 0.0}, /*errors_at=*/0};
  const LoadResult r = point.Run({0.3, 2});
  CHECK(point.first_seqs == std::vector<uint64_t>{0});
  CHECK(r.errors == 1);
  CHECK(r.first_error == "attempt 0");
  CHECK(r.noisy);
}

TEST_CASE("noise: errors of a discarded attempt still count", "[noise]") {
  // Attempt 1 fails and is kept (final); attempt 0's answers fold in.
  FakePoint point{{0.9, 0.8}, /*errors_at=*/1};
  const LoadResult r = point.Run({0.3, 2});
  CHECK(point.first_seqs == std::vector<uint64_t>{0, 10});
  CHECK(r.errors == 1);
  CHECK(r.ok == 20);
  CHECK(r.discarded_ok == 10);
  FakePoint quiet_then{{0.9, 0.1}};
  CHECK(quiet_then.Run({0.3, 2}).errors == 0);
}

TEST_CASE("noise: rounds add up, other CPU weighted by their time", "[noise]") {
  LoadResult a, b, total;
  a.ok = 10;
  a.wall_seconds = 1;
  a.other_core_seconds = 0.5;  // 0.5 core for 1 s
  a.retries = 1;
  a.discarded_seconds = 1;
  b.ok = 30;
  b.wall_seconds = 3;
  b.other_core_seconds = 0.3;  // 0.1 core for 3 s
  b.noisy = true;
  Accumulate(a, &total);
  Accumulate(b, &total);
  CHECK(total.ok == 40);
  CHECK(OtherCores(total) == Approx(0.2));
  CHECK(total.noisy);
  CHECK(total.retries == 1);
  CHECK(MeasuredSeconds(total) == Approx(5));
  // Unmeasured rounds stay unmeasured.
  LoadResult none;
  Accumulate(LoadResult(), &none);
  CHECK(OtherCores(none) == -1);
}

}  // namespace
}  // namespace muster::bench
