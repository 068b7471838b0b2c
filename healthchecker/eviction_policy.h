#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "checkapi/check_spec.h"

namespace muster::healthchecker {

// Longest eviction reason we build (the output part is cut to fit).
inline constexpr size_t kMaxEvictionReasonBytes = 512;

// Decides evictions. An instance is due for eviction when it is CRITICAL,
// ENABLED (never while draining), its latest result was a failure, and it
// has been critical for its deregister_after (and its restart grace is
// over). Eviction protection: in a realm with at least 3 checked
// instances, when more than the realm's share of them is CRITICAL, due
// evictions are held back until the share drops. Decisions are taken in
// Sweep(); pure (no clock, no I/O). Not thread-safe.
class EvictionPolicy final {
 public:
  // What the policy needs to know about one checked instance.
  struct Member {
    std::string realm;
    Health health = Health::kStarting;
    AdminState admin_state = AdminState::kEnabled;
    // When it became CRITICAL; read only while CRITICAL.
    absl::Time critical_since = absl::InfinitePast();
    absl::Duration deregister_after = kDefaultDeregisterAfter;
    // No eviction before this (the restart grace).
    absl::Time not_before = absl::InfinitePast();
    // The latest result was a failure (a recovering instance is spared).
    bool failing = false;
  };

  struct Eviction {
    uint64_t session;
    absl::Duration critical_for;
  };
  // A realm entered (paused) or left eviction protection.
  struct RealmChange {
    std::string realm;
    bool paused;
    size_t critical;
    size_t checked;
    double share;
  };
  struct SweepResult {
    // Due now. Each is returned once, until Remove() or EvictionFailed().
    std::vector<Eviction> evict;
    // Newly held back by protection; each is returned once per hold.
    std::vector<Eviction> held_back;
    std::vector<RealmChange> realm_changes;
  };

  // REQUIRES: 0 < default_share <= 1. A share of 1 disables protection.
  explicit EvictionPolicy(double default_share);

  // Inserts or updates a member. A member that is no longer due forgets
  // an eviction in progress or held back. `fresh_result` says the update
  // comes from a new check result: a member held back by protection when
  // its realm resumed is evicted only after such a result still fails,
  // so a target that came back with its fleet is not evicted on the
  // strength of a result from before.
  void Set(uint64_t session, Member member, bool fresh_result = false);
  void Remove(uint64_t session);
  // The realm's own share, or nullopt for the default.
  void SetRealmShare(const std::string& realm, std::optional<double> share);
  // Realms with members, for refreshing their shares.
  std::vector<std::string> Realms() const;

  SweepResult Sweep(absl::Time now);
  // The sink refused an eviction (e.g. the store was unavailable): it is
  // due again at the next sweep.
  void EvictionFailed(uint64_t session);

  // When the member will be evicted, while it is evictable.
  std::optional<absl::Time> EvictAt(uint64_t session) const;
  // As of the last sweep.
  bool Paused(const std::string& realm) const;
  size_t paused_realms() const;

  // "evicted: critical for 1m, last output: connect: connection refused"
  static std::string Reason(absl::Duration critical_for,
                            absl::string_view last_output);

 private:
  struct Entry {
    Member member;
    bool evicting = false;
    bool held = false;
    // Held back when its realm resumed: waits for a fresh result.
    bool awaiting_result = false;
  };
  struct RealmState {
    std::optional<double> share;
    bool paused = false;
  };

  static std::optional<absl::Time> DueAt(const Member& member);

  const double default_share_;
  absl::flat_hash_map<uint64_t, Entry> entries_;
  std::map<std::string, RealmState> realms_;
};

}  // namespace muster::healthchecker
