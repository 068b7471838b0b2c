#include "store/rocksdb/rocksdb_store.h"

#include <fcntl.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "store/layout/keys.h"

namespace muster::registry {
namespace {

// Open errors say what is wrong with which directory; retrying does not
// help until an operator acts, hence FAILED_PRECONDITION (or DATA_LOSS).
absl::Status OpenError(const std::string& path, const rocksdb::Status& s) {
  const std::string cause = s.ToString();
  if (absl::StrContains(cause, "Read-only file system")) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "data dir \"%s\" is on a read-only file system: %s", path, cause));
  }
  // RocksDB takes an fcntl lock on <dir>/LOCK; a holder in another process
  // (or this one) makes the lock call fail with an I/O error naming it.
  if (s.IsIOError() && absl::StrContains(cause, "/LOCK")) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "data dir \"%s\" is in use by another musterd (lock file %s/LOCK "
        "held): %s",
        path, path, cause));
  }
  if (s.IsCorruption()) {
    return absl::DataLossError(
        absl::StrFormat("data dir \"%s\" is corrupt: %s", path, cause));
  }
  return absl::FailedPreconditionError(
      absl::StrFormat("cannot open data dir \"%s\": %s", path, cause));
}

absl::Status ReadError(const std::string& path, const rocksdb::Status& s) {
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrFormat(
        "data dir \"%s\": corrupt data: %s", path, s.ToString()));
  }
  return absl::UnavailableError(
      absl::StrFormat("data dir \"%s\": read failed: %s", path, s.ToString()));
}

// The file system takes no writes now (full, over quota or read-only):
// the condition a read-only open and a later reopen can wait out.
bool NoRoomToWrite(const rocksdb::Status& s) {
  if (s.IsNoSpace()) return true;
  const std::string cause = s.ToString();
  return absl::StrContains(cause, "No space left on device") ||
         absl::StrContains(cause, "Disk quota exceeded") ||
         absl::StrContains(cause, "Read-only file system");
}

absl::Status WriteError(const std::string& path, const rocksdb::Status& s) {
  return absl::UnavailableError(
      absl::StrFormat("data dir \"%s\": write failed: %s", path, s.ToString()));
}

// A record that keys.h cannot decode: the data on disk is damaged.
absl::Status DataLoss(const std::string& path, const absl::Status& s) {
  return absl::DataLossError(
      absl::StrFormat("data dir \"%s\": %s", path, s.message()));
}

// RocksDB's info log goes to musterd's log, warnings and errors only. By
// default RocksDB writes it to a LOG file in the data dir through a
// WritableFileWriter, and on a full disk that is what aborts the
// process: a log line that fails leaves the writer's error set, and the
// next line (RocksDB logs every background error) trips the assertion
// in WritableFileWriter::AssertFalseAndGetStatusForPrevError(). Thread-safe.
class InfoLogger final : public rocksdb::Logger {
 public:
  InfoLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
      MUSTER_LOG(kError, "rocksdb: %s", line);
    } else {
      MUSTER_LOG(kWarning, "rocksdb: %s", line);
    }
  }
};

rocksdb::DBOptions MakeDbOptions() {
  rocksdb::DBOptions options;
  // The data set is small; two background threads (one flush, one
  // compaction) are plenty and leave the cores to the checker.
  options.max_background_jobs = 2;
  // A rarely written column family (realms) would otherwise pin old WAL
  // files forever; past this total RocksDB flushes it so they can go.
  options.max_total_wal_size = 64 << 20;
  // No info LOG file in the data dir (see InfoLogger).
  options.info_log = std::make_shared<InfoLogger>();
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Durability relies on defaults kept here: the WAL is on, checksums are
  // verified (paranoid_checks), and kPointInTimeRecovery drops only a torn
  // tail record after kill -9, never a synced one.
  options.create_missing_column_families = true;
  return options;
}

