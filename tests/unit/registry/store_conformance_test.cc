// One suite for every Store: MemoryStore and RocksDbStore must agree.
// RocksDB-only cases (reopen, locking, corruption) follow at the end.

#include <fcntl.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "codec/model_proto.h"
#include "google/protobuf/util/message_differencer.h"
#include "registry/store.h"
#include "store/layout/keys.h"
#include "store/memory/memory_store.h"
#include "store/rocksdb/rocksdb_store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/registry/store_factories.h"

namespace muster::registry {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

#define REQUIRE_OK(expr)            \
  do {                              \
    const absl::Status s_ = (expr); \
    INFO(s_.ToString());            \
    REQUIRE(s_.ok());               \
  } while (0)

Instance MakeInstance(const std::string& realm, const std::string& service,
                      const std::string& id, uint64_t revision) {
  Instance instance;
  instance.realm = realm;
  instance.service = service;
  instance.id = id;
  instance.address = "10.0.0." + std::to_string(revision % 250 + 1);
  instance.port = 8080;
  instance.tags = {"a", "b"};
  instance.metadata = {{"k", "v"}};
  instance.zone = "z1";
  instance.mutable_check()->kind = CheckKind::kTtl;
  instance.mutable_check()->ttl = absl::Seconds(30);
  instance.mutable_check()->deregister_after = absl::Minutes(10);
  instance.health = Health::kPassing;
  instance.set_check_output("ok");
  instance.registered_at = absl::FromUnixNanos(1700000000000000001);
  instance.create_revision = revision;
  instance.modify_revision = revision;
  return instance;
}

Realm MakeRealm(const std::string& name, uint64_t revision) {
  Realm realm;
  realm.name = name;
  realm.description = "realm " + name;
  realm.created_at = absl::FromUnixSeconds(1700000000);
  realm.create_revision = revision;
  realm.modify_revision = revision;
  return realm;
}

Event MakeEvent(uint64_t revision, const Instance& instance,
                const std::string& reason) {
  Event event;
  event.revision = revision;
  event.cause = EventCause::kRegistered;
  event.instance = std::make_shared<const Instance>(instance);
  event.reason = reason;
  event.time = absl::FromUnixSeconds(1700000000 + revision);
  return event;
}

template <typename Model, typename Proto>
void RequireSame(const Model& got, const Model& want) {
  Proto got_proto;
  Proto want_proto;
  ToProto(got, &got_proto);
  ToProto(want, &want_proto);
  INFO("got:\n"
       << got_proto.DebugString() << "want:\n"
       << want_proto.DebugString());
  REQUIRE(google::protobuf::util::MessageDifferencer::Equals(got_proto,
                                                             want_proto));
}

std::vector<std::string> Reasons(const std::vector<Event>& events) {
  std::vector<std::string> reasons;
  for (const Event& event : events) reasons.push_back(event.reason);
  return reasons;
}

// Revisions 1..5: 1 event, 2 events, none (a realm change), 3 events, 1.
void CommitHistory(Store& store) {
  const Instance web = MakeInstance("prod", "web", "w1", 1);
  CommitBatch batch;
  batch.revision = 1;
  batch.put_instances = {web};
  batch.events = {MakeEvent(1, web, "1a")};
  REQUIRE_OK(store.Commit(batch));
  batch = CommitBatch();
  batch.revision = 2;
  batch.events = {MakeEvent(2, web, "2a"), MakeEvent(2, web, "2b")};
  REQUIRE_OK(store.Commit(batch));
  batch = CommitBatch();
  batch.revision = 3;
  batch.put_realms = {MakeRealm("prod", 3)};
  REQUIRE_OK(store.Commit(batch));
  batch = CommitBatch();
  batch.revision = 4;
  batch.events = {MakeEvent(4, web, "4a"), MakeEvent(4, web, "4b"),
                  MakeEvent(4, web, "4c")};
  REQUIRE_OK(store.Commit(batch));
  batch = CommitBatch();
  batch.revision = 5;
  batch.events = {MakeEvent(5, web, "5a")};
  REQUIRE_OK(store.Commit(batch));
}

using Reasonlist = std::vector<std::string>;

#define STORE_TYPES MemoryStoreFactory, RocksDbStoreFactory

TEMPLATE_TEST_CASE("store: a new store is empty", "[store]", STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  const StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 0);
  CHECK(state.oldest_retained_revision == 1);
  CHECK(state.realms.empty());
  CHECK(state.instances.empty());
  CHECK(store->OldestRetainedRevision() == 1);
  CHECK(ValueOf(store->ReadChangeLog(1, kMax, 100)).empty());
  CHECK(store->ReadChangeLog(0, kMax, 100).status().code() ==
        absl::StatusCode::kOutOfRange);
}

