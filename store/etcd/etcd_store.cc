#include "store/etcd/etcd_store.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "store/layout/keys.h"

namespace muster::registry {
namespace {

constexpr char kRealmPart[] = "realm/";
constexpr char kInstancePart[] = "inst/";
constexpr char kTokenPart[] = "token/";
constexpr char kMemberPart[] = "member/";
constexpr char kLogPart[] = "log";
constexpr char kCompactedPart[] = "compacted";
constexpr char kPeerSecretPart[] = "peer-secret";

// 32 bytes from the kernel's random source, as hex.
absl::StatusOr<std::string> RandomSecret() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  char bytes[32];
  if (!in.read(bytes, sizeof(bytes))) {
    return absl::InternalError("cannot read /dev/urandom");
  }
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

// The first key after every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

void AppendVarint(uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

bool ReadVarint(absl::string_view& in, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const unsigned char byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// The events of one revision as the log key holds them.
std::string EncodeLog(const std::vector<Event>& events) {
  std::string out;
  for (const Event& event : events) {
    const std::string value = keys::EncodeEventValue(event);
    AppendVarint(value.size(), out);
    out += value;
  }
  return out;
}

uint64_t Resolve(uint64_t value, uint64_t revision) {
  return value == kPendingRevision ? revision : value;
}

absl::StatusOr<std::vector<Event>> DecodeLog(absl::string_view in,
                                             uint64_t revision) {
  std::vector<Event> events;
  uint32_t sequence = 0;
  while (!in.empty()) {
    uint64_t size = 0;
    if (!ReadVarint(in, size) || size > in.size()) {
      return absl::DataLossError(absl::StrCat(
          "etcd change-log entry at revision ", revision, " is truncated"));
    }
    // Written with kPendingRevision: decode against it, then give every
    // revision the entry's.
    ASSIGN_OR_RETURN(Event event,
                     keys::DecodeChangelogRecord(
                         keys::EncodeChangelogKey(kPendingRevision, sequence++),
                         in.substr(0, size)));
    in.remove_prefix(size);
    event.revision = revision;
    if (event.instance != nullptr &&
        (event.instance->create_revision == kPendingRevision ||
         event.instance->modify_revision == kPendingRevision)) {
      auto instance = std::make_shared<Instance>(*event.instance);
      instance->create_revision = Resolve(instance->create_revision, revision);
      instance->modify_revision = Resolve(instance->modify_revision, revision);
      event.instance = std::move(instance);
    }
    events.push_back(std::move(event));
  }
  return events;
}

std::string EncodeUint64(uint64_t value) { return keys::EncodeUint64(value); }

absl::Status FromEtcd(const absl::Status& status, absl::string_view what) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat("etcd ", what, ": ", status.message()));
}

}  // namespace

EtcdStore::EtcdStore(Options options, std::unique_ptr<etcd::EtcdClient> client,
                     std::unique_ptr<etcd::EtcdClient> lease_client)
    : options_(std::move(options)),
      client_(std::move(client)),
      lease_client_(std::move(lease_client)) {}

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Open(Options options) {
  if (options.prefix.empty() || options.prefix.back() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd prefix: \"", options.prefix, "\" must end with '/'"));
  }
  if (options.replica_id.empty() ||
      options.replica_id.find_first_of("/ \t\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("replica id: \"", options.replica_id,
                     "\" must be non-empty, without '/' or whitespace"));
  }
  if (options.lease_ttl < absl::Seconds(2)) {
    return absl::InvalidArgumentError(
        "replica lease TTL: must be at least 2s (etcd leases are whole "
        "seconds)");
  }
  if (options.max_txn_ops < 16) {
    return absl::InvalidArgumentError("etcd max txn ops: must be at least 16");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<etcd::EtcdClient> client,
                   etcd::EtcdClient::Create(options.client));
  etcd::EtcdClientOptions lease_options = options.client;
  lease_options.call_timeout =
      std::min(lease_options.call_timeout,
               std::max(absl::Milliseconds(300), options.lease_ttl / 4));
  ASSIGN_OR_RETURN(std::unique_ptr<etcd::EtcdClient> lease_client,
                   etcd::EtcdClient::Create(std::move(lease_options)));
  std::unique_ptr<EtcdStore> store(new EtcdStore(
      std::move(options), std::move(client), std::move(lease_client)));
  RETURN_IF_ERROR(store->EnsurePeerSecret());
  RETURN_IF_ERROR(store->Join());
  store->renew_thread_ =
      std::thread([self = store.get()] { self->RenewLoop(); });
  return store;
}