rocksdb::ColumnFamilyOptions MakeColumnFamilyOptions(
    const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions options;
  // Metadata is small: 4 MiB memtables keep memory and WAL replay short;
  // file and level sizes scaled to match (the defaults assume 64 MiB).
  options.write_buffer_size = 4 << 20;
  options.target_file_size_base = 4 << 20;
  options.max_bytes_for_level_base = 32 << 20;
  rocksdb::BlockBasedTableOptions table;
  // Reads are a start-up scan and change-log range scans, never lookups of
  // absent keys, so no bloom filter. One small cache for all families.
  table.block_cache = cache;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

// A WriteBatch that keeps the first error of its calls (they fail only
// for oversized entries).
class Batch {
 public:
  void Put(rocksdb::ColumnFamilyHandle* family, const rocksdb::Slice& key,
           const rocksdb::Slice& value) {
    Keep(batch_.Put(family, key, value));
  }
  void Delete(rocksdb::ColumnFamilyHandle* family, const rocksdb::Slice& key) {
    Keep(batch_.Delete(family, key));
  }
  void DeleteRange(rocksdb::ColumnFamilyHandle* family,
                   const rocksdb::Slice& begin, const rocksdb::Slice& end) {
    Keep(batch_.DeleteRange(family, begin, end));
  }
  const rocksdb::Status& status() const { return status_; }
  rocksdb::WriteBatch& batch() { return batch_; }

 private:
  void Keep(rocksdb::Status s) {
    if (status_.ok()) status_ = std::move(s);
  }
  rocksdb::WriteBatch batch_;
  rocksdb::Status status_;
};

absl::string_view KeyOf(const rocksdb::Iterator& it) {
  return absl::string_view(it.key().data(), it.key().size());
}

absl::string_view ValueOf(const rocksdb::Iterator& it) {
  return absl::string_view(it.value().data(), it.value().size());
}

rocksdb::ReadOptions AtSnapshot(rocksdb::ManagedSnapshot& snapshot) {
  rocksdb::ReadOptions options;
  options.snapshot = snapshot.snapshot();
  return options;
}

absl::Status InUse(const std::string& path, const std::string& cause) {
  return absl::FailedPreconditionError(absl::StrFormat(
      "data dir \"%s\" is in use by another musterd (lock file %s/LOCK "
      "held): %s",
      path, path, cause));
}

}  // namespace

struct RocksDbStore::Db {
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() {
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      if (handle != nullptr)
        db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    // Close() can only report errors of background work; every
    // acknowledged commit is already in the synced WAL, so there is
    // nothing to act on. Close is also the one call RocksDB allows on an
    // instance whose WAL writer saw an error (see WriteSynced).
    db->Close().PermitUncheckedError();
  }

  std::unique_ptr<rocksdb::DB> db;
  std::array<rocksdb::ColumnFamilyHandle*, kNumFamilies> handles{};
  bool read_only = false;
};

// RocksDB's lock on the data dir is an fcntl write lock on <dir>/LOCK that
// only a read-write open takes, and that a close (or a failed open)
// drops. While the store has no read-write instance (it is open
// read-only, or between reopen attempts) this lock stands in for it, so a
// second musterd still sees the dir in use. It is an open file
// description (OFD) lock: it conflicts with RocksDB's lock in other
// processes and in this one, so it is released right before each
// read-write open and taken again when that fails. On a read-only file
// system the file opens only for reading and the lock can only be shared,
// which still detects a musterd holding RocksDB's lock.
class RocksDbStore::DirLock {
 public:
  static absl::StatusOr<std::unique_ptr<DirLock>> Acquire(
      const std::string& dir) {
    const std::string file = dir + "/LOCK";
    short type = F_WRLCK;
    int fd = open(file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && (errno == EROFS || errno == EACCES)) {
      type = F_RDLCK;
      fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
      // No lock file: no musterd ever opened this dir for writing, and
      // none can without creating it (which RocksDB's lock then guards).
      if (errno == ENOENT) return std::unique_ptr<DirLock>(new DirLock(-1));
      return absl::FailedPreconditionError(absl::StrFormat(
          "cannot open lock file %s: %s", file, std::strerror(errno)));
    }
    struct flock lock = {};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_SETLK, &lock) != 0) {
      const int error = errno;
      close(fd);
      if (error == EAGAIN || error == EACCES) {
        return InUse(dir, "the lock is taken");
      }
      return absl::FailedPreconditionError(
          absl::StrFormat("cannot lock %s: %s", file, std::strerror(error)));
    }
    return std::unique_ptr<DirLock>(new DirLock(fd));
  }
  ~DirLock() {
    if (fd_ >= 0) close(fd_);
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  const int fd_;
};

