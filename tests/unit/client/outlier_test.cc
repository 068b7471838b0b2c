// Outlier ejection on a fake clock: consecutive failures, ejection time
// doubling up to the maximum, the share cap and expiry.

#include "client/src/outlier.h"

#include <catch2/catch.hpp>
#include <mutex>
#include <string>

#include "tests/unit/client/fake_clock.h"

namespace muster::client::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using testing::FakeClock;

OutlierOptions Options() {
  OutlierOptions options;
  options.failures = 3;
  options.base_time = seconds(10);
  options.max_time = seconds(35);
  options.max_share = 0.5;
  return options;
}

void Fail(OutlierDetector& detector, const std::string& id, int times,
          size_t endpoints = 4) {
  for (int i = 0; i < times; ++i) detector.Report(id, false, endpoints);
}

TEST_CASE("an endpoint is ejected after its consecutive failures",
          "[client][outlier]") {
  FakeClock clock;
  OutlierDetector detector(Options(), &clock);
  Fail(detector, "a", 2);
  CHECK_FALSE(detector.IsEjected("a"));
  Fail(detector, "a", 1);
  CHECK(detector.IsEjected("a"));
  CHECK(detector.Ejected() == std::set<std::string>{"a"});
  CHECK_FALSE(detector.IsEjected("b"));
}

TEST_CASE("a success resets the run of failures", "[client][outlier]") {
  FakeClock clock;
  OutlierDetector detector(Options(), &clock);
  Fail(detector, "a", 2);
  detector.Report("a", true, 4);
  Fail(detector, "a", 2);
  CHECK_FALSE(detector.IsEjected("a"));
  Fail(detector, "a", 1);
  CHECK(detector.IsEjected("a"));
}

TEST_CASE("an ejection ends after the base time and doubles when repeated",
          "[client][outlier]") {
  FakeClock clock;
  OutlierDetector detector(Options(), &clock);
  Fail(detector, "a", 3);
  clock.Advance(seconds(10) - milliseconds(1));
  CHECK(detector.IsEjected("a"));
  clock.Advance(milliseconds(1));
  CHECK_FALSE(detector.IsEjected("a"));

  // Ejected again: 20 s.
  Fail(detector, "a", 3);
  clock.Advance(seconds(20) - milliseconds(1));
  CHECK(detector.IsEjected("a"));
  clock.Advance(milliseconds(1));
  CHECK_FALSE(detector.IsEjected("a"));

  // The third would be 40 s: capped at max_time, 35 s.
  Fail(detector, "a", 3);
  clock.Advance(seconds(35) - milliseconds(1));
  CHECK(detector.IsEjected("a"));
  clock.Advance(milliseconds(1));
  CHECK_FALSE(detector.IsEjected("a"));
}

TEST_CASE("an endpoint that stays in for max_time starts over at base time",
          "[client][outlier]") {
  FakeClock clock;
  OutlierDetector detector(Options(), &clock);
  Fail(detector, "a", 3);
  clock.Advance(seconds(10));
  Fail(detector, "a", 3);  // second ejection: 20 s
  clock.Advance(seconds(20) + seconds(35));
  Fail(detector, "a", 3);  // forgiven: 10 s again
  clock.Advance(seconds(10));
  CHECK_FALSE(detector.IsEjected("a"));
}

TEST_CASE("no more than max_share of the endpoints is ejected at once",
          "[client][outlier]") {
  FakeClock clock;
  OutlierDetector detector(Options(), &clock);
  // 4 endpoints, share 0.5: two may be out.
  Fail(detector, "a", 3);
  clock.Advance(seconds(5));
  Fail(detector, "b", 3);
  Fail(detector, "c", 3);
  CHECK(detector.Ejected() == std::set<std::string>{"a", "b"});
  // Once a is back, c's next failure ejects it.
  clock.Advance(seconds(5));
  CHECK(detector.Ejected() == std::set<std::string>{"b"});
  Fail(detector, "c", 1);
  CHECK(detector.Ejected() == std::set<std::string>{"b", "c"});

  // The only endpoint of a service is never ejected.
  OutlierDetector single(Options(), &clock);
  Fail(single, "x", 10, /*endpoints=*/1);
  CHECK_FALSE(single.IsEjected("x"));
}

TEST_CASE("an endpoint gone from the set is forgotten", "[client][outlier]") {
  FakeClock clock;
  OutlierDetector detector(Options(), &clock);
  Fail(detector, "a", 3);
  Fail(detector, "b", 2);
  detector.Retain({"b"});
  CHECK_FALSE(detector.IsEjected("a"));
  // b kept its two failures.
  Fail(detector, "b", 1);
  CHECK(detector.IsEjected("b"));
}

TEST_CASE("ejection_failures 0 turns ejection off", "[client][outlier]") {
  FakeClock clock;
  OutlierOptions options = Options();
  options.failures = 0;
  OutlierDetector detector(options, &clock);
  Fail(detector, "a", 100);
  CHECK(detector.Ejected().empty());
}

}  // namespace
}  // namespace muster::client::internal