EtcdStore::~EtcdStore() {
  StopFeed();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (renew_thread_.joinable()) renew_thread_.join();
}

std::string EtcdStore::RealmKey(absl::string_view name) const {
  return absl::StrCat(options_.prefix, kRealmPart, name);
}

std::string EtcdStore::InstanceKey(const registry::InstanceKey& key) const {
  absl::StatusOr<std::string> encoded = keys::EncodeInstanceKey(key);
  return absl::StrCat(options_.prefix, kInstancePart,
                      encoded.ok() ? *encoded : std::string());
}

std::string EtcdStore::InstanceRealmPrefix(absl::string_view realm) const {
  return absl::StrCat(options_.prefix, kInstancePart,
                      keys::InstanceRealmPrefix(realm));
}

std::string EtcdStore::TokenKey(absl::string_view name) const {
  return absl::StrCat(options_.prefix, kTokenPart, name);
}

std::string EtcdStore::MemberKey(absl::string_view id) const {
  return absl::StrCat(options_.prefix, kMemberPart, id);
}

std::string EtcdStore::LogKey() const {
  return absl::StrCat(options_.prefix, kLogPart);
}

std::string EtcdStore::CompactedKey() const {
  return absl::StrCat(options_.prefix, kCompactedPart);
}

std::string EtcdStore::PeerSecretKey() const {
  return absl::StrCat(options_.prefix, kPeerSecretPart);
}

absl::Status EtcdStore::EnsurePeerSecret() {
  ASSIGN_OR_RETURN(std::string fresh, RandomSecret());
  // Put it unless a replica already did; read what is there either way.
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* missing = txn.add_compare();
  missing->set_target(etcdserverpb::Compare::VERSION);
  missing->set_result(etcdserverpb::Compare::EQUAL);
  missing->set_key(PeerSecretKey());
  missing->set_version(0);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(PeerSecretKey());
  put->set_value(fresh);
  txn.add_failure()->mutable_request_range()->set_key(PeerSecretKey());
  absl::StatusOr<etcdserverpb::TxnResponse> written = client_->Txn(txn);
  if (!written.ok()) return FromEtcd(written.status(), "peer secret");
  std::string secret = fresh;
  if (!written->succeeded()) {
    const etcdserverpb::RangeResponse& range =
        written->responses(0).response_range();
    if (range.kvs().empty() || range.kvs(0).value().empty()) {
      return absl::DataLossError("etcd peer secret: present but empty");
    }
    secret = range.kvs(0).value();
  }
  absl::MutexLock lock(&mu_);
  peer_secret_ = std::move(secret);
  return absl::OkStatus();
}

std::string EtcdStore::PeerSecret() const {
  absl::MutexLock lock(&mu_);
  return peer_secret_;
}

