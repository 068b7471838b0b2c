#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace muster::registry {

// Per-client request rate: one token bucket per client key (a token's
// name, or the peer's address when auth is off) that fills at `rate`
// requests a second up to `burst`. Time is the clock's monotonic time.
//
// Memory stays bounded with hostile peers: the map holds at most
// `max_keys` buckets. When it is full, a new key first sweeps out the
// buckets that have refilled (an idle full bucket is the same as a new
// one, so forgetting it changes nothing); when none has, the new key is
// let through untracked, and the next sweep waits until a bucket could
// have refilled, so a flood of new keys costs no more than one sweep per
// refill time. Thread-safe.
class RequestRateLimiter final {
 public:
  struct Options {
    // Requests a second; 0: unlimited (Take always allows).
    double rate = 50000;
    // Requests a client may make at once after being idle; at least 1.
    double burst = 100000;
    size_t max_keys = 65536;
  };

  RequestRateLimiter(const Options& options, Clock& clock);
  RequestRateLimiter(const RequestRateLimiter&) = delete;
  RequestRateLimiter& operator=(const RequestRateLimiter&) = delete;

  bool enabled() const { return options_.rate > 0; }
  const Options& options() const { return options_; }

  // Takes one request from `key`'s bucket. Zero: allowed; else refused,
  // and the time after which one request would be allowed.
  absl::Duration Take(absl::string_view key);
  // Buckets held (for tests).
  size_t KeyCount() const;

 private:
  struct Bucket {
    double tokens = 0;
    absl::Duration updated;
  };
  // Drops the buckets full at `now`.
  void SweepLocked(absl::Duration now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double Refilled(const Bucket& bucket, absl::Duration now) const;

  const Options options_;
  Clock& clock_;
  // How long an empty bucket takes to fill.
  const absl::Duration refill_time_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  absl::Duration last_sweep_ ABSL_GUARDED_BY(mu_) = -absl::InfiniteDuration();
};

// The most concurrent watch streams per client key. A stream holds a
// Lease while it is open; the key's count drops when the lease is
// destroyed, and a key with no open stream is forgotten, so memory is
// bounded by the streams open. Thread-safe; outlives its leases.
class WatcherLimiter final {
 public:
  class Lease final {
   public:
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    friend class WatcherLimiter;
    Lease(WatcherLimiter& limiter, std::string key)
        : limiter_(limiter), key_(std::move(key)) {}
    WatcherLimiter& limiter_;
    const std::string key_;
  };

  // `max_per_client` 0: unlimited (leases are still handed out).
  explicit WatcherLimiter(uint32_t max_per_client)
      : max_per_client_(max_per_client) {}
  WatcherLimiter(const WatcherLimiter&) = delete;
  WatcherLimiter& operator=(const WatcherLimiter&) = delete;

  uint32_t max_per_client() const { return max_per_client_; }
  // A lease for one more stream of `key`; null when `key` holds
  // max_per_client already.
  std::unique_ptr<Lease> Acquire(absl::string_view key);
  // Streams open for `key` (for tests).
  uint32_t Open(absl::string_view key) const;

 private:
  void Release(const std::string& key);

  const uint32_t max_per_client_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, uint32_t> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::registry
