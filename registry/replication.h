#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "registry/store.h"

namespace muster::registry {

// A live replica, as the replicated store announces it.
struct ReplicaInfo {
  std::string id;
  // host:port of its gRPC API, where the other replicas reach it.
  std::string address;

  friend bool operator==(const ReplicaInfo& a, const ReplicaInfo& b) {
    return a.id == b.id && a.address == b.address;
  }
};

// Changes as a replicated store delivers them, in revision order.
struct FeedUpdate {
  // Each batch is one revision's changes to realms, instances and tokens,
  // with its events; revisions and records carry the store's revisions.
  std::vector<CommitBatch> batches;
  // The live replicas, when they changed (always in the first update).
  std::optional<std::vector<ReplicaInfo>> replicas;
  // Every change up to this revision has been delivered.
  uint64_t revision = 0;
};

// Receives a replicated store's feed. Calls come from one thread of the
// store's, in order, and must not block for long.
class FeedSink {
 public:
  virtual ~FeedSink() = default;
  virtual void OnFeed(FeedUpdate update) = 0;
  // The feed ended for good: changes after the last delivered revision
  // are gone from the store's history (it compacted them while this
  // replica was cut off). The replica has to load the store again.
  virtual void OnFeedLost(absl::Status status) = 0;
};

// The outcome of CommitReplicated.
struct ReplicatedCommit {
  // False when an expectation of the batch no longer held.
  bool committed = false;
  // The revision the batch got; when not committed, the store's revision
  // at the refusal (catch up to it before preparing again).
  uint64_t revision = 0;
};

// What a replica knows of the replicated store, for operators.
struct ReplicationStatus {
  std::string backend;  // "etcd"
  std::string self_id;
  std::string self_address;
  // Whether this replica holds its membership (its lease is alive).
  bool member = false;
  // When the feed was last confirmed current by the store (a progress
  // notification); InfinitePast before the first.
  absl::Time last_current = absl::InfinitePast();
  // The store's endpoint in use, and all of them.
  std::string endpoint;
  std::vector<std::string> endpoints;
  std::vector<ReplicaInfo> replicas;
};

// Replication is the part of a Store that several replicas share (see
// Store::replication()): commits compared against what the batch was
// prepared from, revisions assigned by the store, and a feed of every
// replica's changes. Thread-safe.
//
// Records in a batch (and the instances in its events) may carry
// kPendingRevision: the store gives them the batch's revision, on the
// feed of every replica alike.
class Replication {
 public:
  virtual ~Replication() = default;

  // Writes `batch` (revision kPendingRevision) if every expectation of
  // batch.expect holds. UNAVAILABLE or DEADLINE_EXCEEDED when the store
  // could not be reached or did not answer in time: the write may then
  // still have happened, and arrives on the feed like any other.
  // FAILED_PRECONDITION when the batch is too large for the store.
  virtual absl::StatusOr<ReplicatedCommit> CommitReplicated(
      const CommitBatch& batch) = 0;
  // Checks that every expectation of `expect` still holds, writing
  // nothing: `committed` says they do (at `revision`). How a replica makes
  // an answer it read from its index (NOT_FOUND, a stale incarnation, an
  // unchanged registration) as current as a write. UNAVAILABLE as above.
  virtual absl::StatusOr<ReplicatedCommit> Validate(
      const Expectations& expect) = 0;
  // The most records (and expectations) one batch may hold.
  virtual size_t MaxRecordsPerCommit() const = 0;

  // Starts delivering the changes after `revision` (what Load returned)
  // to `sink`, from a thread of the store's; the first update carries
  // the live replicas. Once.
  virtual absl::Status StartFeed(uint64_t revision, FeedSink* sink) = 0;
  // Ends the feed; the sink is not called after this returns. Idempotent.
  virtual void StopFeed() = 0;

  virtual std::string SelfId() const = 0;
  // A secret every replica of the store shares (and only they, and who
  // may read the store): replicas present it when they call each other.
  virtual std::string PeerSecret() const = 0;
  virtual ReplicationStatus GetStatus() const = 0;
  // ReplicationStatus::last_current alone (cheap: every read asks).
  virtual absl::Time LastCurrent() const = 0;
  // Gives up this replica's membership at once (a clean shutdown), so
  // the others take its instances over without waiting for the lease.
  virtual void Leave() = 0;
};

}  // namespace muster::registry