rocksdb::Status RocksDbStore::OpenDb(const std::string& path, bool read_only,
                                     bool create, std::unique_ptr<Db>* db) {
  rocksdb::DBOptions db_options = MakeDbOptions();
  db_options.create_if_missing = create && !read_only;
  const std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(8 << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : keys::kColumnFamilies) {
    descriptors.emplace_back(name, MakeColumnFamilyOptions(cache));
  }
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s =
      read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, path, descriptors,
                                         &handles, &raw)
          : rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) return s;
  auto opened = std::make_unique<Db>();
  opened->db.reset(raw);
  for (size_t i = 0; i < handles.size() && i < kNumFamilies; ++i) {
    opened->handles[i] = handles[i];
  }
  opened->read_only = read_only;
  *db = std::move(opened);
  return rocksdb::Status::OK();
}

absl::StatusOr<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(
    const Options& options) {
  const std::string& path = options.path;
  if (path.empty()) {
    return absl::InvalidArgumentError("data dir path is empty");
  }
  std::error_code error;
  const bool exists =
      std::filesystem::exists(std::filesystem::path(path) / "CURRENT", error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot access data dir \"%s\": %s", path, error.message()));
  }
  if (exists) {
    // Every column family must be opened; one this build does not know
    // means a newer format (or not our database).
    std::vector<std::string> families;
    rocksdb::Status s =
        rocksdb::DB::ListColumnFamilies(MakeDbOptions(), path, &families);
    if (!s.ok()) return OpenError(path, s);
    for (const std::string& family : families) {
      if (std::find(keys::kColumnFamilies.begin(), keys::kColumnFamilies.end(),
                    family) == keys::kColumnFamilies.end()) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "data dir \"%s\" has unknown column family \"%s\" (written by a "
            "newer musterd?)",
            path, family));
      }
    }
  } else {
    if (!options.create_if_missing) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data dir \"%s\" holds no store and create_if_missing is off", path));
    }
    std::filesystem::create_directories(path, error);
    if (error) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "cannot create data dir \"%s\": %s", path, error.message()));
    }
  }

  std::unique_ptr<Db> db;
  rocksdb::Status s = OpenDb(path, /*read_only=*/false, !exists, &db);
  if (s.ok()) {
    // From here the store owns the database; an error below closes it.
    std::unique_ptr<RocksDbStore> store(new RocksDbStore(path, std::move(db)));
    absl::MutexLock lock(&store->write_mu_);
    store->writable_.store(true);
    RETURN_IF_ERROR(store->ReadOrCreateMeta());
    return store;
  }
  // A store on a full or read-only file system: RocksDB cannot replay its
  // WAL into new files or write a new MANIFEST, but a read-only instance
  // replays it in memory. Serve reads from that, refuse writes, and let
  // Reopen try again. A held lock, corruption or anything else still stops
  // the start-up (a full disk does not hide a held lock: RocksDB takes
  // the lock before it writes anything).
  if (!options.read_only_fallback || !exists || !NoRoomToWrite(s)) {
    return OpenError(path, s);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<DirLock> dir_lock, DirLock::Acquire(path));
  std::unique_ptr<Db> read_only;
  rocksdb::Status r = OpenDb(path, /*read_only=*/true, false, &read_only);
  if (!r.ok()) return OpenError(path, r);
  std::unique_ptr<RocksDbStore> store(
      new RocksDbStore(path, std::move(read_only)));
  absl::MutexLock lock(&store->write_mu_);
  store->dir_lock_ = std::move(dir_lock);
  store->write_error_ = absl::UnavailableError(absl::StrFormat(
      "data dir \"%s\" cannot be written (opened read-only): %s", path,
      s.ToString()));
  RETURN_IF_ERROR(store->ReadOrCreateMeta());
  MUSTER_LOG(kWarning,
             "data dir \"%s\" cannot be written (%s): opened read-only; reads "
             "work, writes answer UNAVAILABLE until it can be reopened",
             path, s.ToString());
  return store;
}