TEMPLATE_TEST_CASE("store: commit and load round trip", "[store]",
                   STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  const Instance a = MakeInstance("prod", "web", "w2", 2);
  const Instance b = MakeInstance("prod", "web", "w1", 2);
  const Instance c = MakeInstance("dev", "web", "w1", 2);
  CommitBatch batch;
  batch.revision = 1;
  batch.put_realms = {MakeRealm("prod", 1), MakeRealm("dev", 1)};
  REQUIRE_OK(store->Commit(batch));
  batch = CommitBatch();
  batch.revision = 2;
  batch.put_instances = {a, b, c};
  batch.events = {MakeEvent(2, a, "a"), MakeEvent(2, b, "b"),
                  MakeEvent(2, c, "c")};
  batch.events[1].type = EventType::kDelete;
  batch.events[1].cause = EventCause::kEvicted;
  REQUIRE_OK(store->Commit(batch));

  const StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 2);
  CHECK(state.oldest_retained_revision == 1);
  // Sorted by name, and by realm, service, id.
  REQUIRE(state.realms.size() == 2);
  RequireSame<Realm, muster::v1::Realm>(state.realms[0], MakeRealm("dev", 1));
  RequireSame<Realm, muster::v1::Realm>(state.realms[1], MakeRealm("prod", 1));
  REQUIRE(state.instances.size() == 3);
  RequireSame<Instance, muster::v1::Instance>(*state.instances[0], c);
  RequireSame<Instance, muster::v1::Instance>(*state.instances[1], b);
  RequireSame<Instance, muster::v1::Instance>(*state.instances[2], a);

  const std::vector<Event> events = ValueOf(store->ReadChangeLog(1, 2, 100));
  REQUIRE(events.size() == 3);
  for (size_t i = 0; i < events.size(); ++i) {
    RequireSame<Event, muster::v1::Event>(events[i], batch.events[i]);
  }
}

TEMPLATE_TEST_CASE("store: deletes remove realms and instances", "[store]",
                   STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  CommitBatch batch;
  batch.revision = 1;
  batch.put_realms = {MakeRealm("prod", 1), MakeRealm("dev", 1)};
  batch.put_instances = {MakeInstance("prod", "web", "w1", 1),
                         MakeInstance("prod", "web", "w2", 1)};
  REQUIRE_OK(store->Commit(batch));
  batch = CommitBatch();
  batch.revision = 2;
  batch.delete_realms = {"dev", "missing"};
  batch.delete_instances = {{"prod", "web", "w1"}, {"prod", "web", "nope"}};
  REQUIRE_OK(store->Commit(batch));

  const StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 2);
  REQUIRE(state.realms.size() == 1);
  CHECK(state.realms[0].name == "prod");
  REQUIRE(state.instances.size() == 1);
  CHECK(state.instances[0]->id == "w2");
}

TEMPLATE_TEST_CASE("store: in one batch deletes apply before puts", "[store]",
                   STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  CommitBatch batch;
  batch.revision = 7;
  Instance first = MakeInstance("prod", "web", "w1", 7);
  Instance second = first;
  second.port = 9090;
  batch.put_realms = {MakeRealm("prod", 7)};
  batch.delete_realms = {"prod"};
  batch.put_instances = {first, second};
  batch.delete_instances = {first.Key()};
  REQUIRE_OK(store->Commit(batch));
  const StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 7);
  CHECK(state.realms.size() == 1);
  // Of two puts of one key the later wins.
  REQUIRE(state.instances.size() == 1);
  CHECK(state.instances[0]->port == 9090);
}

