#include "healthchecker/session_table.h"

#include <utility>

namespace muster::healthchecker {

SessionTable::SessionTable(double default_protection_share)
    : eviction_(default_protection_share) {}

CheckSession& SessionTable::Add(const Target& target, absl::Time now) {
  const uint64_t id = next_id_++;
  auto owned = std::make_unique<CheckSession>(id, target, now);
  CheckSession& session = *owned;
  sessions_.emplace(id, std::move(owned));
  by_key_[target.key] = id;
  if (target.check.kind == CheckKind::kTtl)
    ttl_.Track(id, target.check.ttl, now);
  eviction_.Set(id, session.PolicyMember());
  return session;
}

std::unique_ptr<CheckSession> SessionTable::Remove(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  std::unique_ptr<CheckSession> session = std::move(it->second);
  sessions_.erase(it);
  auto key = by_key_.find(session->target().key);
  if (key != by_key_.end() && key->second == id) by_key_.erase(key);
  ttl_.Untrack(id);
  eviction_.Remove(id);
  return session;
}

CheckSession* SessionTable::Find(uint64_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

CheckSession* SessionTable::FindKey(const TargetKey& key) {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : Find(it->second);
}

CheckSession* SessionTable::FindCurrent(const TargetKey& key,
                                        uint64_t incarnation) {
  CheckSession* session = FindKey(key);
  if (session == nullptr || session->target().incarnation != incarnation)
    return nullptr;
  return session;
}

void SessionTable::Refresh(const CheckSession& session, bool fresh_result) {
  eviction_.Set(session.id(), session.PolicyMember(), fresh_result);
}

size_t SessionTable::GraceAfterStall(absl::Time now, absl::Duration stalled) {
  for (auto& [id, session] : sessions_) {
    session->GraceAfterStall(now, stalled);
    ttl_.Renew(id, now);
    Refresh(*session);
  }
  return sessions_.size();
}

std::optional<HealthDetail> SessionTable::Detail(const TargetKey& key,
                                                 uint64_t incarnation) const {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  const CheckSession& session = *sessions_.at(it->second);
  if (session.target().incarnation != incarnation) return std::nullopt;
  HealthDetail detail = session.Detail();
  detail.evict_at = eviction_.EvictAt(session.id());
  detail.eviction_paused = eviction_.Paused(key.realm);
  detail.last_heartbeat_at = ttl_.LastHeartbeat(session.id());
  return detail;
}

}  // namespace muster::healthchecker
