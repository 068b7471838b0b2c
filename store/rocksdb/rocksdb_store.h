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
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace muster::registry {

// RocksDbStore is the durable Store: one RocksDB database per data dir,
// laid out as keys.h describes; every commit is one synced WriteBatch.
// After a failed write it refuses writes until Reopen closes the
// database and opens it again; reads keep working meanwhile from a
// read-only instance when one can be opened. Thread-safe. The only user
// of <rocksdb/...> in the project.
class RocksDbStore final : public Store {
 public:
  struct Options {
    // The data directory; RocksDB's files live directly inside it.
    std::string path;
    // Create the directory and an empty store when none is there.
    bool create_if_missing = true;
    // When an existing store cannot be opened for writing because its
    // file system is full or read-only, open it read-only instead: reads
    // work, Writable() is false, and Reopen tries the read-write open
    // again.
    bool read_only_fallback = true;
  };

  // Opens (or creates) the store at options.path. Errors name the path:
  // FAILED_PRECONDITION when another process holds the data dir's lock,
  // when there is no store and create_if_missing is false, when the dir
  // is unreadable, holds something else or a format version this build
  // does not know, or cannot be written (full or read-only) and there is
  // no store to fall back on; DATA_LOSS when RocksDB or the meta keys are
  // corrupt; INVALID_ARGUMENT for an empty path.
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
  // UNAVAILABLE without touching RocksDB while !Writable().
  absl::Status Commit(const CommitBatch& batch) override;
  absl::StatusOr<std::vector<Event>> ReadChangeLog(uint64_t from, uint64_t to,
                                                   size_t limit) override;
  absl::Status Compact(uint64_t oldest_to_keep) override;
  uint64_t OldestRetainedRevision() const override;
  absl::StatusOr<std::vector<Realm>> LoadRealms() override;
  absl::StatusOr<std::vector<Token>> LoadTokens() override;
  bool Writable() const override { return writable_.load(); }
  absl::StatusOr<uint64_t> Reopen() override;

  // Test hook: overwrites the stored format version (synced), so tests
  // can check that Open refuses an unknown one.
  absl::Status TEST_WriteFormatVersion(uint64_t version);

 private:
  enum Family { kDefault = 0, kRealms, kInstances, kChangelog, kNumFamilies };
  // One open RocksDB instance (read-write or read-only) and its column
  // family handles; closes the database when destroyed.
  struct Db;
  // Holds the data dir's lock while no read-write instance does (see
  // rocksdb_store.cc).
  class DirLock;

  RocksDbStore(std::string path, std::unique_ptr<Db> db);

  // Opens the database at `path`; `create` only for a read-write open.
  static rocksdb::Status OpenDb(const std::string& path, bool read_only,
                                bool create, std::unique_ptr<Db>* db);
  // Every instance record under `it` (positioned anywhere), decoded in
  // parallel chunks, in key order.
  absl::StatusOr<std::vector<std::shared_ptr<const Instance>>> LoadInstances(
      rocksdb::Iterator& it) const;
  // Reads and checks the meta keys into revision_ and oldest_retained_;
  // writes them into an empty read-write database.
  absl::Status ReadOrCreateMeta() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Checks the stored format `version` and reads the revision counters.
  absl::Status ReadMeta(const Db& db, const std::string& version,
                        uint64_t* revision, uint64_t* oldest) const;
  // One meta counter (keys.h) as of `options`.
  absl::StatusOr<uint64_t> ReadCounter(const Db& db,
                                       const rocksdb::ReadOptions& options,
                                       const char* key) const;
  absl::StatusOr<std::vector<Realm>> ReadRealms(
      const Db& db, const rocksdb::ReadOptions& options) const;
  // The token records (keys.h: kTokenKeyPrefix in the default family).
  absl::StatusOr<std::vector<Token>> ReadTokens(
      const Db& db, const rocksdb::ReadOptions& options) const;
  // Writes `batch` with sync=true to the read-write instance. After a
  // failed write the store is not writable until Reopen (see the .cc).
  absl::Status WriteSynced(rocksdb::WriteBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
          ABSL_SHARED_LOCKS_REQUIRED(db_mu_);
  // UNAVAILABLE naming why the store cannot write now.
  absl::Status NotWritable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // UNAVAILABLE for a read while no instance is open.
  absl::Status Closed() const;

  // Constant after construction.
  const std::string path_;

  // Serializes Commit, Compact and Reopen: each checks the counters,
  // writes one synced batch (or swaps the database) and then advances
  // them. Taken before db_mu_.
  absl::Mutex write_mu_;
  // Why the store cannot write (OK while it can).
  absl::Status write_error_ ABSL_GUARDED_BY(write_mu_);
  // Held while the store has no read-write instance.
  std::unique_ptr<DirLock> dir_lock_ ABSL_GUARDED_BY(write_mu_);

  // Readers hold it shared while they use db_; Reopen swaps db_ under it.
  mutable absl::Mutex db_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  // Null while a failed instance is closed and no read-only one opened.
  std::unique_ptr<Db> db_ ABSL_GUARDED_BY(db_mu_);

  // Written under write_mu_; read anywhere.
  std::atomic<bool> writable_{false};
  std::atomic<uint64_t> revision_{0};
  std::atomic<uint64_t> oldest_retained_{1};
};

}  // namespace muster::registry