absl::Status EtcdStore::Join() {
  const int64_t ttl =
      std::max<int64_t>(2, absl::ToInt64Seconds(options_.lease_ttl));
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> granted =
      client_->LeaseGrant(ttl);
  if (!granted.ok()) return FromEtcd(granted.status(), "lease grant");
  etcdserverpb::TxnRequest txn;
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(MemberKey(options_.replica_id));
  put->set_value(options_.advertise_address);
  put->set_lease(granted->id());
  absl::StatusOr<etcdserverpb::TxnResponse> written = client_->Txn(txn);
  if (!written.ok()) return FromEtcd(written.status(), "member put");
  absl::MutexLock lock(&mu_);
  lease_id_ = granted->id();
  lease_renewed_ = absl::Now();
  MUSTER_LOG(kInfo, "replica \"%s\" joined with lease %x at revision %d",
             options_.replica_id, granted->id(), written->header().revision());
  return absl::OkStatus();
}

void EtcdStore::RenewLoop() {
  const absl::Duration every = options_.lease_ttl / 3;
  // After a failed renewal the next comes soon: the lease is running out.
  bool failed = false;
  for (;;) {
    int64_t lease = 0;
    {
      absl::MutexLock lock(&mu_);
      auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || left_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&done),
                           failed ? absl::Milliseconds(100) : every);
      if (stopping_ || left_) return;
      lease = lease_id_;
    }
    absl::StatusOr<int64_t> ttl = lease_client_->LeaseKeepAliveOnce(lease);
    const bool failed_before = failed;
    failed = !ttl.ok();
    if (ttl.ok() && *ttl > 0) {
      if (failed_before) {
        MUSTER_LOG(kInfo, "replica \"%s\": lease renewed again",
                   options_.replica_id);
      }
      absl::MutexLock lock(&mu_);
      lease_renewed_ = absl::Now();
      continue;
    }
    if (ttl.ok()) {
      // The lease expired while this replica was cut off: the others have
      // taken its instances over. Join again as a new member.
      MUSTER_LOG(kWarning, "replica \"%s\": lease %x expired; joining again",
                 options_.replica_id, lease);
      if (absl::Status joined = Join(); !joined.ok()) {
        MUSTER_LOG(kWarning, "replica \"%s\": joining again failed: %s",
                   options_.replica_id, joined.ToString());
      }
    } else if (!failed_before) {
      MUSTER_LOG(kWarning,
                 "replica \"%s\": lease renewal failed (trying again every "
                 "100ms): %s",
                 options_.replica_id, ttl.status().ToString());
    }
  }
}

void EtcdStore::Leave() {
  int64_t lease = 0;
  {
    absl::MutexLock lock(&mu_);
    if (left_) return;
    left_ = true;
    lease = lease_id_;
    lease_id_ = 0;
  }
  if (absl::Status revoked = client_->LeaseRevoke(lease); !revoked.ok()) {
    MUSTER_LOG(kWarning, "replica \"%s\": leaving (lease revoke) failed: %s",
               options_.replica_id, revoked.ToString());
  }
}