TEMPLATE_TEST_CASE("store: a batch that breaks the contract applies nothing",
                   "[store]", STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  CommitHistory(*store);
  const Instance web = MakeInstance("prod", "web", "w9", 6);
  CommitBatch batch;
  batch.revision = 6;
  batch.put_instances = {web};
  batch.events = {MakeEvent(6, web, "6a")};
  absl::StatusCode want = absl::StatusCode::kInternal;

  SECTION("revision not above the store") { batch.revision = 5; }
  SECTION("event above the batch revision") { batch.events[0].revision = 7; }
  SECTION("event at an already committed revision") {
    batch.events[0].revision = 5;
  }
  SECTION("event without instance") { batch.events[0].instance = nullptr; }
  SECTION("instance key with an empty part") {
    batch.put_instances.push_back(MakeInstance("prod", "", "x", 6));
    want = absl::StatusCode::kInvalidArgument;
  }
  SECTION("realm name with NUL") {
    batch.delete_realms = {std::string("a\0b", 3)};
    want = absl::StatusCode::kInvalidArgument;
  }
  const absl::Status status = store->Commit(batch);
  INFO(status.ToString());
  CHECK(status.code() == want);
  const StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 5);
  CHECK(state.instances.size() == 1);
  CHECK(ValueOf(store->ReadChangeLog(1, kMax, 100)).size() == 7);
}

TEMPLATE_TEST_CASE("store: change log ranges and limits keep revisions whole",
                   "[store]", STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  CommitHistory(*store);
  auto read = [&store](uint64_t from, uint64_t to, size_t limit) {
    return Reasons(ValueOf(store->ReadChangeLog(from, to, limit)));
  };
  CHECK(read(1, kMax, 100) ==
        Reasonlist{"1a", "2a", "2b", "4a", "4b", "4c", "5a"});
  CHECK(read(1, 5, 100) == read(1, kMax, 100));
  CHECK(read(2, 4, 100) == Reasonlist{"2a", "2b", "4a", "4b", "4c"});
  CHECK(read(3, 3, 100).empty());
  CHECK(read(3, 4, 100) == Reasonlist{"4a", "4b", "4c"});
  // A limit never splits a revision.
  CHECK(read(1, kMax, 2) == Reasonlist{"1a", "2a", "2b"});
  CHECK(read(2, kMax, 1) == Reasonlist{"2a", "2b"});
  CHECK(read(4, kMax, 1) == Reasonlist{"4a", "4b", "4c"});
  CHECK(read(1, kMax, 4) == Reasonlist{"1a", "2a", "2b", "4a", "4b", "4c"});
  CHECK(read(1, kMax, 0).empty());
  CHECK(read(6, kMax, 100).empty());
  CHECK(read(5, 4, 100).empty());
  for (const Event& event : ValueOf(store->ReadChangeLog(4, 4, 100))) {
    CHECK(event.revision == 4);
  }
}

TEMPLATE_TEST_CASE("store: compaction drops old revisions and is clamped",
                   "[store]", STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  CommitHistory(*store);
  REQUIRE_OK(store->Compact(4));
  CHECK(store->OldestRetainedRevision() == 4);
  CHECK(ValueOf(store->Load()).oldest_retained_revision == 4);
  const absl::Status compacted = store->ReadChangeLog(3, kMax, 100).status();
  CHECK(compacted.code() == absl::StatusCode::kOutOfRange);
  CHECK(
      absl::StrContains(compacted.message(), "oldest retained revision is 4"));
  CHECK(Reasons(ValueOf(store->ReadChangeLog(4, kMax, 100))) ==
        Reasonlist{"4a", "4b", "4c", "5a"});

  // Idempotent, never backwards.
  REQUIRE_OK(store->Compact(4));
  REQUIRE_OK(store->Compact(2));
  CHECK(store->OldestRetainedRevision() == 4);

  // Never beyond the committed revision + 1.
  REQUIRE_OK(store->Compact(1000));
  CHECK(store->OldestRetainedRevision() == 6);
  const StoredState state = ValueOf(store->Load());
  CHECK(state.oldest_retained_revision == 6);
  CHECK(state.revision == 5);
  CHECK(state.instances.size() == 1);
  CHECK(ValueOf(store->ReadChangeLog(6, kMax, 100)).empty());
  CHECK(store->ReadChangeLog(5, kMax, 100).status().code() ==
        absl::StatusCode::kOutOfRange);

  const Instance web = MakeInstance("prod", "web", "w1", 6);
  CommitBatch batch;
  batch.revision = 6;
  batch.events = {MakeEvent(6, web, "6a")};
  REQUIRE_OK(store->Commit(batch));
  CHECK(Reasons(ValueOf(store->ReadChangeLog(6, kMax, 100))) ==
        Reasonlist{"6a"});
}

