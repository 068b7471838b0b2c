// Access tokens in the stores: MemoryStore and RocksDbStore keep them the
// same way (put, overwrite on revocation, load in name order, reject a
// bad key), RocksDB keeps them across a reopen, a registry on RocksDB
// never writes a secret into its data dir, and a corrupt record is
// DATA_LOSS.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "codec/token_proto.h"
#include "common/secret.h"
#include "google/protobuf/util/message_differencer.h"
#include "registry/registry.h"
#include "registry/store.h"
#include "store/layout/keys.h"
#include "store/memory/memory_store.h"
#include "store/rocksdb/rocksdb_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/registry/store_factories.h"

namespace muster::registry {
namespace {

#define STORE_TYPES MemoryStoreFactory, RocksDbStoreFactory

Token MakeToken(const std::string& name, uint64_t revision) {
  Token token;
  token.name = name;
  token.role = TokenRole::kWrite;
  token.realms = {"dev", "prod"};
  token.services = {"api"};
  token.expires_at = absl::FromUnixSeconds(1800000000);
  token.created_at = absl::FromUnixSeconds(1700000000);
  token.created_by = "token:root";
  token.secret_hash = SecretHash("secret of " + name);
  token.create_revision = revision;
  token.modify_revision = revision;
  return token;
}

void RequireSame(const Token& got, const Token& want) {
  muster::v1::StoredToken got_proto;
  muster::v1::StoredToken want_proto;
  ToProto(got, &got_proto);
  ToProto(want, &want_proto);
  INFO("got:\n"
       << got_proto.DebugString() << "want:\n"
       << want_proto.DebugString());
  REQUIRE(google::protobuf::util::MessageDifferencer::Equals(got_proto,
                                                             want_proto));
}

TEMPLATE_TEST_CASE("store: tokens round trip, sorted, revocation overwrites",
                   "[store][tokens]", STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  CHECK(ValueOf(store->Load()).tokens.empty());
  CHECK(ValueOf(store->LoadTokens()).empty());

  CommitBatch batch;
  batch.revision = 1;
  batch.put_tokens = {MakeToken("zeta", 1), MakeToken("alpha", 1)};
  REQUIRE(store->Commit(batch).ok());
  Token revoked = MakeToken("zeta", 1);
  revoked.revoked_at = absl::FromUnixSeconds(1750000000);
  revoked.revoked_by = "token:admin";
  revoked.modify_revision = 2;
  batch = CommitBatch();
  batch.revision = 2;
  batch.put_tokens = {revoked};
  REQUIRE(store->Commit(batch).ok());

  const StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 2);
  REQUIRE(state.tokens.size() == 2);
  RequireSame(state.tokens[0], MakeToken("alpha", 1));
  RequireSame(state.tokens[1], revoked);
  const std::vector<Token> loaded = ValueOf(store->LoadTokens());
  REQUIRE(loaded.size() == 2);
  RequireSame(loaded[1], revoked);
  // Tokens are not instances, realms or events.
  CHECK(state.realms.empty());
  CHECK(state.instances.empty());
  CHECK(ValueOf(store->ReadChangeLog(1, 2, 100)).empty());
}

TEMPLATE_TEST_CASE("store: a token with a bad key applies nothing",
                   "[store][tokens]", STORE_TYPES) {
  TestType factory;
  std::unique_ptr<Store> store = factory.Open();
  CommitBatch batch;
  batch.revision = 1;
  batch.put_tokens = {MakeToken("good", 1), MakeToken("", 1)};
  batch.put_realms = {};
  SECTION("empty name") {}
  SECTION("name with NUL") {
    batch.put_tokens[1].name = std::string("a\0b", 3);
  }
  CHECK(absl::IsInvalidArgument(store->Commit(batch)));
  const StoredState state = ValueOf(store->Load());
  CHECK(state.revision == 0);
  CHECK(state.tokens.empty());
}

TEST_CASE("store: rocksdb keeps tokens across a reopen", "[store][tokens]") {
  testing::TempDir dir;
  RocksDbStore::Options options;
  options.path = dir.File("data");
  {
    std::unique_ptr<RocksDbStore> store = ValueOf(RocksDbStore::Open(options));
    CommitBatch batch;
    batch.revision = 1;
    batch.put_tokens = {MakeToken("ci", 1)};
    REQUIRE(store->Commit(batch).ok());
  }
  std::unique_ptr<RocksDbStore> store = ValueOf(RocksDbStore::Open(options));
  const StoredState state = ValueOf(store->Load());
  REQUIRE(state.tokens.size() == 1);
  RequireSame(state.tokens[0], MakeToken("ci", 1));
}

TEST_CASE("store: a registry on rocksdb stores the hash, never the secret",
          "[store][tokens]") {
  testing::TempDir dir;
  RocksDbStore::Options options;
  options.path = dir.File("data");
  testing::FakeClock clock;
  std::string secret;
  {
    std::unique_ptr<RocksDbStore> store = ValueOf(RocksDbStore::Open(options));
    Metrics metrics;
    std::unique_ptr<Registry> registry =
        ValueOf(Registry::Create({}, *store, clock, metrics));
    REQUIRE(registry->Start().ok());
    Tokens::Spec spec;
    spec.name = "ci";
    spec.role = TokenRole::kRead;
    spec.all_realms = true;
    absl::Notification done;
    registry->tokens().Create(spec, "token:root",
                              [&](absl::StatusOr<Tokens::Created> created) {
                                REQUIRE(created.ok());
                                secret = created->secret;
                                done.Notify();
                              });
    done.WaitForNotification();
    registry->Stop();
  }
  REQUIRE(!secret.empty());
  const std::string bytes = testing::AllFileBytes(dir.path());
  CHECK(absl::StrContains(bytes, SecretHash(secret)));
  CHECK(!absl::StrContains(bytes, secret));
  CHECK(!absl::StrContains(bytes, secret.substr(4)));

  std::unique_ptr<RocksDbStore> store = ValueOf(RocksDbStore::Open(options));
  Metrics metrics;
  std::unique_ptr<Registry> registry =
      ValueOf(Registry::Create({}, *store, clock, metrics));
  auto token = registry->tokens().Authenticate(secret, clock.Now());
  REQUIRE(token.ok());
  CHECK((*token)->name == "ci");
  CHECK((*token)->all_realms);
}

// A store whose next commit reaches the disk and is then reported as
// failed (the sync failed after the write), as RocksDB can; it refuses
// writes until Reopen. Thread-safe.
class LandedFailureStore final : public testing::ForwardingStore {
 public:
  void FailNextCommit() {
    absl::MutexLock lock(&mu_);
    fail_next_ = true;
  }
  absl::Status Commit(const CommitBatch& batch) override {
    absl::MutexLock lock(&mu_);
    if (failed_) return absl::InternalError("commit without a reopen");
    absl::Status written = inner_.Commit(batch);
    if (!written.ok() || !fail_next_) return written;
    fail_next_ = false;
    failed_ = true;
    return absl::UnavailableError("fsync: Input/output error");
  }
  bool Writable() const override {
    absl::MutexLock lock(&mu_);
    return !failed_;
  }
  absl::StatusOr<uint64_t> Reopen() override {
    absl::MutexLock lock(&mu_);
    failed_ = false;
    return inner_.Reopen();
  }