RocksDbStore::RocksDbStore(std::string path, std::unique_ptr<Db> db)
    : path_(std::move(path)), db_(std::move(db)) {}

// Members close the database (Db's destructor) and drop the dir lock.
RocksDbStore::~RocksDbStore() = default;

absl::Status RocksDbStore::ReadOrCreateMeta() {
  const rocksdb::ReadOptions read_options;
  absl::ReaderMutexLock lock(&db_mu_);
  const Db& db = *db_;
  std::string value;
  rocksdb::Status s = db.db->Get(read_options, db.handles[kDefault],
                                 keys::kFormatVersionKey, &value);
  if (s.IsNotFound()) {
    // A new database (or one whose first open died before this point)
    // gets the meta keys; anything else without them is not ours.
    for (rocksdb::ColumnFamilyHandle* handle : db.handles) {
      std::unique_ptr<rocksdb::Iterator> it(
          db.db->NewIterator(read_options, handle));
      it->SeekToFirst();
      if (!it->status().ok()) return ReadError(path_, it->status());
      if (it->Valid()) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "data dir \"%s\" is not a muster store (no format version)",
            path_));
      }
    }
    if (db.read_only) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data dir \"%s\" holds no store meta and cannot be written", path_));
    }
    Batch batch;
    batch.Put(db.handles[kDefault], keys::kFormatVersionKey,
              keys::EncodeUint64(keys::kFormatVersion));
    batch.Put(db.handles[kDefault], keys::kRevisionKey, keys::EncodeUint64(0));
    batch.Put(db.handles[kDefault], keys::kOldestRetainedKey,
              keys::EncodeUint64(1));
    if (!batch.status().ok()) return WriteError(path_, batch.status());
    return WriteSynced(batch.batch());
  }
  if (!s.ok()) return ReadError(path_, s);
  uint64_t revision = 0;
  uint64_t oldest = 0;
  RETURN_IF_ERROR(ReadMeta(db, value, &revision, &oldest));
  revision_.store(revision);
  oldest_retained_.store(oldest);
  return absl::OkStatus();
}

absl::Status RocksDbStore::ReadMeta(const Db& db, const std::string& version,
                                    uint64_t* revision,
                                    uint64_t* oldest) const {
  absl::StatusOr<uint64_t> decoded = keys::DecodeUint64(version);
  if (!decoded.ok()) return DataLoss(path_, decoded.status());
  if (*decoded != keys::kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "data dir \"%s\" has store format version %d; this musterd reads "
        "only version %d",
        path_, *decoded, keys::kFormatVersion));
  }
  const rocksdb::ReadOptions read_options;
  ASSIGN_OR_RETURN(*revision,
                   ReadCounter(db, read_options, keys::kRevisionKey));
  ASSIGN_OR_RETURN(*oldest,
                   ReadCounter(db, read_options, keys::kOldestRetainedKey));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> RocksDbStore::ReadCounter(
    const Db& db, const rocksdb::ReadOptions& options, const char* key) const {
  std::string value;
  rocksdb::Status s = db.db->Get(options, db.handles[kDefault], key, &value);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrFormat(
        "data dir \"%s\": meta key \"%s\" is missing", path_, key));
  }
  if (!s.ok()) return ReadError(path_, s);
  absl::StatusOr<uint64_t> decoded = keys::DecodeUint64(value);
  if (!decoded.ok()) return DataLoss(path_, decoded.status());
  return *decoded;
}

absl::Status RocksDbStore::Closed() const {
  return absl::UnavailableError(absl::StrFormat(
      "data dir \"%s\": the store is closed while it recovers from a write "
      "error",
      path_));
}

