#include "client/src/outlier.h"

#include <algorithm>
#include <iterator>

namespace muster::client::internal {

OutlierDetector::OutlierDetector(OutlierOptions options, const Clock* clock)
    : options_(options), clock_(clock) {}

bool OutlierDetector::EjectedAt(const State& state,
                                Clock::TimePoint now) const {
  return state.times_ejected > 0 && now < state.ejected_until;
}

void OutlierDetector::Report(const std::string& id, bool success,
                             size_t endpoint_count) {
  if (options_.failures <= 0) return;
  const Clock::TimePoint now = clock_->Now();
  State& state = states_[id];
  // Forgive past ejections once the endpoint has stayed in long enough.
  if (state.times_ejected > 0 && !EjectedAt(state, now) &&
      now - state.ejected_until >= options_.max_time) {
    state.times_ejected = 0;
  }
  if (success) {
    state.consecutive_failures = 0;
    return;
  }
  if (EjectedAt(state, now)) return;  // a call picked before the ejection
  if (++state.consecutive_failures < options_.failures) return;

  size_t ejected = 0;
  for (const auto& [other, other_state] : states_) {
    if (EjectedAt(other_state, now)) ++ejected;
  }
  if (static_cast<double>(ejected + 1) >
      options_.max_share * static_cast<double>(endpoint_count)) {
    return;  // over the share: keep the failures, eject later maybe
  }
  // base * 2^times, capped (computed without overflow).
  Clock::Duration duration = options_.base_time;
  for (int i = 0; i < state.times_ejected && duration < options_.max_time;
       ++i) {
    duration *= 2;
  }
  duration = std::min<Clock::Duration>(duration, options_.max_time);
  ++state.times_ejected;
  state.ejected_until = now + duration;
  state.consecutive_failures = 0;
}

bool OutlierDetector::IsEjected(const std::string& id) const {
  auto it = states_.find(id);
  return it != states_.end() && EjectedAt(it->second, clock_->Now());
}

std::set<std::string> OutlierDetector::Ejected() const {
  const Clock::TimePoint now = clock_->Now();
  std::set<std::string> ids;
  for (const auto& [id, state] : states_) {
    if (EjectedAt(state, now)) ids.insert(id);
  }
  return ids;
}

void OutlierDetector::Retain(const std::set<std::string>& ids) {
  for (auto it = states_.begin(); it != states_.end();) {
    it = ids.count(it->first) == 0 ? states_.erase(it) : std::next(it);
  }
}

}  // namespace muster::client::internal
