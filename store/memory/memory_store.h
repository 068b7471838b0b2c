#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "registry/store.h"

namespace muster::registry {

// MemoryStore is a Store in memory with RocksDbStore's semantics (the
// same contract checks, ordering and errors), for unit tests. Nothing
// survives its destruction. Thread-safe.
class MemoryStore final : public Store {
 public:
  MemoryStore() = default;

  absl::StatusOr<StoredState> Load() override;
  // Same checks as RocksDbStore::Commit; deletes apply before puts.
  absl::Status Commit(const CommitBatch& batch) override;
  absl::StatusOr<std::vector<Event>> ReadChangeLog(uint64_t from, uint64_t to,
                                                   size_t limit) override;
  absl::Status Compact(uint64_t oldest_to_keep) override;
  uint64_t OldestRetainedRevision() const override;
  absl::StatusOr<std::vector<Realm>> LoadRealms() override;
  absl::StatusOr<std::vector<Token>> LoadTokens() override;
  // False while commits are made to fail (TEST_FailCommits).
  bool Writable() const override;
  // UNAVAILABLE while commits are made to fail; the revision otherwise.
  absl::StatusOr<uint64_t> Reopen() override;

  // Test hook: while `fail` is set, every Commit returns UNAVAILABLE and
  // applies nothing, like a full disk.
  void TEST_FailCommits(bool fail);
  // Test hook: every stored token record, key and value bytes, as
  // RocksDbStore would write them.
  std::map<std::string, std::string> TEST_TokenRecords() const;

 private:
  absl::StatusOr<std::vector<Token>> DecodeTokens() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t oldest_retained_ ABSL_GUARDED_BY(mu_) = 1;
  bool fail_commits_ ABSL_GUARDED_BY(mu_) = false;
  // Keyed like RocksDbStore's column families (keys.h), so Load returns
  // the same order.
  std::map<std::string, Realm> realms_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Instance> instances_ ABSL_GUARDED_BY(mu_);
  // Stored as RocksDbStore stores them: the encoded record, so a test can
  // look at the bytes (TEST_TokenRecords) and Load decodes what was put.
  std::map<std::string, std::string> tokens_ ABSL_GUARDED_BY(mu_);
  // In revision order.
  std::deque<Event> changelog_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::registry