absl::StatusOr<StoredState> RocksDbStore::Load() {
  absl::ReaderMutexLock lock(&db_mu_);
  if (db_ == nullptr) return Closed();
  const Db& db = *db_;
  rocksdb::ManagedSnapshot snapshot(db.db.get());
  const rocksdb::ReadOptions read_options = AtSnapshot(snapshot);
  StoredState state;
  ASSIGN_OR_RETURN(state.revision,
                   ReadCounter(db, read_options, keys::kRevisionKey));
  ASSIGN_OR_RETURN(state.oldest_retained_revision,
                   ReadCounter(db, read_options, keys::kOldestRetainedKey));
  if (state.oldest_retained_revision == 0 ||
      state.oldest_retained_revision > state.revision + 1) {
    return absl::DataLossError(absl::StrFormat(
        "data dir \"%s\": oldest retained revision %d does not fit revision %d",
        path_, state.oldest_retained_revision, state.revision));
  }
  ASSIGN_OR_RETURN(state.realms, ReadRealms(db, read_options));
  std::unique_ptr<rocksdb::Iterator> it(
      db.db->NewIterator(read_options, db.handles[kInstances]));
  ASSIGN_OR_RETURN(state.instances, LoadInstances(*it));
  ASSIGN_OR_RETURN(state.tokens, ReadTokens(db, read_options));
  return state;
}

absl::StatusOr<std::vector<Realm>> RocksDbStore::LoadRealms() {
  absl::ReaderMutexLock lock(&db_mu_);
  if (db_ == nullptr) return Closed();
  return ReadRealms(*db_, rocksdb::ReadOptions());
}

absl::StatusOr<std::vector<Token>> RocksDbStore::LoadTokens() {
  absl::ReaderMutexLock lock(&db_mu_);
  if (db_ == nullptr) return Closed();
  return ReadTokens(*db_, rocksdb::ReadOptions());
}

absl::StatusOr<std::vector<Token>> RocksDbStore::ReadTokens(
    const Db& db, const rocksdb::ReadOptions& options) const {
  std::vector<Token> tokens;
  std::unique_ptr<rocksdb::Iterator> it(
      db.db->NewIterator(options, db.handles[kDefault]));
  for (it->Seek(keys::kTokenKeyPrefix);
       it->Valid() && absl::StartsWith(KeyOf(*it), keys::kTokenKeyPrefix);
       it->Next()) {
    absl::StatusOr<Token> token =
        keys::DecodeTokenRecord(KeyOf(*it), ValueOf(*it));
    if (!token.ok()) return DataLoss(path_, token.status());
    tokens.push_back(*std::move(token));
  }
  if (!it->status().ok()) return ReadError(path_, it->status());
  return tokens;
}

