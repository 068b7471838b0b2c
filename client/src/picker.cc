#include "client/src/picker.h"

#include <algorithm>
#include <map>
#include <utility>

namespace muster::client::internal {

void Picker::SetEndpoints(std::vector<Endpoint> endpoints) {
  std::sort(endpoints.begin(), endpoints.end(),
            [](const Endpoint& a, const Endpoint& b) { return a.id < b.id; });
  std::map<std::string, int64_t> kept;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    kept[endpoints_[i].id] = scores_[i];
  }
  scores_.assign(endpoints.size(), 0);
  for (size_t i = 0; i < endpoints.size(); ++i) {
    auto it = kept.find(endpoints[i].id);
    if (it != kept.end()) scores_[i] = it->second;
  }
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
  auto excluded = [&](const Endpoint& endpoint) {
    return std::find(exclude.begin(), exclude.end(), endpoint.id) !=
           exclude.end();
  };
  auto is_ejected = [&](const Endpoint& endpoint) {
    return !ejected.empty() && ejected.count(endpoint.id) > 0;
  };
  // Candidates: not excluded; not ejected unless that leaves none; of
  // the caller's zone while it has any.
  bool any_allowed = false;
  bool any_healthy = false;
  for (const Endpoint& endpoint : endpoints_) {
    if (excluded(endpoint)) continue;
    any_allowed = true;
    if (!is_ejected(endpoint)) any_healthy = true;
  }
  if (!any_allowed) {
    if (failure != nullptr) *failure = Failure::kAllExcluded;
    return std::nullopt;
  }
  auto eligible = [&](const Endpoint& endpoint) {
    return !excluded(endpoint) && !(any_healthy && is_ejected(endpoint));
  };
  bool local_only = false;
  if (!zone.empty()) {
    local_only = std::any_of(
        endpoints_.begin(), endpoints_.end(), [&](const Endpoint& endpoint) {
          return endpoint.zone == zone && eligible(endpoint);
        });
  }

  int64_t total = 0;
  size_t best = endpoints_.size();
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const Endpoint& endpoint = endpoints_[i];
    if (!eligible(endpoint) || (local_only && endpoint.zone != zone)) {
      continue;
    }
    const int64_t weight = std::max<uint32_t>(endpoint.weight, 1);
    scores_[i] += weight;
    total += weight;
    if (best == endpoints_.size() || scores_[i] > scores_[best]) best = i;
  }
  scores_[best] -= total;
  return endpoints_[best];
}

}  // namespace muster::client::internal