TEST_CASE("store: a failed memory commit leaves nothing applied", "[store]") {
  MemoryStore store;
  CommitHistory(store);
  store.TEST_FailCommits(true);
  const Instance web = MakeInstance("prod", "web", "w2", 6);
  CommitBatch batch;
  batch.revision = 6;
  batch.put_instances = {web};
  batch.delete_realms = {"prod"};
  batch.events = {MakeEvent(6, web, "6a")};
  const absl::Status status = store.Commit(batch);
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  StoredState state = ValueOf(store.Load());
  CHECK(state.revision == 5);
  CHECK(state.instances.size() == 1);
  CHECK(state.realms.size() == 1);
  CHECK(ValueOf(store.ReadChangeLog(6, kMax, 100)).empty());

  store.TEST_FailCommits(false);
  REQUIRE_OK(store.Commit(batch));
  state = ValueOf(store.Load());
  CHECK(state.revision == 6);
  CHECK(state.instances.size() == 2);
  CHECK(state.realms.empty());
}

// RocksDbStore only.

absl::StatusOr<std::unique_ptr<RocksDbStore>> OpenAt(const std::string& path) {
  RocksDbStore::Options options;
  options.path = path;
  return RocksDbStore::Open(options);
}

void Overwrite(const std::string& file, const std::string& content) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  REQUIRE(out.good());
}

TEST_CASE("store: rocksdb keeps everything across a reopen", "[store]") {
  testing::TempDir dir;
  const std::string path = dir.File("data");
  {
    std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
    CommitHistory(*store);
    REQUIRE_OK(store->Compact(2));
  }
  std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
  const StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 5);
  CHECK(state.oldest_retained_revision == 2);
  CHECK(store->OldestRetainedRevision() == 2);
  REQUIRE(state.realms.size() == 1);
  RequireSame<Realm, muster::v1::Realm>(state.realms[0], MakeRealm("prod", 3));
  REQUIRE(state.instances.size() == 1);
  RequireSame<Instance, muster::v1::Instance>(
      *state.instances[0], MakeInstance("prod", "web", "w1", 1));
  CHECK(Reasons(ValueOf(store->ReadChangeLog(2, kMax, 100))) ==
        Reasonlist{"2a", "2b", "4a", "4b", "4c", "5a"});
  CHECK(store->ReadChangeLog(1, kMax, 100).status().code() ==
        absl::StatusCode::kOutOfRange);

  // The revision carries on from the stored one.
  CommitBatch batch;
  batch.revision = 5;
  CHECK(store->Commit(batch).code() == absl::StatusCode::kInternal);
  batch.revision = 6;
  REQUIRE_OK(store->Commit(batch));
  CHECK(ValueOf(store->Load()).revision == 6);
}

// RLIMIT_FSIZE makes writes past a file offset fail with EFBIG, a real
// write error like a full disk, for this process only.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_ = {};
  sighandler_t old_handler_ = SIG_DFL;
};