absl::Status EtcdStore::DecodeKv(const std::string& key,
                                 const std::string& value, bool deleted,
                                 uint64_t create_revision,
                                 uint64_t mod_revision, CommitBatch& batch,
                                 bool& replicas_changed) {
  absl::string_view rest(key);
  if (!absl::ConsumePrefix(&rest, options_.prefix)) return absl::OkStatus();
  if (absl::ConsumePrefix(&rest, kInstancePart)) {
    if (deleted) {
      ASSIGN_OR_RETURN(registry::InstanceKey decoded,
                       keys::DecodeInstanceKey(rest));
      batch.delete_instances.push_back(std::move(decoded));
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Instance instance,
                     keys::DecodeInstanceRecord(rest, value));
    instance.create_revision = create_revision;
    instance.modify_revision = mod_revision;
    batch.put_instances.push_back(std::move(instance));
  } else if (absl::ConsumePrefix(&rest, kRealmPart)) {
    if (deleted) {
      batch.delete_realms.emplace_back(rest);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Realm realm, keys::DecodeRealmRecord(rest, value));
    realm.create_revision = create_revision;
    realm.modify_revision = mod_revision;
    batch.put_realms.push_back(std::move(realm));
  } else if (absl::ConsumePrefix(&rest, kTokenPart)) {
    if (deleted) return absl::OkStatus();  // tokens are never deleted
    ASSIGN_OR_RETURN(Token token,
                     keys::DecodeTokenRecord(
                         absl::StrCat(keys::kTokenKeyPrefix, rest), value));
    token.create_revision = create_revision;
    token.modify_revision = mod_revision;
    batch.put_tokens.push_back(std::move(token));
  } else if (absl::ConsumePrefix(&rest, kMemberPart)) {
    absl::MutexLock lock(&mu_);
    if (deleted) {
      replicas_changed |= replicas_.erase(std::string(rest)) > 0;
    } else {
      std::string& address = replicas_[std::string(rest)];
      replicas_changed |= address != value;
      address = value;
    }
  } else if (rest == kLogPart) {
    if (deleted) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::vector<Event> events, DecodeLog(value, mod_revision));
    for (Event& event : events) batch.events.push_back(std::move(event));
  } else if (rest == kCompactedPart) {
    if (deleted) return absl::OkStatus();
    ASSIGN_OR_RETURN(uint64_t oldest, keys::DecodeUint64(value));
    absl::MutexLock lock(&mu_);
    oldest_retained_ = std::max(oldest_retained_, oldest);
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredState> EtcdStore::LoadAll() {
  // Page by page, every page at the first one's revision: one snapshot,
  // without one huge response.
  constexpr int64_t kPage = 1000;
  StoredState state;
  CommitBatch batch;
  bool replicas_changed = false;
  {
    absl::MutexLock lock(&mu_);
    replicas_.clear();
  }
  etcdserverpb::RangeRequest range;
  range.set_key(options_.prefix);
  range.set_range_end(PrefixEnd(options_.prefix));
  range.set_limit(kPage);
  for (;;) {
    absl::StatusOr<etcdserverpb::RangeResponse> listed = client_->Range(range);
    if (!listed.ok()) return FromEtcd(listed.status(), "load");
    if (range.revision() == 0) {
      state.revision = static_cast<uint64_t>(listed->header().revision());
      range.set_revision(listed->header().revision());
    }
    for (const mvccpb::KeyValue& kv : listed->kvs()) {
      if (kv.key() == LogKey()) continue;  // history, not state
      RETURN_IF_ERROR(DecodeKv(kv.key(), kv.value(), false,
                               static_cast<uint64_t>(kv.create_revision()),
                               static_cast<uint64_t>(kv.mod_revision()), batch,
                               replicas_changed));
    }
    if (!listed->more() || listed->kvs().empty()) break;
    // The next page starts just after the last key.
    range.set_key(listed->kvs(listed->kvs_size() - 1).key() + '\0');
  }
  state.realms = std::move(batch.put_realms);
  state.tokens = std::move(batch.put_tokens);
  state.instances.reserve(batch.put_instances.size());
  for (Instance& instance : batch.put_instances) {
    state.instances.push_back(
        std::make_shared<const Instance>(std::move(instance)));
  }
  absl::MutexLock lock(&mu_);
  state.oldest_retained_revision =
      std::min(oldest_retained_, state.revision + 1);
  return state;
}

absl::StatusOr<StoredState> EtcdStore::Load() { return LoadAll(); }

absl::StatusOr<std::vector<Realm>> EtcdStore::LoadRealms() {
  ASSIGN_OR_RETURN(StoredState state, LoadAll());
  return std::move(state.realms);
}

absl::StatusOr<std::vector<Token>> EtcdStore::LoadTokens() {
  ASSIGN_OR_RETURN(StoredState state, LoadAll());
  return std::move(state.tokens);
}

absl::Status EtcdStore::Commit(const CommitBatch&) {
  return absl::FailedPreconditionError(
      "the etcd store is replicated: writes go through CommitReplicated");
}

absl::StatusOr<uint64_t> EtcdStore::Reopen() {
  return absl::FailedPreconditionError("the etcd store is never reopened");
}

size_t EtcdStore::MaxRecordsPerCommit() const {
  // One compare more for the fence, one put more for the log entry.
  return options_.max_txn_ops - 2;
}

absl::Status EtcdStore::AddCompares(const Expectations& expect,
                                    etcdserverpb::TxnRequest& txn) {
  auto expect_mod = [&txn](std::string key, uint64_t mod_revision) {
    etcdserverpb::Compare* compare = txn.add_compare();
    compare->set_target(etcdserverpb::Compare::MOD);
    compare->set_result(etcdserverpb::Compare::EQUAL);
    compare->set_key(std::move(key));
    compare->set_mod_revision(static_cast<int64_t>(mod_revision));
  };
  for (const auto& [key, revision] : expect.instances)
    expect_mod(InstanceKey(key), revision);
  for (const auto& [name, revision] : expect.realms)
    expect_mod(RealmKey(name), revision);
  for (const auto& [name, revision] : expect.tokens)
    expect_mod(TokenKey(name), revision);
  for (const std::string& realm : expect.realm_instances) {
    // No instance of the realm changed after the state was read.
    etcdserverpb::Compare* compare = txn.add_compare();
    compare->set_target(etcdserverpb::Compare::MOD);
    compare->set_result(etcdserverpb::Compare::LESS);
    const std::string prefix = InstanceRealmPrefix(realm);
    compare->set_key(prefix);
    compare->set_range_end(PrefixEnd(prefix));
    compare->set_mod_revision(static_cast<int64_t>(expect.read_revision + 1));
  }
  if (expect.fenced) {
    int64_t lease = 0;
    {
      absl::MutexLock lock(&mu_);
      lease = lease_id_;
    }
    if (lease == 0) {
      return absl::UnavailableError(
          "this replica is not a member (it left): the health checker's "
          "writes are refused");
    }
    etcdserverpb::Compare* compare = txn.add_compare();
    compare->set_target(etcdserverpb::Compare::LEASE);
    compare->set_result(etcdserverpb::Compare::EQUAL);
    compare->set_key(MemberKey(options_.replica_id));
    compare->set_lease(lease);
  }
  return absl::OkStatus();
}

absl::StatusOr<ReplicatedCommit> EtcdStore::Validate(
    const Expectations& expect) {
  etcdserverpb::TxnRequest txn;
  RETURN_IF_ERROR(AddCompares(expect, txn));
  return SendTxn(txn);
}

absl::StatusOr<ReplicatedCommit> EtcdStore::SendTxn(
    const etcdserverpb::TxnRequest& txn) {
  absl::StatusOr<etcdserverpb::TxnResponse> response = client_->Txn(txn);
  if (!response.ok()) {
    const absl::Status& status = response.status();
    if (absl::IsInvalidArgument(status) &&
        (absl::StrContains(status.message(), "too many operations") ||
         absl::StrContains(status.message(), "too large"))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the change is too large for one etcd transaction (etcd's "
          "--max-txn-ops and --max-request-bytes): ",
          status.message()));
    }
    return FromEtcd(absl::UnavailableError(status.message()), "txn");
  }
  ReplicatedCommit result;
  result.committed = response->succeeded();
  result.revision = static_cast<uint64_t>(response->header().revision());
  return result;
}

