#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "checkapi/target_source.h"
#include "healthchecker/check_session.h"
#include "healthchecker/eviction_policy.h"
#include "healthchecker/ttl_tracker.h"

namespace muster::healthchecker {

// The checker's sessions, by id and by target key, with the TTL tracker
// and the eviction policy kept in step with them. Session ids are never
// reused, so a stale id (a probe of a replaced session) finds nothing.
// Not thread-safe: the HealthChecker's mutex guards it.
class SessionTable final {
 public:
  explicit SessionTable(double default_protection_share);
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  // Adds a session for `target`, learned at `now` (TTL targets are
  // tracked from then). Replaces nothing: remove the old one first.
  CheckSession& Add(const Target& target, absl::Time now);
  // Removes and returns the session, so its scheduler handles can be
  // released; nullptr when unknown.
  std::unique_ptr<CheckSession> Remove(uint64_t id);

  CheckSession* Find(uint64_t id);
  // The session of `key`, whatever its incarnation.
  CheckSession* FindKey(const TargetKey& key);
  // The session of `key` when it has `incarnation`.
  CheckSession* FindCurrent(const TargetKey& key, uint64_t incarnation);

  // Tells the eviction policy about a session's new state; `fresh_result`
  // when it follows a new check result (EvictionPolicy::Set).
  void Refresh(const CheckSession& session, bool fresh_result = false);

  // The checker did not run for `stalled` until `now`: every session gets
  // the restart grace again (CheckSession::GraceAfterStall), TTL sessions
  // a fresh TTL. Returns how many sessions there are.
  size_t GraceAfterStall(absl::Time now, absl::Duration stalled);

  // Output, counters, eviction and heartbeat fields; nullopt when `key`
  // has no session of `incarnation`.
  std::optional<HealthDetail> Detail(const TargetKey& key,
                                     uint64_t incarnation) const;

  TtlTracker& ttl() { return ttl_; }
  EvictionPolicy& eviction() { return eviction_; }
  size_t size() const { return sessions_.size(); }

 private:
  uint64_t next_id_ = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<CheckSession>> sessions_;
  absl::flat_hash_map<TargetKey, uint64_t> by_key_;
  TtlTracker ttl_;
  EvictionPolicy eviction_;
};

}  // namespace muster::healthchecker
