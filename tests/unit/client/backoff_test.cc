#include "client/src/backoff.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <set>

namespace muster::client::internal {
namespace {

using std::chrono::milliseconds;

TEST_CASE("backoff draws each delay under a ceiling that doubles up to max",
          "[client][backoff]") {
  Backoff backoff(milliseconds(100), milliseconds(1000), 7);
  const milliseconds ceilings[] = {milliseconds(100),  milliseconds(200),
                                   milliseconds(400),  milliseconds(800),
                                   milliseconds(1000), milliseconds(1000)};
  for (milliseconds ceiling : ceilings) {
    REQUIRE(backoff.ceiling() == ceiling);
    const milliseconds delay = backoff.Next();
    CHECK(delay >= milliseconds(0));
    CHECK(delay <= ceiling);
  }
  backoff.Reset();
  CHECK(backoff.ceiling() == milliseconds(100));
}

TEST_CASE("backoff jitter spreads delays over the whole range",
          "[client][backoff]") {
  // Full jitter: many draws under a 1000 ms ceiling land in every tenth
  // of it, not in one spot.
  Backoff backoff(milliseconds(1000), milliseconds(1000), 42);
  std::set<int64_t> tenths;
  for (int i = 0; i < 500; ++i) tenths.insert(backoff.Next().count() / 100);
  CHECK(tenths.size() >= 10);
}

TEST_CASE("backoff with different seeds gives different sequences",
          "[client][backoff]") {
  Backoff a(milliseconds(1000), milliseconds(1000), RandomSeed());
  Backoff b(milliseconds(1000), milliseconds(1000), RandomSeed());
  bool differ = false;
  for (int i = 0; i < 20 && !differ; ++i) differ = a.Next() != b.Next();
  CHECK(differ);
}

}  // namespace
}  // namespace muster::client::internal