absl::StatusOr<ReplicatedCommit> EtcdStore::CommitReplicated(
    const CommitBatch& batch) {
  etcdserverpb::TxnRequest txn;
  RETURN_IF_ERROR(AddCompares(batch.expect, txn));

  std::set<std::string> deleted_realms(batch.delete_realms.begin(),
                                       batch.delete_realms.end());
  for (const std::string& realm : batch.delete_realms) {
    etcdserverpb::DeleteRangeRequest* instances =
        txn.add_success()->mutable_request_delete_range();
    const std::string prefix = InstanceRealmPrefix(realm);
    instances->set_key(prefix);
    instances->set_range_end(PrefixEnd(prefix));
    txn.add_success()->mutable_request_delete_range()->set_key(RealmKey(realm));
  }
  for (const Realm& realm : batch.put_realms) {
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(RealmKey(realm.name));
    put->set_value(keys::EncodeRealmValue(realm));
  }
  for (const registry::InstanceKey& key : batch.delete_instances) {
    if (deleted_realms.count(key.realm) != 0) continue;  // deleted by range
    txn.add_success()->mutable_request_delete_range()->set_key(
        InstanceKey(key));
  }
  for (const Instance& instance : batch.put_instances) {
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(InstanceKey(instance.Key()));
    put->set_value(keys::EncodeInstanceValue(instance));
  }
  for (const Token& token : batch.put_tokens) {
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(TokenKey(token.name));
    put->set_value(keys::EncodeTokenValue(token));
  }
  etcdserverpb::PutRequest* log = txn.add_success()->mutable_request_put();
  log->set_key(LogKey());
  log->set_value(EncodeLog(batch.events));

  return SendTxn(txn);
}

