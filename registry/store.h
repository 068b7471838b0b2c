#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "registry/model.h"
#include "registry/token.h"

namespace muster::registry {

// Everything a store holds, as read at start-up.
struct StoredState {
  // The revision of the last committed batch (0 for an empty store).
  uint64_t revision = 0;
  // The oldest revision still in the change log; revision + 1 when the
  // log is empty (1 for a fresh store).
  uint64_t oldest_retained_revision = 1;
  std::vector<Realm> realms;
  // Each instance in its final place: the index keeps these pointers, so
  // a start-up with a million instances does not copy them again.
  std::vector<std::shared_ptr<const Instance>> instances;
  // Every access token, revoked ones included, in name order.
  std::vector<Token> tokens;
};

// The revision a batch for a replicated store carries until the store has
// assigned one (see Replication): records and events written with it get
// the revision the store gives the batch. Far above any real revision.
inline constexpr uint64_t kPendingRevision = uint64_t{1} << 62;

// What a batch for a replicated store was prepared against: the store
// writes it only if all of this still holds (optimistic concurrency
// between replicas). Local stores ignore it.
struct Expectations {
  // Each record's modify revision when it was read (0: it was absent).
  std::map<InstanceKey, uint64_t> instances;
  std::map<std::string, uint64_t> realms;
  std::map<std::string, uint64_t> tokens;
  // Realms whose instances were all read (a forced realm delete): none of
  // their instances may have changed after `read_revision`.
  std::set<std::string> realm_instances;
  // The revision of the state read.
  uint64_t read_revision = 0;
  // Written only while this replica holds its membership (the health
  // checker's verdicts and evictions).
  bool fenced = false;
};

// One atomic, durable commit: puts and deletes of records, their
// change-log entries and the new store revision, all or nothing.
struct CommitBatch {
  // The store revision after this batch; greater than every earlier one.
  uint64_t revision = 0;
  std::vector<Realm> put_realms;
  std::vector<std::string> delete_realms;
  std::vector<Instance> put_instances;
  std::vector<InstanceKey> delete_instances;
  // Created or changed (revoked) tokens; tokens are never deleted.
  std::vector<Token> put_tokens;
  // In order; every event's revision is <= `revision`.
  std::vector<Event> events;
  // Replicated stores: see Expectations; `revision` and the events'
  // revisions are kPendingRevision.
  Expectations expect;
};

class Replication;

// Store is the durable state behind the registry: load at start-up,
// commit a batch, read the change log, compact it. A replicated backend
// implements the same interface. Implementations are thread-safe; the
// registry commits from one thread at a time.
class Store {
 public:
  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Reads every realm, instance and token and the revision counters.
  // Returns DATA_LOSS or INTERNAL when the stored data cannot be decoded.
  virtual absl::StatusOr<StoredState> Load() = 0;

  // Applies `batch` atomically; on OK the batch is on stable storage
  // (the write-ahead log is synced). UNAVAILABLE when the write fails;
  // then nothing of the batch is applied.
  virtual absl::Status Commit(const CommitBatch& batch) = 0;

  // Change-log events with from <= revision <= to, oldest first, at most
  // `limit` of them (a batch's events are never split: the result may
  // exceed `limit` to finish the last revision). OUT_OF_RANGE when
  // `from` is below the oldest retained revision.
  virtual absl::StatusOr<std::vector<Event>> ReadChangeLog(uint64_t from,
                                                           uint64_t to,
                                                           size_t limit) = 0;

  // Drops change-log events with revision < `oldest_to_keep`. Idempotent;
  // never drops events above the committed revision.
  virtual absl::Status Compact(uint64_t oldest_to_keep) = 0;

  // The oldest revision the change log holds (see StoredState).
  virtual uint64_t OldestRetainedRevision() const = 0;

  // Every realm as stored, in name order (cheaper than Load when only the
  // realms are needed).
  virtual absl::StatusOr<std::vector<Realm>> LoadRealms() = 0;

  // Every access token as stored, in name order (see LoadRealms).
  virtual absl::StatusOr<std::vector<Token>> LoadTokens() = 0;

  // Whether Commit may be tried: false after a failed write (UNAVAILABLE
  // from Commit or Compact) and while the store is open read-only, until
  // Reopen succeeds. Reads may still work while it is false.
  virtual bool Writable() const = 0;

  // Recovers from a failed write: drops whatever the storage engine holds
  // in memory, opens the durable state again (a database replays its
  // log) and reads the revision counters. Returns the revision the store
  // holds now. That may be above the last revision Commit acknowledged:
  // a batch whose Commit failed may have reached stable storage after
  // all, and it is then part of the store. UNAVAILABLE while the store
  // still cannot write (reads keep working when they can). OK and a no-op
  // when the store is writable.
  virtual absl::StatusOr<uint64_t> Reopen() = 0;

  // A store shared by several replicas, which assigns revisions itself
  // and delivers every replica's changes on a feed; null for a local
  // store (the default).
  virtual Replication* replication() { return nullptr; }

 protected:
  Store() = default;
};

}  // namespace muster::registry
