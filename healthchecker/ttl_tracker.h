#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace muster::healthchecker {

// In-memory heartbeat bookkeeping for TTL checks, one entry per checked
// incarnation (keyed by the checker's session id). Heartbeats are never
// written to disk, so after a restart every instance starts with a fresh
// TTL: that is its grace period. Not thread-safe: the HealthChecker
// serializes calls.
class TtlTracker final {
 public:
  // Starts tracking; the first deadline is `now + ttl`.
  void Track(uint64_t session, absl::Duration ttl, absl::Time now);
  void Untrack(uint64_t session);

  // Records a heartbeat at `at` and moves the deadline to `at + ttl`
  // (never backwards). False when `session` is not tracked.
  bool Heartbeat(uint64_t session, absl::Time at);

  // When the session expires unless a heartbeat comes first.
  std::optional<absl::Time> Deadline(uint64_t session) const;
  std::optional<absl::Time> LastHeartbeat(uint64_t session) const;

  // A fresh TTL from `now`, as Track() gives (the deadline never moves
  // backwards); a silence already taken stays taken.
  void Renew(uint64_t session, absl::Time now);

  // True once per silence: when `now` is at or past the deadline and this
  // expiry has not been taken yet. The next heartbeat re-arms it.
  bool TakeExpiry(uint64_t session, absl::Time now);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    absl::Duration ttl;
    absl::Time deadline;
    std::optional<absl::Time> last_heartbeat;
    bool expiry_taken = false;
  };
  absl::flat_hash_map<uint64_t, Entry> entries_;
};

}  // namespace muster::healthchecker