TEST_CASE("store: rocksdb survives a failed write", "[store]") {
  testing::TempDir dir;
  const std::string path = dir.File("data");
  std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
  CommitHistory(*store);
  CommitBatch big;
  big.revision = 6;
  for (int i = 0; i < 400; ++i) {
    Instance instance = MakeInstance("prod", "big", std::to_string(i), 6);
    instance.set_check_output(std::string(4096, 'x'));
    big.put_instances.push_back(instance);
    big.events.push_back(MakeEvent(6, instance, "big"));
  }
  {
    FileSizeLimit limit(1 << 20);
    const absl::Status status = store->Commit(big);
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StrContains(status.message(), path));
  }
  // Reads keep working and show nothing of the failed batch.
  StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 5);
  CHECK(state.instances.size() == 1);
  CHECK(ValueOf(store->ReadChangeLog(6, kMax, 100)).empty());

  // RocksDB treats an I/O error other than "no space" in the WAL as fatal:
  // Resume cannot clear it and writes stay UNAVAILABLE until a restart.
  // (ENOSPC is a hard error that Resume clears once there is room.)
  const Instance web = MakeInstance("prod", "web", "w2", 6);
  CommitBatch small;
  small.revision = 6;
  small.put_instances = {web};
  small.events = {MakeEvent(6, web, "6a")};
  const absl::Status status = store->Commit(small);
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kUnavailable);

  // After a restart nothing of the failed batch is there and writes work.
  store.reset();
  store = ValueOf(OpenAt(path));
  state = ValueOf(store->Load());
  CHECK(state.revision == 5);
  CHECK(state.instances.size() == 1);
  REQUIRE_OK(store->Commit(small));
  store.reset();
  store = ValueOf(OpenAt(path));
  state = ValueOf(store->Load());
  CHECK(state.revision == 6);
  CHECK(state.instances.size() == 2);
  CHECK(Reasons(ValueOf(store->ReadChangeLog(1, kMax, 100))) ==
        Reasonlist{"1a", "2a", "2b", "4a", "4b", "4c", "5a", "6a"});
}

TEST_CASE("store: rocksdb creates missing parent dirs", "[store]") {
  testing::TempDir dir;
  const std::string path = dir.File("a/b/data");
  std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
  CHECK(std::filesystem::exists(path + "/CURRENT"));
}

TEST_CASE("store: rocksdb refuses a data dir open in this process", "[store]") {
  testing::TempDir dir;
  const std::string path = dir.File("data");
  std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
  const absl::Status status = OpenAt(path).status();
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(status.message(), "\"" + path + "\" is in use"));
  CHECK(absl::StrContains(status.message(), path + "/LOCK"));
  // The first store is unharmed.
  CommitBatch batch;
  batch.revision = 1;
  REQUIRE_OK(store->Commit(batch));
}

TEST_CASE("store: rocksdb refuses a data dir locked by another process",
          "[store]") {
  testing::TempDir dir;
  const std::string path = dir.File("data");
  { ValueOf(OpenAt(path)); }
  // The child takes the lock RocksDB takes (fcntl, whole LOCK file) and
  // holds it until the parent closes the pipe.
  int ready[2];
  int release[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(release) == 0);
  const std::string lock_file = path + "/LOCK";
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(ready[0]);
    close(release[1]);
    const int fd = open(lock_file.c_str(), O_RDWR);
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    char byte = (fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0) ? 'y' : 'n';
    if (write(ready[1], &byte, 1) != 1) _exit(2);
    (void)!read(release[0], &byte, 1);
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  char byte = 0;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  REQUIRE(byte == 'y');
  const absl::Status status = OpenAt(path).status();
  close(release[1]);
  close(ready[0]);
  int child_status = 0;
  REQUIRE(waitpid(child, &child_status, 0) == child);
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(status.message(), "\"" + path +
                                                "\" is in use by another "
                                                "musterd"));
  // Once the other process is gone the dir opens again.
  ValueOf(OpenAt(path));
}

TEST_CASE("store: rocksdb reports a corrupt data dir", "[store]") {
  testing::TempDir dir;
  const std::string path = dir.File("data");
  {
    std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
    CommitHistory(*store);
  }
  SECTION("garbage in CURRENT") {
    Overwrite(path + "/CURRENT", "garbage");
    const absl::Status status = OpenAt(path).status();
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(status.message(), "\"" + path + "\" is corrupt"));
  }
  SECTION("CURRENT names a missing MANIFEST") {
    Overwrite(path + "/CURRENT", "MANIFEST-999999\n");
    const absl::Status status = OpenAt(path).status();
    INFO(status.ToString());
    CHECK((status.code() == absl::StatusCode::kDataLoss ||
           status.code() == absl::StatusCode::kFailedPrecondition));
    CHECK(absl::StrContains(status.message(), path));
  }
  SECTION("garbage in the MANIFEST") {
    int manifests = 0;
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (absl::StartsWith(entry.path().filename().string(), "MANIFEST-")) {
        Overwrite(entry.path().string(), std::string(4096, 'x'));
        ++manifests;
      }
    }
    REQUIRE(manifests > 0);
    const absl::Status status = OpenAt(path).status();
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(status.message(), path));
  }
}