absl::Status EtcdStore::StartFeed(uint64_t revision, FeedSink* sink) {
  {
    absl::MutexLock lock(&mu_);
    if (sink_ != nullptr) {
      return absl::FailedPreconditionError("the feed was started already");
    }
    sink_ = sink;
  }
  feed_thread_ = std::thread([this, revision] { FeedLoop(revision); });
  return absl::OkStatus();
}

void EtcdStore::StopFeed() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (feed_stream_ != nullptr) feed_stream_->Close();
  }
  if (feed_thread_.joinable()) feed_thread_.join();
}

void EtcdStore::MarkCurrent() {
  absl::MutexLock lock(&mu_);
  last_current_ = absl::Now();
}

void EtcdStore::FeedLoop(uint64_t revision) {
  FeedSink* sink = nullptr;
  FeedUpdate first;
  {
    absl::MutexLock lock(&mu_);
    sink = sink_;
    std::vector<ReplicaInfo> replicas;
    for (const auto& [id, address] : replicas_)
      replicas.push_back(ReplicaInfo{id, address});
    first.replicas = std::move(replicas);
  }
  first.revision = revision;
  sink->OnFeed(std::move(first));

  uint64_t delivered = revision;
  absl::Duration backoff = absl::Milliseconds(50);
  // A watch that keeps failing is logged once, until it works again.
  bool logged = false;
  for (;;) {
    etcdserverpb::WatchCreateRequest create;
    create.set_key(options_.prefix);
    create.set_range_end(PrefixEnd(options_.prefix));
    create.set_start_revision(static_cast<int64_t>(delivered + 1));
    create.set_progress_notify(true);
    std::unique_ptr<etcd::EtcdWatchStream> stream = client_->Watch(create);
    etcd::EtcdWatchStream* watch = stream.get();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        stream->Close();
        return;
      }
      feed_stream_ = std::move(stream);
    }
    absl::Time last_heard = absl::Now();
    absl::Time last_asked = absl::InfinitePast();
    absl::Status ended;
    bool lost = false;
    for (;;) {
      const absl::Time now = absl::Now();
      if (now - last_asked >= options_.progress_interval) {
        watch->RequestProgress();
        last_asked = now;
      }
      absl::StatusOr<std::optional<etcdserverpb::WatchResponse>> next =
          watch->Next(options_.progress_interval);
      if (!next.ok()) {
        ended = next.status();
        // Its member is gone or cut off: the next one, then.
        if (!absl::IsCancelled(ended)) client_->RotateEndpoint();
        break;
      }
      if (!next->has_value()) {
        if (absl::Now() - last_heard > options_.feed_silence) {
          ended = absl::UnavailableError(absl::StrCat(
              "no answer from ", client_->CurrentEndpoint(), " for ",
              absl::FormatDuration(options_.feed_silence)));
          client_->RotateEndpoint();
          break;
        }
        continue;
      }
      last_heard = absl::Now();
      const etcdserverpb::WatchResponse& response = **next;
      backoff = absl::Milliseconds(50);
      if (logged && !response.canceled()) {
        MUSTER_LOG(kInfo, "etcd watch back on %s at revision %d",
                   client_->CurrentEndpoint(), delivered);
        logged = false;
      }
      if (response.canceled()) {
        if (response.compact_revision() > 0) {
          ended = absl::OutOfRangeError(
              absl::StrCat("etcd compacted its history to revision ",
                           response.compact_revision(),
                           " while this replica was at revision ", delivered));
          lost = true;
        } else {
          ended = absl::UnavailableError(
              absl::StrCat("etcd ended the watch: ", response.cancel_reason()));
        }
        break;
      }
      if (response.created()) continue;
      if (response.events().empty()) {
        // A progress notification: everything up to the header's
        // revision has been sent.
        MarkCurrent();
        FeedUpdate update;
        update.revision = std::max<uint64_t>(
            delivered, static_cast<uint64_t>(response.header().revision()));
        sink->OnFeed(std::move(update));
        continue;
      }
      FeedUpdate update;
      bool replicas_changed = false;
      absl::Status decoded;
      for (const mvccpb::Event& event : response.events()) {
        const mvccpb::KeyValue& kv = event.kv();
        const uint64_t at = static_cast<uint64_t>(kv.mod_revision());
        if (at <= delivered) continue;
        if (update.batches.empty() || update.batches.back().revision != at) {
          update.batches.emplace_back();
          update.batches.back().revision = at;
        }
        decoded = DecodeKv(kv.key(), kv.value(),
                           event.type() == mvccpb::Event::DELETE,
                           static_cast<uint64_t>(kv.create_revision()), at,
                           update.batches.back(), replicas_changed);
        if (!decoded.ok()) break;
      }
      if (!decoded.ok()) {
        ended = decoded;
        lost = true;
        break;
      }
      if (!update.batches.empty()) {
        delivered = update.batches.back().revision;
      }
      update.revision = delivered;
      if (replicas_changed) {
        absl::MutexLock lock(&mu_);
        std::vector<ReplicaInfo> replicas;
        for (const auto& [id, address] : replicas_)
          replicas.push_back(ReplicaInfo{id, address});
        update.replicas = std::move(replicas);
      }
      sink->OnFeed(std::move(update));
    }
    {
      absl::MutexLock lock(&mu_);
      feed_stream_->Close();
      feed_stream_.reset();
      if (stopping_) return;
    }
    if (lost) {
      sink->OnFeedLost(ended);
      return;
    }
    if (!logged) {
      MUSTER_LOG(kWarning,
                 "etcd watch ended at revision %d (%s); watching again from "
                 "%d on %s",
                 delivered, ended.ToString(), delivered + 1,
                 client_->CurrentEndpoint());
      logged = true;
    }
    absl::MutexLock lock(&mu_);
    auto stop = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), backoff)) return;
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::StatusOr<std::vector<Event>> EtcdStore::ReadChangeLog(uint64_t from,
                                                            uint64_t to,
                                                            size_t limit) {
  if (from < OldestRetainedRevision()) {
    return absl::OutOfRangeError(absl::StrCat(
        "revision ", from, " has been compacted; the oldest retained is ",
        OldestRetainedRevision()));
  }
  std::vector<Event> out;
  if (from > to) return out;
  // The last change-log entry at or before `to` tells where to stop.
  etcdserverpb::RangeRequest range;
  range.set_key(LogKey());
  range.set_revision(static_cast<int64_t>(to));
  absl::StatusOr<etcdserverpb::RangeResponse> at_to = client_->Range(range);
  if (!at_to.ok()) {
    if (absl::StrContains(at_to.status().message(), "compacted")) {
      return absl::OutOfRangeError(absl::StrCat(
          "revision ", to, " has been compacted: ", at_to.status().message()));
    }
    return FromEtcd(at_to.status(), "change-log read");
  }
  if (at_to->kvs().empty()) return out;
  const uint64_t last = static_cast<uint64_t>(at_to->kvs(0).mod_revision());
  if (last < from) return out;

  etcdserverpb::WatchCreateRequest create;
  create.set_key(LogKey());
  create.set_start_revision(static_cast<int64_t>(from));
  std::unique_ptr<etcd::EtcdWatchStream> stream = client_->Watch(create);
  const absl::Time deadline = absl::Now() + options_.client.call_timeout;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      stream->Close();
      return absl::UnavailableError("etcd change-log read: no answer in time");
    }
    absl::StatusOr<std::optional<etcdserverpb::WatchResponse>> next =
        stream->Next(left);
    if (!next.ok()) return FromEtcd(next.status(), "change-log read");
    if (!next->has_value()) continue;
    const etcdserverpb::WatchResponse& response = **next;
    if (response.canceled()) {
      if (response.compact_revision() > 0) {
        return absl::OutOfRangeError(absl::StrCat(
            "revision ", from, " has been compacted; the oldest retained is ",
            response.compact_revision()));
      }
      return absl::UnavailableError(absl::StrCat("etcd change-log read ended: ",
                                                 response.cancel_reason()));
    }
    for (const mvccpb::Event& event : response.events()) {
      if (event.type() != mvccpb::Event::PUT) continue;
      const uint64_t at = static_cast<uint64_t>(event.kv().mod_revision());
      if (at > last) break;
      // Never split one revision's events.
      if (out.size() >= limit) {
        stream->Close();
        return out;
      }
      ASSIGN_OR_RETURN(std::vector<Event> events,
                       DecodeLog(event.kv().value(), at));
      for (Event& e : events) out.push_back(std::move(e));
      if (at == last) {
        stream->Close();
        return out;
      }
    }
  }
}

