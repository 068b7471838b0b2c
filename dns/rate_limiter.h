#pragma once

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace muster::dns {

// A token bucket per source address: `rate` tokens a second, at most
// `burst` held. rate 0: unlimited. Not thread-safe (the UDP loop owns it).
class RateLimiter final {
 public:
  RateLimiter(uint32_t rate, uint32_t burst);
  // Takes a token for `source` at `now`; false when its bucket is empty.
  bool Allow(const std::string& source, absl::Time now);
  size_t sources() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;
  };
  // Sources tracked at most; beyond it the full (idle) buckets go.
  static constexpr size_t kMaxSources = 65536;

  const double rate_;
  const double burst_;
  absl::flat_hash_map<std::string, Bucket> buckets_;
};

}  // namespace muster::dns
