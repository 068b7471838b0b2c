#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "registry/replication.h"
#include "registry/store.h"
#include "store/etcd/etcd_client.h"

namespace muster::registry {

// EtcdStore keeps muster's records in an etcd v3 cluster that several
// musterd replicas share (the Kubernetes API server's model): every
// mutation is one etcd Txn compared on the modify revisions of what it
// read (Expectations), muster's revision is etcd's, and one etcd watch
// from the revision of the initial load feeds each replica's index and
// watch hub. Thread-safe.
//
// Layout under the prefix P (default "/muster/"):
//   P "realm/" name                   muster.v1.Realm
//   P "inst/" realm \0 service \0 id  muster.v1.Instance
//   P "token/" name                   muster.v1.StoredToken
//   P "log"                           the events of the revision that
//                                     wrote it (length-prefixed
//                                     muster.v1.Event); its history is
//                                     the change log
//   P "member/" replica id            the replica's advertised address,
//                                     attached to its lease
//   P "compacted"                     the oldest revision kept (8 bytes)
//   P "peer-secret"                   what replicas present to each
//                                     other (64 hex digits), made once
// Records carry no revisions of their own: create_revision (the
// incarnation) and modify_revision are the etcd key's, and the events'
// kPendingRevision becomes the revision of the log entry.
//
// Membership. Open grants a lease of lease_ttl and puts the member key
// with it; a thread renews it every third of the TTL. A renewal that
// finds the lease gone (this replica was cut off longer than the TTL)
// joins again with a new lease. Fenced batches compare the member key's
// lease, so a replica whose lease expired cannot write a verdict.
class EtcdStore final : public Store, public Replication {
 public:
  struct Options {
    etcd::EtcdClientOptions client;
    // Every key starts with it; several muster clusters may share one
    // etcd under different prefixes. Must end with '/'.
    std::string prefix = "/muster/";
    // This replica's id and where the others reach its gRPC API.
    std::string replica_id;
    std::string advertise_address;
    absl::Duration lease_ttl = absl::Seconds(5);
    // etcd's --max-txn-ops (128 by default): the most keys one batch
    // writes or compares.
    size_t max_txn_ops = 128;
    // How often the feed asks etcd to confirm that it is current, and how
    // long it waits for an answer before it takes its member as gone and
    // opens the watch on the next endpoint.
    absl::Duration progress_interval = absl::Seconds(1);
    absl::Duration feed_silence = absl::Seconds(3);
  };

  // Connects, checks that etcd answers, and joins as a replica.
  // INVALID_ARGUMENT naming the option for bad options; UNAVAILABLE when
  // etcd cannot be reached.
  static absl::StatusOr<std::unique_ptr<EtcdStore>> Open(Options options);
  // Stops the feed and the lease renewal; the lease is left to expire
  // unless Leave was called.
  ~EtcdStore() override;

  // Store.
  absl::StatusOr<StoredState> Load() override;
  // FAILED_PRECONDITION: a replicated store takes CommitReplicated.
  absl::Status Commit(const CommitBatch& batch) override;
  absl::StatusOr<std::vector<Event>> ReadChangeLog(uint64_t from, uint64_t to,
                                                   size_t limit) override;
  absl::Status Compact(uint64_t oldest_to_keep) override;
  uint64_t OldestRetainedRevision() const override;
  absl::StatusOr<std::vector<Realm>> LoadRealms() override;
  absl::StatusOr<std::vector<Token>> LoadTokens() override;
  // Always true: every write goes to etcd, which stays the judge.
  bool Writable() const override { return true; }
  absl::StatusOr<uint64_t> Reopen() override;
  Replication* replication() override { return this; }

  // Replication.
  absl::StatusOr<ReplicatedCommit> CommitReplicated(
      const CommitBatch& batch) override;
  absl::StatusOr<ReplicatedCommit> Validate(
      const Expectations& expect) override;
  size_t MaxRecordsPerCommit() const override;
  absl::Status StartFeed(uint64_t revision, FeedSink* sink) override;
  void StopFeed() override;
  std::string SelfId() const override { return options_.replica_id; }
  std::string PeerSecret() const override;
  ReplicationStatus GetStatus() const override;
  absl::Time LastCurrent() const override;
  void Leave() override;

 private:
  EtcdStore(Options options, std::unique_ptr<etcd::EtcdClient> client,
            std::unique_ptr<etcd::EtcdClient> lease_client);

  std::string RealmKey(absl::string_view name) const;
  std::string InstanceKey(const registry::InstanceKey& key) const;
  std::string InstanceRealmPrefix(absl::string_view realm) const;
  std::string TokenKey(absl::string_view name) const;
  std::string MemberKey(absl::string_view id) const;
  std::string LogKey() const;
  std::string CompactedKey() const;
  std::string PeerSecretKey() const;

  // The compares of a transaction that holds only while `expect` does.
  absl::Status AddCompares(const Expectations& expect,
                           etcdserverpb::TxnRequest& txn);
  // Sends `txn`; UNAVAILABLE or FAILED_PRECONDITION as CommitReplicated.
  absl::StatusOr<ReplicatedCommit> SendTxn(const etcdserverpb::TxnRequest& txn);

  // Reads the peer secret, creating it when no replica has yet.
  absl::Status EnsurePeerSecret();

  // Grants a lease and puts the member key with it.
  absl::Status Join();
  void RenewLoop();
  void FeedLoop(uint64_t revision);

  // Adds what one key's change means to `batch` (or to the replicas);
  // keys that are none of ours are skipped.
  absl::Status DecodeKv(const std::string& key, const std::string& value,
                        bool deleted, uint64_t create_revision,
                        uint64_t mod_revision, CommitBatch& batch,
                        bool& replicas_changed);
  // Every record under the prefix, at one revision.
  absl::StatusOr<StoredState> LoadAll();
  void MarkCurrent();

  // Constant after construction.
  const Options options_;
  const std::unique_ptr<etcd::EtcdClient> client_;
  // Renews the lease, with a deadline short enough (a quarter of the TTL)
  // that a renewal stuck on a stopped member moves to the next one before
  // the lease runs out.
  const std::unique_ptr<etcd::EtcdClient> lease_client_;

  mutable absl::Mutex mu_;
  int64_t lease_id_ ABSL_GUARDED_BY(mu_) = 0;
  // When the lease was last renewed (or granted).
  absl::Time lease_renewed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool left_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::string> replicas_ ABSL_GUARDED_BY(mu_);
  uint64_t oldest_retained_ ABSL_GUARDED_BY(mu_) = 1;
  std::string peer_secret_ ABSL_GUARDED_BY(mu_);
  absl::Time last_current_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  FeedSink* sink_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<etcd::EtcdWatchStream> feed_stream_ ABSL_GUARDED_BY(mu_);

  std::thread renew_thread_;
  std::thread feed_thread_;
};

}  // namespace muster::registry