absl::Status EtcdStore::Compact(uint64_t oldest_to_keep) {
  if (oldest_to_keep <= OldestRetainedRevision()) return absl::OkStatus();
  if (absl::Status compacted =
          client_->Compact(static_cast<int64_t>(oldest_to_keep));
      !compacted.ok()) {
    return FromEtcd(compacted, "compaction");
  }
  etcdserverpb::TxnRequest txn;
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(CompactedKey());
  put->set_value(EncodeUint64(oldest_to_keep));
  absl::StatusOr<etcdserverpb::TxnResponse> written = client_->Txn(txn);
  if (!written.ok()) return FromEtcd(written.status(), "compaction mark");
  absl::MutexLock lock(&mu_);
  oldest_retained_ = std::max(oldest_retained_, oldest_to_keep);
  return absl::OkStatus();
}

uint64_t EtcdStore::OldestRetainedRevision() const {
  absl::MutexLock lock(&mu_);
  return oldest_retained_;
}

absl::Time EtcdStore::LastCurrent() const {
  absl::MutexLock lock(&mu_);
  return last_current_;
}

ReplicationStatus EtcdStore::GetStatus() const {
  ReplicationStatus status;
  status.backend = "etcd";
  status.self_id = options_.replica_id;
  status.self_address = options_.advertise_address;
  status.endpoint = client_->CurrentEndpoint();
  status.endpoints = options_.client.endpoints;
  absl::MutexLock lock(&mu_);
  status.member =
      lease_id_ != 0 && absl::Now() - lease_renewed_ < options_.lease_ttl;
  status.last_current = last_current_;
  for (const auto& [id, address] : replicas_)
    status.replicas.push_back(ReplicaInfo{id, address});
  return status;
}

}  // namespace muster::registry
