#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "checkapi/check_spec.h"

// The seam between the registry and the health checker: the registry is
// the TargetSource and the VerdictSink, the checker is the TargetListener
// and the HealthDetailProvider. No RocksDB, no gRPC types cross it.
namespace muster::healthchecker {

// Identifies a checked instance.
struct TargetKey {
  std::string realm;
  std::string service;
  std::string id;

  friend bool operator==(const TargetKey& a, const TargetKey& b) {
    return a.realm == b.realm && a.service == b.service && a.id == b.id;
  }
  friend bool operator<(const TargetKey& a, const TargetKey& b) {
    if (a.realm != b.realm) return a.realm < b.realm;
    if (a.service != b.service) return a.service < b.service;
    return a.id < b.id;
  }
  template <typename H>
  friend H AbslHashValue(H h, const TargetKey& k) {
    return H::combine(std::move(h), k.realm, k.service, k.id);
  }
};

// What the checker needs to know about one instance. `check` is resolved:
// every duration and threshold the kind uses is set (including
// deregister_after, with the realm default applied).
struct Target {
  TargetKey key;
  // The instance's create revision; verdicts must carry it.
  uint64_t incarnation = 0;
  std::string address;
  uint32_t port = 0;
  CheckSpec check;
  // As committed.
  Health health = Health::kStarting;
  AdminState admin_state = AdminState::kEnabled;
  // When `health` last changed (commit time).
  absl::Time status_changed_at = absl::UnixEpoch();
};

// Receives the registry's targets. Calls come from the registry's commit
// thread and from RPC threads, never with registry locks held; they must
// not block (queue and return). Implementations are thread-safe.
class TargetListener {
 public:
  virtual ~TargetListener() = default;

  // A target was created, or its spec, health or admin state changed.
  virtual void OnTargetUpsert(const Target& target) = 0;
  // The target's incarnation is gone (deregistered or evicted).
  virtual void OnTargetRemoved(const TargetKey& key, uint64_t incarnation) = 0;
  // A Heartbeat RPC for this incarnation was accepted at `at`.
  virtual void OnHeartbeat(const TargetKey& key, uint64_t incarnation,
                           absl::Time at) = 0;

 protected:
  TargetListener() = default;
};

// The registry, as the checker sees it. Thread-safe.
class TargetSource {
 public:
  virtual ~TargetSource() = default;

  // Registers `listener` and calls OnTargetUpsert for every current
  // instance before any later change is delivered, so nothing is missed.
  // `listener` must stay valid until Unsubscribe returns.
  virtual void Subscribe(TargetListener* listener) = 0;
  virtual void Unsubscribe(TargetListener* listener) = 0;

  // The realm's eviction-protection share (0 < x <= 1), or nullopt when
  // the realm uses the daemon default or does not exist.
  virtual std::optional<double> EvictionProtectionShare(
      const std::string& realm) const = 0;

 protected:
  TargetSource() = default;
};

// Where the checker's decisions go. Both calls are asynchronous: the
// registry commits and then runs `done` (on its commit thread; keep it
// short). FAILED_PRECONDITION / NOT_FOUND when the incarnation is no
// longer current (nothing is changed then); UNAVAILABLE when the store
// cannot write.
class VerdictSink {
 public:
  virtual ~VerdictSink() = default;

  // Commits a change of health with the check output (capped at 4 KiB by
  // the registry). A report equal to the committed health is a no-op.
  virtual void ReportHealth(const TargetKey& key, uint64_t incarnation,
                            Health health, std::string output,
                            std::function<void(absl::Status)> done) = 0;
  // Deregisters the incarnation with cause EVICTED and `reason`.
  virtual void Evict(const TargetKey& key, uint64_t incarnation,
                     std::string reason,
                     std::function<void(absl::Status)> done) = 0;

 protected:
  VerdictSink() = default;
};

// Live check state of one instance, for GetInstance and `explain`.
struct HealthDetail {
  std::string output;
  std::optional<absl::Time> last_checked_at;
  uint32_t consecutive_successes = 0;
  uint32_t consecutive_failures = 0;
  // Set while CRITICAL and evictable.
  std::optional<absl::Time> evict_at;
  // True while eviction protection holds this realm's evictions back.
  bool eviction_paused = false;
  std::optional<absl::Time> last_heartbeat_at;
};

// Implemented by the checker; the registry asks it when serving an
// instance. Thread-safe, non-blocking.
class HealthDetailProvider {
 public:
  virtual ~HealthDetailProvider() = default;
  virtual std::optional<HealthDetail> Detail(const TargetKey& key,
                                             uint64_t incarnation) const = 0;

 protected:
  HealthDetailProvider() = default;
};

}  // namespace muster::healthchecker
