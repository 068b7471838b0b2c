#include "client/src/picker.h"

#include <algorithm>
#include <utility>

namespace muster::client::internal {

void Picker::SetEndpoints(std::vector<Endpoint> endpoints) {
  std::sort(endpoints.begin(), endpoints.end(),
            [](const Endpoint& a, const Endpoint& b) { return a.id < b.id; });
  std::map<std::string, int64_t> score;
  for (const Endpoint& endpoint : endpoints) {
    auto it = score_.find(endpoint.id);
    score[endpoint.id] = it != score_.end() ? it->second : 0;
  }
  score_ = std::move(score);
  endpoints_ = std::move(endpoints);
}

std::optional<Endpoint> Picker::Pick(const std::string& zone,
                                     const std::set<std::string>& ejected,
                                     const std::vector<std::string>& exclude,
                                     Failure* failure) {
  if (failure != nullptr) *failure = Failure::kNone;
  if (endpoints_.empty()) {
    if (failure != nullptr) *failure = Failure::kNoEndpoints;
    return std::nullopt;
  }
  const std::set<std::string> excluded(exclude.begin(), exclude.end());
  // Candidates: not excluded; not ejected unless that leaves none; of
  // the caller's zone while it has any.
  std::vector<const Endpoint*> allowed;
  for (const Endpoint& endpoint : endpoints_) {
    if (excluded.count(endpoint.id) == 0) allowed.push_back(&endpoint);
  }
  if (allowed.empty()) {
    if (failure != nullptr) *failure = Failure::kAllExcluded;
    return std::nullopt;
  }
  std::vector<const Endpoint*> healthy;
  for (const Endpoint* endpoint : allowed) {
    if (ejected.count(endpoint->id) == 0) healthy.push_back(endpoint);
  }
  if (!healthy.empty()) allowed = std::move(healthy);
  if (!zone.empty()) {
    std::vector<const Endpoint*> local;
    for (const Endpoint* endpoint : allowed) {
      if (endpoint->zone == zone) local.push_back(endpoint);
    }
    if (!local.empty()) allowed = std::move(local);
  }

  int64_t total = 0;
  const Endpoint* best = nullptr;
  int64_t best_score = 0;
  for (const Endpoint* endpoint : allowed) {
    const int64_t weight = std::max<uint32_t>(endpoint->weight, 1);
    int64_t& score = score_[endpoint->id];
    score += weight;
    total += weight;
    if (best == nullptr || score > best_score) {
      best = endpoint;
      best_score = score;
    }
  }
  score_[best->id] -= total;
  return *best;
}

}  // namespace muster::client::internal