 private:
  mutable absl::Mutex mu_;
  bool fail_next_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
};

TEST_CASE("store: a token whose failed write landed is adopted at the reopen",
          "[store][tokens]") {
  LandedFailureStore store;
  testing::FakeClock clock;
  Metrics metrics;
  std::unique_ptr<Registry> registry =
      ValueOf(Registry::Create({}, store, clock, metrics));
  REQUIRE(registry->Start().ok());
  Tokens::Spec spec;
  spec.name = "ci";
  spec.role = TokenRole::kRead;
  spec.realms = {"prod"};
  auto create = [&] {
    absl::Notification done;
    absl::Status status;
    registry->tokens().Create(spec, "token:root",
                              [&](absl::StatusOr<Tokens::Created> created) {
                                status = created.status();
                                done.Notify();
                              });
    done.WaitForNotification();
    return status;
  };
  store.FailNextCommit();
  CHECK(absl::IsUnavailable(create()));
  // The committer reopened the store at once and took the landed
  // revision: the token is there, and its name is taken.
  absl::StatusOr<Token> adopted = registry->tokens().Get("ci");
  REQUIRE(adopted.ok());
  CHECK(adopted->created_by == "token:root");
  CHECK(absl::IsAlreadyExists(create()));
  registry->Stop();
}

TEST_CASE("store: a corrupt token record is DATA_LOSS naming the key",
          "[store][tokens]") {
  const Token token = MakeToken("ci", 1);
  const std::string value = keys::EncodeTokenValue(token);
  REQUIRE(ValueOf(keys::DecodeTokenRecord("token/ci", value)).name == "ci");

  absl::Status bad = keys::DecodeTokenRecord("token/ci", "\xff\xff").status();
  CHECK(absl::IsDataLoss(bad));
  CHECK(absl::StrContains(bad.message(), "token/ci"));
  CHECK(absl::IsDataLoss(keys::DecodeTokenRecord("token/cd", value).status()));
  CHECK(absl::IsDataLoss(keys::DecodeTokenRecord("token/", value).status()));
  CHECK(absl::IsDataLoss(keys::DecodeTokenRecord("realm/ci", value).status()));
  Token no_hash = token;
  no_hash.secret_hash = "ABC";
  CHECK(absl::IsDataLoss(
      keys::DecodeTokenRecord("token/ci", keys::EncodeTokenValue(no_hash))
          .status()));
  muster::v1::StoredToken bad_role;
  ToProto(token, &bad_role);
  bad_role.mutable_token()->set_role(static_cast<muster::v1::TokenRole>(9));
  CHECK(absl::IsDataLoss(
      keys::DecodeTokenRecord("token/ci", bad_role.SerializeAsString())
          .status()));
}

}  // namespace
}  // namespace muster::registry