absl::StatusOr<std::vector<Realm>> RocksDbStore::ReadRealms(
    const Db& db, const rocksdb::ReadOptions& options) const {
  std::vector<Realm> realms;
  std::unique_ptr<rocksdb::Iterator> it(
      db.db->NewIterator(options, db.handles[kRealms]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<Realm> realm =
        keys::DecodeRealmRecord(KeyOf(*it), ValueOf(*it));
    if (!realm.ok()) return DataLoss(path_, realm.status());
    realms.push_back(*std::move(realm));
  }
  if (!it->status().ok()) return ReadError(path_, it->status());
  return realms;
}

absl::StatusOr<std::vector<std::shared_ptr<const Instance>>>
RocksDbStore::LoadInstances(rocksdb::Iterator& it) const {
  // Decoding (protobuf parse and conversion) costs several times the
  // read: with a million instances it decided the start-up time. This
  // thread reads chunks of records in key order and hands each to a
  // decoding task, at most one per core at a time; the chunks' results
  // are joined in order. The instances' final allocations happen here,
  // on this thread: glibc grows a secondary thread's arena one page (one
  // mprotect call) at a time, which cost more than the decoding saved.
  struct Chunk {
    // The records' keys and values back to back in `bytes` (one
    // allocation, not two per record), as (key size, value size).
    std::string bytes;
    std::vector<std::pair<size_t, size_t>> records;
    std::vector<Instance> instances;
    absl::Status status;
  };
  constexpr size_t kChunkRecords = 4096;
  const size_t max_decoding =
      std::max<size_t>(1, std::thread::hardware_concurrency());
  auto decode = [](Chunk& chunk) {
    chunk.instances.reserve(chunk.records.size());
    absl::string_view rest = chunk.bytes;
    for (const auto& [key_size, value_size] : chunk.records) {
      const absl::string_view key = rest.substr(0, key_size);
      const absl::string_view value = rest.substr(key_size, value_size);
      rest.remove_prefix(key_size + value_size);
      absl::StatusOr<Instance> instance =
          keys::DecodeInstanceRecord(key, value);
      if (!instance.ok()) {
        chunk.status = instance.status();
        return;
      }
      chunk.instances.push_back(*std::move(instance));
    }
  };

  std::vector<std::shared_ptr<const Instance>> instances;
  absl::Status first_error;
  std::deque<std::pair<std::unique_ptr<Chunk>, std::future<void>>> decoding;
  // Waits for the oldest chunk and appends its instances.
  auto join_oldest = [&] {
    auto& [chunk, done] = decoding.front();
    done.wait();
    if (!chunk->status.ok() && first_error.ok()) first_error = chunk->status;
    for (Instance& instance : chunk->instances)
      instances.push_back(
          std::make_shared<const Instance>(std::move(instance)));
    decoding.pop_front();
  };
  auto chunk = std::make_unique<Chunk>();
  auto dispatch = [&] {
    if (chunk->records.empty()) return;
    if (decoding.size() >= max_decoding) join_oldest();
    Chunk* raw = chunk.get();
    std::future<void> done =
        std::async(std::launch::async, [raw, &decode] { decode(*raw); });
    decoding.emplace_back(std::move(chunk), std::move(done));
    chunk = std::make_unique<Chunk>();
  };
  for (it.SeekToFirst(); it.Valid(); it.Next()) {
    const absl::string_view key = KeyOf(it);
    const absl::string_view value = ValueOf(it);
    chunk->bytes.append(key.data(), key.size());
    chunk->bytes.append(value.data(), value.size());
    chunk->records.emplace_back(key.size(), value.size());
    if (chunk->records.size() == kChunkRecords) dispatch();
  }
  dispatch();
  while (!decoding.empty()) join_oldest();
  if (!it.status().ok()) return ReadError(path_, it.status());
  if (!first_error.ok()) return DataLoss(path_, first_error);
  return instances;
}

// After a failed write, RocksDB 7.8 (which Debian builds with its
// assertions on) must see no further write on the same instance. (Its
// info LOG file was the first victim on a full disk; it no longer goes
// to the data dir, see InfoLogger.) The WAL's WritableFileWriter remembers the
// error (seen_error_); any later Append, Flush, Sync or SyncWithoutFlush on it
// goes to AssertFalseAndGetStatusForPrevError(), whose
// assert(sync_without_flush_called_) aborts the process
// (file/writable_file_writer.cc). DB::Write, FlushWAL, SyncWAL and
// Flush reach that writer; so does Resume() (DBImpl::ResumeImpl flushes
// the memtables, and SwitchMemtable/SyncClosedLogs clear the error and
// write the buffer again, which may hold the failed batch's record), and
// a background flush that syncs the closed WALs. RocksDB's own recovery
// on ENOSPC runs in the background too. Close() is safe: it closes a
// writer that saw an error without writing (log::Writer::WriteBuffer
// checks seen_error first). So the store never retries on the instance
// that failed: it stops writing until Reopen closes it and opens the data
// dir again, which replays the WAL from disk, the only state that can be
// trusted after a failed sync.
absl::Status RocksDbStore::WriteSynced(rocksdb::WriteBatch& batch) {
  if (!writable_.load()) return NotWritable();
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  rocksdb::Status s = db_->db->Write(write_options, &batch);
  if (!s.ok()) {
    writable_.store(false);
    write_error_ = WriteError(path_, s);
    return write_error_;
  }
  return absl::OkStatus();
}

absl::Status RocksDbStore::NotWritable() const {
  if (!write_error_.ok()) return write_error_;
  return absl::UnavailableError(
      absl::StrFormat("data dir \"%s\": the store cannot write", path_));
}

absl::StatusOr<uint64_t> RocksDbStore::Reopen() {
  absl::MutexLock lock(&write_mu_);
  if (writable_.load()) return revision_.load();
  // The instance that failed a write is closed first: it must not write
  // again (see WriteSynced), and its lock must go before a new open.
  std::unique_ptr<Db> failed;
  {
    absl::WriterMutexLock db_lock(&db_mu_);
    if (db_ != nullptr && !db_->read_only) failed = std::move(db_);
  }
  failed.reset();
  dir_lock_.reset();

  absl::Status error;
  std::unique_ptr<Db> fresh;
  rocksdb::Status s = OpenDb(path_, /*read_only=*/false, false, &fresh);
  if (s.ok()) {
    std::string version;
    uint64_t revision = 0;
    uint64_t oldest = 0;
    rocksdb::Status got =
        fresh->db->Get(rocksdb::ReadOptions(), fresh->handles[kDefault],
                       keys::kFormatVersionKey, &version);
    error = got.ok() ? ReadMeta(*fresh, version, &revision, &oldest)
                     : ReadError(path_, got);
    if (error.ok()) {
      std::unique_ptr<Db> previous;
      {
        absl::WriterMutexLock db_lock(&db_mu_);
        previous = std::move(db_);
        db_ = std::move(fresh);
      }
      previous.reset();
      revision_.store(revision);
      oldest_retained_.store(oldest);
      write_error_ = absl::OkStatus();
      writable_.store(true);
      return revision;
    }
    fresh.reset();
  } else if (NoRoomToWrite(s)) {
    error = absl::UnavailableError(absl::StrFormat(
        "data dir \"%s\" cannot be written: %s", path_, s.ToString()));
  } else {
    error = OpenError(path_, s);
  }

  // Still no writable store: hold the dir and keep a read-only instance
  // for reads.
  absl::StatusOr<std::unique_ptr<DirLock>> dir_lock = DirLock::Acquire(path_);
  if (dir_lock.ok()) {
    dir_lock_ = *std::move(dir_lock);
  } else {
    error = dir_lock.status();
  }
  bool open = false;
  {
    absl::ReaderMutexLock db_lock(&db_mu_);
    open = db_ != nullptr;
  }
  if (!open) {
    std::unique_ptr<Db> read_only;
    if (OpenDb(path_, /*read_only=*/true, false, &read_only).ok()) {
      absl::WriterMutexLock db_lock(&db_mu_);
      db_ = std::move(read_only);
    }
  }
  write_error_ = absl::UnavailableError(error.message());
  return write_error_;
}

absl::Status RocksDbStore::Commit(const CommitBatch& batch) {
  absl::MutexLock lock(&write_mu_);
  if (!writable_.load()) return NotWritable();
  absl::ReaderMutexLock db_lock(&db_mu_);
  const auto& handles = db_->handles;
  RETURN_IF_ERROR(keys::CheckCommitBatch(batch, revision_.load()));
  Batch write;
  // Deletes before puts: a key in both ends up put.
  for (const std::string& name : batch.delete_realms) {
    ASSIGN_OR_RETURN(const std::string key, keys::EncodeRealmKey(name));
    write.Delete(handles[kRealms], key);
  }
  for (const InstanceKey& instance_key : batch.delete_instances) {
    ASSIGN_OR_RETURN(const std::string key,
                     keys::EncodeInstanceKey(instance_key));
    write.Delete(handles[kInstances], key);
  }
  for (const Realm& realm : batch.put_realms) {
    ASSIGN_OR_RETURN(const std::string key, keys::EncodeRealmKey(realm.name));
    write.Put(handles[kRealms], key, keys::EncodeRealmValue(realm));
  }
  for (const Instance& instance : batch.put_instances) {
    ASSIGN_OR_RETURN(const std::string key,
                     keys::EncodeInstanceKey(instance.Key()));
    write.Put(handles[kInstances], key, keys::EncodeInstanceValue(instance));
  }
  for (const Token& token : batch.put_tokens) {
    ASSIGN_OR_RETURN(const std::string key, keys::EncodeTokenKey(token.name));
    write.Put(handles[kDefault], key, keys::EncodeTokenValue(token));
  }
  uint32_t sequence = 0;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const Event& event = batch.events[i];
    const bool same_revision =
        i > 0 && batch.events[i - 1].revision == event.revision;
    sequence = same_revision ? sequence + 1 : 0;
    write.Put(handles[kChangelog],
              keys::EncodeChangelogKey(event.revision, sequence),
              keys::EncodeEventValue(event));
  }
  write.Put(handles[kDefault], keys::kRevisionKey,
            keys::EncodeUint64(batch.revision));
  if (!write.status().ok()) return WriteError(path_, write.status());
  RETURN_IF_ERROR(WriteSynced(write.batch()));
  revision_.store(batch.revision);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Event>> RocksDbStore::ReadChangeLog(uint64_t from,
                                                               uint64_t to,
                                                               size_t limit) {
  // The watermark and the log are read from one snapshot, so a concurrent
  // Compact can never open a silent gap in the answer.
  absl::ReaderMutexLock db_lock(&db_mu_);
  if (db_ == nullptr) return Closed();
  const Db& db = *db_;
  rocksdb::ManagedSnapshot snapshot(db.db.get());
  rocksdb::ReadOptions read_options = AtSnapshot(snapshot);
  ASSIGN_OR_RETURN(const uint64_t oldest,
                   ReadCounter(db, read_options, keys::kOldestRetainedKey));
  if (from < oldest) {
    return absl::OutOfRangeError(absl::StrFormat(
        "revision %d is compacted: the oldest retained revision is %d", from,
        oldest));
  }
  std::vector<Event> events;
  if (to < from) return events;
  std::string upper;
  rocksdb::Slice upper_slice;
  if (to < std::numeric_limits<uint64_t>::max()) {
    upper = keys::EncodeChangelogKey(to + 1, 0);
    upper_slice = upper;
    read_options.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db.db->NewIterator(read_options, db.handles[kChangelog]));
  for (it->Seek(keys::EncodeChangelogKey(from, 0)); it->Valid(); it->Next()) {
    absl::StatusOr<keys::ChangelogPosition> position =
        keys::DecodeChangelogKey(KeyOf(*it));
    if (!position.ok()) return DataLoss(path_, position.status());
    // Past the limit, finish the last revision only.
    if (events.size() >= limit &&
        (events.empty() || position->revision != events.back().revision)) {
      break;
    }
    absl::StatusOr<Event> event =
        keys::DecodeChangelogRecord(KeyOf(*it), ValueOf(*it));
    if (!event.ok()) return DataLoss(path_, event.status());
    events.push_back(*std::move(event));
  }
  if (!it->status().ok()) return ReadError(path_, it->status());
  return events;
}

absl::Status RocksDbStore::Compact(uint64_t oldest_to_keep) {
  absl::MutexLock lock(&write_mu_);
  if (!writable_.load()) return NotWritable();
  absl::ReaderMutexLock db_lock(&db_mu_);
  const auto& handles = db_->handles;
  const uint64_t oldest = oldest_retained_.load();
  const uint64_t target = std::min(oldest_to_keep, revision_.load() + 1);
  if (target <= oldest) return absl::OkStatus();
  Batch write;
  write.DeleteRange(handles[kChangelog], keys::EncodeChangelogKey(oldest, 0),
                    keys::EncodeChangelogKey(target, 0));
  write.Put(handles[kDefault], keys::kOldestRetainedKey,
            keys::EncodeUint64(target));
  if (!write.status().ok()) return WriteError(path_, write.status());
  RETURN_IF_ERROR(WriteSynced(write.batch()));
  oldest_retained_.store(target);
  return absl::OkStatus();
}

uint64_t RocksDbStore::OldestRetainedRevision() const {
  return oldest_retained_.load();
}

absl::Status RocksDbStore::TEST_WriteFormatVersion(uint64_t version) {
  absl::MutexLock lock(&write_mu_);
  if (!writable_.load()) return NotWritable();
  absl::ReaderMutexLock db_lock(&db_mu_);
  const auto& handles = db_->handles;
  Batch write;
  write.Put(handles[kDefault], keys::kFormatVersionKey,
            keys::EncodeUint64(version));
  return WriteSynced(write.batch());
}

}  // namespace muster::registry
