#include "healthchecker/eviction_policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace muster::healthchecker {
namespace {

// Protection needs a crowd: with one or two instances "most of the
// realm" is just the instances that died.
constexpr size_t kMinProtectedRealmSize = 3;

}  // namespace

EvictionPolicy::EvictionPolicy(double default_share)
    : default_share_(default_share) {}

std::optional<absl::Time> EvictionPolicy::DueAt(const Member& member) {
  if (member.health != Health::kCritical ||
      member.admin_state != AdminState::kEnabled || !member.failing) {
    return std::nullopt;
  }
  return std::max(member.critical_since + member.deregister_after,
                  member.not_before);
}

void EvictionPolicy::Set(uint64_t session, Member member, bool fresh_result) {
  Entry& entry = entries_[session];
  realms_.try_emplace(member.realm);
  entry.member = std::move(member);
  if (fresh_result) entry.awaiting_result = false;
  if (!DueAt(entry.member).has_value()) {
    entry.evicting = false;
    entry.held = false;
    entry.awaiting_result = false;
  }
}

void EvictionPolicy::Remove(uint64_t session) { entries_.erase(session); }

void EvictionPolicy::SetRealmShare(const std::string& realm,
                                   std::optional<double> share) {
  auto it = realms_.find(realm);
  if (it != realms_.end()) it->second.share = share;
}

std::vector<std::string> EvictionPolicy::Realms() const {
  std::vector<std::string> names;
  names.reserve(realms_.size());
  for (const auto& [name, state] : realms_) names.push_back(name);
  return names;
}

EvictionPolicy::SweepResult EvictionPolicy::Sweep(absl::Time now) {
  SweepResult result;
  struct Count {
    size_t checked = 0;
    size_t critical = 0;
  };
  std::map<std::string, Count> counts;
  for (const auto& [session, entry] : entries_) {
    Count& count = counts[entry.member.realm];
    ++count.checked;
    if (entry.member.health == Health::kCritical) ++count.critical;
  }
  for (auto it = realms_.begin(); it != realms_.end();) {
    const auto count_it = counts.find(it->first);
    const Count count = count_it == counts.end() ? Count{} : count_it->second;
    const double share = it->second.share.value_or(default_share_);
    const bool paused = count.checked >= kMinProtectedRealmSize &&
                        share < 1.0 &&
                        static_cast<double>(count.critical) >
                            share * static_cast<double>(count.checked);
    if (paused != it->second.paused) {
      it->second.paused = paused;
      result.realm_changes.push_back(
          RealmChange{it->first, paused, count.critical, count.checked, share});
    }
    if (count.checked == 0) {
      it = realms_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [session, entry] : entries_) {
    // Held back until its realm resumed just now: its latest result is
    // from before the fleet came back, so wait for the next one.
    if (entry.held && !Paused(entry.member.realm)) {
      entry.held = false;
      entry.awaiting_result = true;
    }
    if (entry.awaiting_result) continue;
    const std::optional<absl::Time> due = DueAt(entry.member);
    if (!due.has_value() || *due > now || entry.evicting) continue;
    const Eviction eviction{session, now - entry.member.critical_since};
    if (Paused(entry.member.realm)) {
      if (!entry.held) result.held_back.push_back(eviction);
      entry.held = true;
      continue;
    }
    entry.held = false;
    entry.evicting = true;
    result.evict.push_back(eviction);
  }
  return result;
}

void EvictionPolicy::EvictionFailed(uint64_t session) {
  auto it = entries_.find(session);
  if (it != entries_.end()) it->second.evicting = false;
}

std::optional<absl::Time> EvictionPolicy::EvictAt(uint64_t session) const {
  auto it = entries_.find(session);
  if (it == entries_.end()) return std::nullopt;
  return DueAt(it->second.member);
}

bool EvictionPolicy::Paused(const std::string& realm) const {
  auto it = realms_.find(realm);
  return it != realms_.end() && it->second.paused;
}

size_t EvictionPolicy::paused_realms() const {
  return std::count_if(realms_.begin(), realms_.end(),
                       [](const auto& realm) { return realm.second.paused; });
}

std::string EvictionPolicy::Reason(absl::Duration critical_for,
                                   absl::string_view last_output) {
  std::string reason = absl::StrCat(
      "evicted: critical for ",
      absl::FormatDuration(absl::Trunc(critical_for, absl::Seconds(1))));
  // Only the first line: the rest of an HTTP body does not explain much.
  absl::string_view output = last_output.substr(0, last_output.find('\n'));
  if (output.empty()) return reason;
  absl::StrAppend(&reason, ", last output: ");
  const size_t room = kMaxEvictionReasonBytes - reason.size();
  if (output.size() > room) {
    output = output.substr(0, room - 3);
    // Do not cut a UTF-8 sequence in half.
    while (!output.empty() &&
           (static_cast<unsigned char>(output.back()) & 0xC0) == 0x80) {
      output.remove_suffix(1);
    }
    if (!output.empty() && static_cast<unsigned char>(output.back()) >= 0xC0) {
      output.remove_suffix(1);
    }
    absl::StrAppend(&reason, output, "...");
    return reason;
  }
  absl::StrAppend(&reason, output);
  return reason;
}

}  // namespace muster::healthchecker