// More instances than one of the load's decoding chunks (4096 records),
// so that several decode in parallel and are joined.
TEST_CASE("store: rocksdb loads many instances whole and in key order",
          "[store]") {
  testing::TempDir dir;
  const std::string path = dir.File("data");
  constexpr int kCount = 10000;
  {
    std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
    CommitBatch batch;
    batch.revision = 1;
    for (int i = 0; i < kCount; ++i) {
      // Not in key order here: the load's order comes from the keys.
      const Instance instance =
          MakeInstance("prod", "svc" + std::to_string(i % 3),
                       "i" + std::to_string((i * 7919) % kCount), 1);
      batch.put_instances.push_back(instance);
      batch.events.push_back(MakeEvent(1, instance, instance.id));
    }
    REQUIRE_OK(store->Commit(batch));
  }

  SECTION("every instance, once, in key order, intact") {
    std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
    const StoredState state = ValueOf(store->Load());
    REQUIRE(state.instances.size() == kCount);
    std::set<std::string> ids;
    std::string previous_key;
    for (const auto& instance : state.instances) {
      ids.insert(instance->id);
      const std::string key = ValueOf(keys::EncodeInstanceKey(instance->Key()));
      REQUIRE(previous_key < key);
      previous_key = key;
    }
    CHECK(ids.size() == kCount);
    // One from the last chunk, field by field. i = 1 gives id i7919.
    const auto last = std::find_if(
        state.instances.begin(), state.instances.end(),
        [](const auto& instance) { return instance->id == "i7919"; });
    REQUIRE(last != state.instances.end());
    RequireSame<Instance, muster::v1::Instance>(
        **last, MakeInstance("prod", "svc1", "i7919", 1));
  }

  SECTION("a bad record in a later chunk is DATA_LOSS naming the dir") {
    {
      // Write a record that does not parse, behind every other key.
      std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
      for (const char* name : keys::kColumnFamilies)
        descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
      rocksdb::DB* raw = nullptr;
      std::vector<rocksdb::ColumnFamilyHandle*> handles;
      REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors,
                                &handles, &raw)
                  .ok());
      std::unique_ptr<rocksdb::DB> db(raw);
      const std::string key =
          ValueOf(keys::EncodeInstanceKey(InstanceKey{"prod", "svc9", "zz"}));
      REQUIRE(db->Put(rocksdb::WriteOptions(), handles[2], key,
                      "not a protobuf record")
                  .ok());
      for (rocksdb::ColumnFamilyHandle* handle : handles)
        REQUIRE(db->DestroyColumnFamilyHandle(handle).ok());
      REQUIRE(db->Close().ok());
    }
    std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
    const absl::Status status = store->Load().status();
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(status.message(), path));
  }
}

TEST_CASE("store: rocksdb refuses an unknown format version", "[store]") {
  testing::TempDir dir;
  const std::string path = dir.File("data");
  {
    std::unique_ptr<RocksDbStore> store = ValueOf(OpenAt(path));
    REQUIRE_OK(store->TEST_WriteFormatVersion(2));
  }
  const absl::Status status = OpenAt(path).status();
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(status.message(), path));
  CHECK(absl::StrContains(status.message(), "format version 2"));
}

TEST_CASE("store: rocksdb without create_if_missing needs an existing store",
          "[store]") {
  testing::TempDir dir;
  RocksDbStore::Options options;
  options.path = dir.File("data");
  options.create_if_missing = false;
  const absl::Status status = RocksDbStore::Open(options).status();
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(status.message(), options.path));
  CHECK_FALSE(std::filesystem::exists(options.path));

  options.create_if_missing = true;
  { ValueOf(RocksDbStore::Open(options)); }
  options.create_if_missing = false;
  ValueOf(RocksDbStore::Open(options));
}

TEST_CASE("store: rocksdb refuses an empty path", "[store]") {
  CHECK(OpenAt("").status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace muster::registry
