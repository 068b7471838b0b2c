// The bench's noise guard: /proc/stat and /proc/PID/stat parsing, the
// other programs' share of the CPU, and the re-run decision.

#include "bench/noise.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

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
  const std::optional<CpuTimes> t = ParseProcStat(kProcStat);
  REQUIRE(t.has_value());
  // user + nice + system + steal.
  CHECK(t->busy == 1000 + 20 + 300 + 11);
  // The first 8 fields; guest (13) is already in user.
  CHECK(t->total == 1000 + 20 + 300 + 5000 + 40 + 7 + 9 + 11);
}

TEST_CASE("noise: an old kernel's 4-field cpu line has no steal", "[noise]") {
  const std::optional<CpuTimes> t = ParseProcStat("cpu 10 2 3 100\n");
  REQUIRE(t.has_value());
  CHECK(t->busy == 15);
  CHECK(t->total == 115);
}

TEST_CASE("noise: /proc/stat without an aggregate line or fields is refused",
          "[noise]") {
  CHECK_FALSE(ParseProcStat("").has_value());
  CHECK_FALSE(ParseProcStat("cpu0 1 2 3 4\nintr 5\n").has_value());
  CHECK_FALSE(ParseProcStat("cpu  1 2 3\n").has_value());
  CHECK_FALSE(ParseProcStat("cpu  1 2 x 4\n").has_value());
  // The aggregate line need not come first.
  const std::optional<CpuTimes> t =
      ParseProcStat("cpu0 9 9 9 9\ncpu  1 2 3 4 5 6 7 8\n");
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

}  // namespace
}  // namespace muster::bench
