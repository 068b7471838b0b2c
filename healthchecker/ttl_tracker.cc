#include "healthchecker/ttl_tracker.h"

#include <algorithm>

namespace muster::healthchecker {

void TtlTracker::Track(uint64_t session, absl::Duration ttl, absl::Time now) {
  entries_[session] = Entry{ttl, now + ttl, std::nullopt, false};
}

void TtlTracker::Untrack(uint64_t session) { entries_.erase(session); }

bool TtlTracker::Heartbeat(uint64_t session, absl::Time at) {
  auto it = entries_.find(session);
  if (it == entries_.end()) return false;
  Entry& entry = it->second;
  // Heartbeats can arrive out of order from concurrent RPCs.
  if (!entry.last_heartbeat.has_value() || at > *entry.last_heartbeat) {
    entry.last_heartbeat = at;
  }
  entry.deadline = std::max(entry.deadline, at + entry.ttl);
  entry.expiry_taken = false;
  return true;
}

std::optional<absl::Time> TtlTracker::Deadline(uint64_t session) const {
  auto it = entries_.find(session);
  if (it == entries_.end()) return std::nullopt;
  return it->second.deadline;
}

std::optional<absl::Time> TtlTracker::LastHeartbeat(uint64_t session) const {
  auto it = entries_.find(session);
  if (it == entries_.end()) return std::nullopt;
  return it->second.last_heartbeat;
}

void TtlTracker::Renew(uint64_t session, absl::Time now) {
  auto it = entries_.find(session);
  if (it == entries_.end() || it->second.expiry_taken) return;
  it->second.deadline = std::max(it->second.deadline, now + it->second.ttl);
}

bool TtlTracker::TakeExpiry(uint64_t session, absl::Time now) {
  auto it = entries_.find(session);
  if (it == entries_.end()) return false;
  Entry& entry = it->second;
  if (entry.expiry_taken || now < entry.deadline) return false;
  entry.expiry_taken = true;
  return true;
}

}  // namespace muster::healthchecker
