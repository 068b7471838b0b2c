// The resolver's picker: smooth weighted round robin, zone preference,
// ejected endpoints and per-call exclusion.

#include "client/src/picker.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

namespace muster::client::internal {
namespace {

Endpoint Make(const std::string& id, uint32_t weight = 1,
              const std::string& zone = "") {
  Endpoint endpoint;
  endpoint.service = "users";
  endpoint.id = id;
  endpoint.address = "10.0.0.1";
  endpoint.port = 80;
  endpoint.weight = weight;
  endpoint.zone = zone;
  return endpoint;
}

// How many of `picks` picks went to each id.
std::map<std::string, int> Count(Picker& picker, int picks,
                                 const std::string& zone = "",
                                 const std::set<std::string>& ejected = {},
                                 const std::vector<std::string>& exclude = {}) {
  std::map<std::string, int> counts;
  for (int i = 0; i < picks; ++i) {
    std::optional<Endpoint> picked = picker.Pick(zone, ejected, exclude);
    REQUIRE(picked.has_value());
    ++counts[picked->id];
  }
  return counts;
}

TEST_CASE("the picker gives each endpoint exactly its share of the weight",
          "[client][picker]") {
  Picker picker;
  picker.SetEndpoints({Make("c", 7), Make("a", 1), Make("b", 2)});
  const std::map<std::string, int> counts = Count(picker, 1000);
  CHECK(counts.at("a") == 100);
  CHECK(counts.at("b") == 200);
  CHECK(counts.at("c") == 700);
}

TEST_CASE("the picker spreads the picks of a heavy endpoint out",
          "[client][picker]") {
  // Smooth WRR with weights 5,1,1 (nginx's sequence): the light ones
  // come inside the heavy one's run, not after five a in a row.
  Picker picker;
  picker.SetEndpoints({Make("a", 5), Make("b", 1), Make("c", 1)});
  std::string order;
  for (int i = 0; i < 7; ++i) order += picker.Pick("", {}, {})->id;
  CHECK(order == "aabacaa");
}

TEST_CASE("the picker rotates evenly over equal weights", "[client][picker]") {
  Picker picker;
  picker.SetEndpoints({Make("a"), Make("b"), Make("c")});
  std::string order;
  for (int i = 0; i < 6; ++i) order += picker.Pick("", {}, {})->id;
  CHECK(order == "abcabc");
}

TEST_CASE("the picker keeps its rotation across an update of the set",
          "[client][picker]") {
  Picker picker;
  picker.SetEndpoints({Make("a"), Make("b"), Make("c")});
  CHECK(picker.Pick("", {}, {})->id == "a");
  // The same set again (as after an unrelated event): the rotation goes
  // on with b rather than restarting at a.
  picker.SetEndpoints({Make("a"), Make("b"), Make("c")});
  CHECK(picker.Pick("", {}, {})->id == "b");
  // A new endpoint joins with a fresh score; the others keep theirs.
  picker.SetEndpoints({Make("a"), Make("b"), Make("c"), Make("d")});
  const std::map<std::string, int> counts = Count(picker, 400);
  for (const char* id : {"a", "b", "c", "d"}) CHECK(counts.at(id) == 100);
}

TEST_CASE("the picker prefers the caller's zone while it has an endpoint",
          "[client][picker]") {
  Picker picker;
  picker.SetEndpoints(
      {Make("a", 1, "east"), Make("b", 1, "west"), Make("c", 3, "west")});
  std::map<std::string, int> counts = Count(picker, 40, "west");
  CHECK(counts.count("a") == 0);
  CHECK(counts.at("b") == 10);
  CHECK(counts.at("c") == 30);

  // Zone without any endpoint: every zone.
  counts = Count(picker, 50, "north");
  CHECK(counts.at("a") == 10);
  CHECK(counts.at("b") == 10);
  CHECK(counts.at("c") == 30);

  // The zone's endpoints all ejected or excluded: falls back to the rest.
  counts = Count(picker, 10, "west", {"b"}, {"c"});
  CHECK(counts.at("a") == 10);
}

TEST_CASE("the picker skips excluded endpoints and says when none is left",
          "[client][picker]") {
  Picker picker;
  Picker::Failure failure;
  CHECK_FALSE(picker.Pick("", {}, {}, &failure).has_value());
  CHECK(failure == Picker::Failure::kNoEndpoints);

  picker.SetEndpoints({Make("a"), Make("b", 5)});
  const std::map<std::string, int> counts = Count(picker, 20, "", {}, {"b"});
  CHECK(counts.at("a") == 20);
  CHECK_FALSE(picker.Pick("", {}, {"a", "b"}, &failure).has_value());
  CHECK(failure == Picker::Failure::kAllExcluded);
}

TEST_CASE("the picker skips ejected endpoints unless nothing else is left",
          "[client][picker]") {
  Picker picker;
  picker.SetEndpoints({Make("a"), Make("b"), Make("c")});
  std::map<std::string, int> counts = Count(picker, 20, "", {"b"});
  CHECK(counts.count("b") == 0);
  CHECK(counts.at("a") == 10);
  CHECK(counts.at("c") == 10);
  // a and c excluded, b ejected: b is still better than nothing.
  Picker::Failure failure;
  std::optional<Endpoint> picked = picker.Pick("", {"b"}, {"a", "c"}, &failure);
  REQUIRE(picked.has_value());
  CHECK(picked->id == "b");
  CHECK(failure == Picker::Failure::kNone);
}

}  // namespace
}  // namespace muster::client::internal
