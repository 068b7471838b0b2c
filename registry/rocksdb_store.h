#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "registry/store.h"

// RocksDB stays out of every other header: callers see only Store.
namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Iterator;
struct ReadOptions;
class WriteBatch;
}  // namespace rocksdb

namespace muster::registry {

// RocksDbStore is the durable Store: one RocksDB database per data dir,
// laid out as keys.h describes; every commit is one synced WriteBatch.
// Thread-safe. The only user of <rocksdb/...> in the project.
class RocksDbStore final : public Store {
 public:
  struct Options {
    // The data directory; RocksDB's files live directly inside it.
    std::string path;
    // Create the directory and an empty store when none is there.
    bool create_if_missing = true;
  };

  // Opens (or creates) the store at options.path. Errors name the path:
  // FAILED_PRECONDITION when another process holds the data dir's lock,
  // when there is no store and create_if_missing is false, when the dir
  // is unreadable, holds something else or a format version this build
  // does not know; DATA_LOSS when RocksDB or the meta keys are corrupt;
  // INVALID_ARGUMENT for an empty path.
  static absl::StatusOr<std::unique_ptr<RocksDbStore>> Open(
      const Options& options);

  // Closes the database; every acknowledged commit is already in the
  // synced write-ahead log.
  ~RocksDbStore() override;

  absl::StatusOr<StoredState> Load() override;
  // Also INTERNAL when the batch breaks the CommitBatch contract
  // (revision not above the store's, an event outside it or without an
  // instance); INVALID_ARGUMENT for an empty or NUL-holding key part.
  // A key both deleted and put in one batch ends up put: deletes apply
  // before puts. Deleting a realm does not touch its instances.
  absl::Status Commit(const CommitBatch& batch) override;
  absl::StatusOr<std::vector<Event>> ReadChangeLog(uint64_t from, uint64_t to,
                                                   size_t limit) override;
  absl::Status Compact(uint64_t oldest_to_keep) override;
  uint64_t OldestRetainedRevision() const override;

  // Test hook: overwrites the stored format version (synced), so tests
  // can check that Open refuses an unknown one.
  absl::Status TEST_WriteFormatVersion(uint64_t version);

 private:
  enum Family { kDefault = 0, kRealms, kInstances, kChangelog, kNumFamilies };

  RocksDbStore(std::string path, rocksdb::DB* db,
               const std::vector<rocksdb::ColumnFamilyHandle*>& handles);

  // Every instance record under `it` (positioned anywhere), decoded in
  // parallel chunks, in key order.
  absl::StatusOr<std::vector<std::shared_ptr<const Instance>>> LoadInstances(
      rocksdb::Iterator& it) const;
  // Reads and checks the meta keys; writes them into an empty database.
  absl::Status ReadOrCreateMeta();
  // One meta counter (keys.h) as of `options`.
  absl::StatusOr<uint64_t> ReadCounter(const rocksdb::ReadOptions& options,
                                       const char* key) const;
  // Writes `batch` with sync=true. After a failed write RocksDB may refuse
  // writes until resumed, so the next call resumes it first.
  absl::Status WriteSynced(rocksdb::WriteBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Constant after construction.
  const std::string path_;
  const std::unique_ptr<rocksdb::DB> db_;
  const std::array<rocksdb::ColumnFamilyHandle*, kNumFamilies> handles_;

  // Serializes Commit and Compact: each checks the counters, writes one
  // synced batch and then advances them.
  absl::Mutex write_mu_;
  bool needs_resume_ ABSL_GUARDED_BY(write_mu_) = false;
  // Written under write_mu_ after a successful write; read anywhere.
  std::atomic<uint64_t> revision_;
  std::atomic<uint64_t> oldest_retained_;
};

}  // namespace muster::registry
