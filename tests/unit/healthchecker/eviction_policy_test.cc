#include "healthchecker/eviction_policy.h"

#include <catch2/catch.hpp>
#include <string>

namespace muster::healthchecker {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

EvictionPolicy::Member Critical(
    const std::string& realm, absl::Time since,
    absl::Duration deregister_after = absl::Minutes(1)) {
  EvictionPolicy::Member member;
  member.realm = realm;
  member.health = Health::kCritical;
  member.critical_since = since;
  member.deregister_after = deregister_after;
  member.failing = true;
  return member;
}

EvictionPolicy::Member Passing(const std::string& realm) {
  EvictionPolicy::Member member;
  member.realm = realm;
  member.health = Health::kPassing;
  return member;
}

TEST_CASE("a critical instance is evicted after deregister_after",
          "[eviction_policy]") {
  EvictionPolicy policy(0.5);
  policy.Set(1, Critical("prod", kT0));
  REQUIRE(policy.EvictAt(1) == kT0 + absl::Minutes(1));
  REQUIRE(policy.Sweep(kT0 + absl::Seconds(59)).evict.empty());
  EvictionPolicy::SweepResult result = policy.Sweep(kT0 + absl::Seconds(61));
  REQUIRE(result.evict.size() == 1);
  REQUIRE(result.evict[0].session == 1);
  REQUIRE(result.evict[0].critical_for == absl::Seconds(61));
  // Returned once while the eviction is in progress.
  REQUIRE(policy.Sweep(kT0 + absl::Seconds(62)).evict.empty());
  policy.EvictionFailed(1);
  REQUIRE(policy.Sweep(kT0 + absl::Seconds(63)).evict.size() == 1);
}

TEST_CASE("drained and recovering instances are never evicted",
          "[eviction_policy]") {
  EvictionPolicy policy(0.5);
  EvictionPolicy::Member drained = Critical("prod", kT0);
  drained.admin_state = AdminState::kDraining;
  policy.Set(1, drained);
  EvictionPolicy::Member recovering = Critical("staging", kT0);
  recovering.failing = false;
  policy.Set(2, recovering);
  policy.Set(3, Passing("prod"));
  REQUIRE_FALSE(policy.EvictAt(1).has_value());
  REQUIRE_FALSE(policy.EvictAt(2).has_value());
  REQUIRE_FALSE(policy.EvictAt(3).has_value());
  REQUIRE(policy.Sweep(kT0 + absl::Hours(5)).evict.empty());
  // Enabled again, the drained one is due at once.
  policy.Set(1, Critical("prod", kT0));
  REQUIRE(policy.Sweep(kT0 + absl::Hours(5)).evict.size() == 1);
}

TEST_CASE("no eviction before the restart grace ends", "[eviction_policy]") {
  EvictionPolicy policy(0.5);
  EvictionPolicy::Member member = Critical("prod", kT0 - absl::Hours(3));
  member.not_before = kT0 + absl::Seconds(10);
  policy.Set(1, member);
  REQUIRE(policy.EvictAt(1) == kT0 + absl::Seconds(10));
  REQUIRE(policy.Sweep(kT0 + absl::Seconds(9)).evict.empty());
  REQUIRE(policy.Sweep(kT0 + absl::Seconds(10)).evict.size() == 1);
}

TEST_CASE("protection pauses a realm when more than the share is critical",
          "[eviction_policy]") {
  EvictionPolicy policy(0.5);
  for (uint64_t id = 1; id <= 4; ++id) policy.Set(id, Passing("prod"));
  policy.Set(10, Passing("dev"));
  // 2 of 4 is not more than half.
  policy.Set(1, Critical("prod", kT0));
  policy.Set(2, Critical("prod", kT0));
  EvictionPolicy::SweepResult result = policy.Sweep(kT0 + absl::Minutes(2));
  REQUIRE(result.realm_changes.empty());
  REQUIRE(result.evict.size() == 2);

  EvictionPolicy fresh(0.5);
  for (uint64_t id = 1; id <= 4; ++id) fresh.Set(id, Critical("prod", kT0));
  fresh.Set(5, Passing("prod"));
  result = fresh.Sweep(kT0 + absl::Minutes(2));
  REQUIRE(result.realm_changes.size() == 1);
  REQUIRE(result.realm_changes[0].realm == "prod");
  REQUIRE(result.realm_changes[0].paused);
  REQUIRE(result.realm_changes[0].critical == 4);
  REQUIRE(result.realm_changes[0].checked == 5);
  REQUIRE(result.evict.empty());
  REQUIRE(result.held_back.size() == 4);
  REQUIRE(fresh.Paused("prod"));
  REQUIRE(fresh.paused_realms() == 1);

  // Held back once per hold, and no new realm change.
  result = fresh.Sweep(kT0 + absl::Minutes(3));
  REQUIRE(result.held_back.empty());
  REQUIRE(result.realm_changes.empty());

  // Two recover: 2 of 5 critical, evictions resume by themselves.
  fresh.Set(1, Passing("prod"));
  fresh.Set(2, Passing("prod"));
  result = fresh.Sweep(kT0 + absl::Minutes(4));
  REQUIRE(result.realm_changes.size() == 1);
  REQUIRE_FALSE(result.realm_changes[0].paused);
  REQUIRE_FALSE(fresh.Paused("prod"));
  REQUIRE(fresh.paused_realms() == 0);
  // The two still critical go once a result after the resume fails.
  REQUIRE(result.evict.empty());
  fresh.Set(3, Critical("prod", kT0), true);
  fresh.Set(4, Critical("prod", kT0), true);
  result = fresh.Sweep(kT0 + absl::Minutes(5));
  REQUIRE(result.evict.size() == 2);
}

TEST_CASE("after protection lifts a held instance needs a fresh failure",
          "[eviction_policy]") {
  EvictionPolicy policy(0.5);
  for (uint64_t i = 1; i <= 4; ++i) policy.Set(i, Critical("prod", kT0));
  EvictionPolicy::SweepResult result = policy.Sweep(kT0 + absl::Minutes(2));
  REQUIRE(result.held_back.size() == 4);
  // Three targets come back; the fourth has not been probed since.
  for (uint64_t i = 1; i <= 3; ++i) policy.Set(i, Passing("prod"), true);
  result = policy.Sweep(kT0 + absl::Minutes(3));
  REQUIRE(result.realm_changes.size() == 1);
  REQUIRE_FALSE(result.realm_changes[0].paused);
  REQUIRE(result.evict.empty());
  REQUIRE(policy.Sweep(kT0 + absl::Minutes(4)).evict.empty());
  // A refresh that is not a result changes nothing.
  policy.Set(4, Critical("prod", kT0));
  REQUIRE(policy.Sweep(kT0 + absl::Minutes(4)).evict.empty());
  // Its next result still fails: now it goes.
  policy.Set(4, Critical("prod", kT0), true);
  result = policy.Sweep(kT0 + absl::Minutes(5));
  REQUIRE(result.evict.size() == 1);
  REQUIRE(result.evict[0].session == 4);
}

TEST_CASE("a realm of fewer than three is not protected", "[eviction_policy]") {
  EvictionPolicy policy(0.5);
  policy.Set(1, Critical("small", kT0));
  policy.Set(2, Critical("small", kT0));
  EvictionPolicy::SweepResult result = policy.Sweep(kT0 + absl::Minutes(2));
  REQUIRE(result.realm_changes.empty());
  REQUIRE(result.evict.size() == 2);
}

TEST_CASE("protection is per realm and the realm share wins",
          "[eviction_policy]") {
  EvictionPolicy policy(0.5);
  for (uint64_t id = 1; id <= 3; ++id) policy.Set(id, Critical("a", kT0));
  for (uint64_t id = 11; id <= 13; ++id) policy.Set(id, Critical("b", kT0));
  policy.SetRealmShare("b", 1.0);  // disables protection in b
  EvictionPolicy::SweepResult result = policy.Sweep(kT0 + absl::Minutes(2));
  REQUIRE(policy.Paused("a"));
  REQUIRE_FALSE(policy.Paused("b"));
  REQUIRE(result.held_back.size() == 3);
  REQUIRE(result.evict.size() == 3);
  for (const auto& eviction : result.evict) REQUIRE(eviction.session > 10);
}

TEST_CASE("a paused realm that empties resumes", "[eviction_policy]") {
  EvictionPolicy policy(0.5);
  for (uint64_t id = 1; id <= 3; ++id) policy.Set(id, Critical("a", kT0));
  REQUIRE(policy.Sweep(kT0).realm_changes.size() == 1);
  for (uint64_t id = 1; id <= 3; ++id) policy.Remove(id);
  EvictionPolicy::SweepResult result = policy.Sweep(kT0);
  REQUIRE(result.realm_changes.size() == 1);
  REQUIRE_FALSE(result.realm_changes[0].paused);
  REQUIRE(policy.Realms().empty());
}

TEST_CASE("the eviction reason names the time and the last output",
          "[eviction_policy]") {
  REQUIRE(EvictionPolicy::Reason(absl::Seconds(60) + absl::Milliseconds(400),
                                 "connect: connection refused") ==
          "evicted: critical for 1m, last output: connect: connection refused");
  REQUIRE(EvictionPolicy::Reason(absl::Minutes(90), "HTTP 503\nbody text") ==
          "evicted: critical for 1h30m, last output: HTTP 503");
  REQUIRE(EvictionPolicy::Reason(absl::Minutes(1), "") ==
          "evicted: critical for 1m");
  const std::string reason =
      EvictionPolicy::Reason(absl::Minutes(1), std::string(9000, 'x'));
  REQUIRE(reason.size() <= kMaxEvictionReasonBytes);
  REQUIRE(reason.substr(reason.size() - 3) == "...");
}

}  // namespace
}  // namespace muster::healthchecker
