#pragma once

// Smooth weighted round robin over a service's routable endpoints, with
// zone preference, outlier skipping and per-call exclusion. Pure logic
// (no I/O, no clock). Not thread-safe: the resolver calls it under its
// lock.
//
// The algorithm is nginx's smooth weighted round robin: each pick adds
// every eligible endpoint's weight to its running score, takes the
// highest score (the first in id order on a tie) and subtracts the sum of
// the eligible weights from it. Over any window of sum-of-weights picks
// each endpoint is chosen exactly weight times, and the picks of a heavy
// endpoint are spread out rather than bunched.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "muster/client/resolver.h"

namespace muster::client::internal {

class Picker {
 public:
  // Why Pick() found nothing.
  enum class Failure {
    kNone,
    // The set is empty.
    kNoEndpoints,
    // Every endpoint is in `exclude`.
    kAllExcluded,
  };

  // Replaces the set (any order; kept sorted by id). The running scores
  // of endpoints still present are kept, so an update does not restart
  // the rotation; those of endpoints gone are dropped.
  void SetEndpoints(std::vector<Endpoint> endpoints);
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }

  // One endpoint whose id is neither in `exclude` nor in `ejected`,
  // restricted to `zone` (when not empty) while that zone has any such
  // endpoint. When ejection alone leaves nothing, the ejected endpoints
  // are picked anyway (ejection never leaves a caller with nothing).
  // std::nullopt, with `*failure` set when given, when nothing is left.
  std::optional<Endpoint> Pick(const std::string& zone,
                               const std::set<std::string>& ejected,
                               const std::vector<std::string>& exclude,
                               Failure* failure = nullptr);

 private:
  std::vector<Endpoint> endpoints_;  // sorted by id
  // Running score of endpoints_[i]. A pick walks the set without
  // allocating or looking anything up by name.
  std::vector<int64_t> scores_;
};

}  // namespace muster::client::internal
