#pragma once

// A small etcd v3 client over gRPC: the unary KV, Lease, Maintenance and
// Auth calls muster needs, and watch streams. The only user of the etcd
// protos outside store/etcd/proto.
//
// Endpoints. The client holds one channel per endpoint and sends every
// call to the current one; a call that fails with UNAVAILABLE or
// DEADLINE_EXCEEDED (a dead, stopped or partitioned member) moves the
// current endpoint to the next. Reads (Range) and lease keep-alives are
// then retried once on the next endpoint (Status asks the one endpoint
// it names); writes (Txn, Compact, LeaseGrant,
// LeaseRevoke) are not: their outcome is unknown, and the caller hears
// UNAVAILABLE. Every call carries the "hasleader" metadata, so a member
// cut off from the leader refuses instead of answering stale.
//
// Auth. With a username, the client calls Auth/Authenticate and sends the
// token with every call; a call refused for an invalid or expired token
// authenticates again and is retried once.
//
// Thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/etcd/proto/rpc.pb.h"

namespace muster::etcd {

struct EtcdClientOptions {
  // "host:port", at least one.
  std::vector<std::string> endpoints;
  // TLS when any of these is set: the CA that signed the members'
  // certificates (empty: the system roots), and a client certificate and
  // key for members that require one (both or neither).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // etcd authentication when username is set.
  std::string username;
  std::string password;
  // Deadline of every unary call.
  absl::Duration call_timeout = absl::Seconds(5);
};

// One watch stream: one WatchCreateRequest, then its responses. Reads
// run on a thread of the stream's own, so Next can wait with a timeout.
// Not thread-safe, except Close, which any thread may call.
class EtcdWatchStream {
 public:
  virtual ~EtcdWatchStream() = default;
  // The next response, waiting up to `timeout`: nullopt when none came in
  // time. An error once the stream has ended: UNAVAILABLE when the member
  // went away, CANCELLED after Close, or the status etcd ended it with.
  // A response with `canceled` set (e.g. compact_revision > 0) is
  // returned as a response; the stream ends after it.
  virtual absl::StatusOr<std::optional<etcdserverpb::WatchResponse>> Next(
      absl::Duration timeout) = 0;
  // Asks for a progress notification (a response with no events whose
  // header.revision says every change up to it has been sent). False when
  // the stream has ended.
  virtual bool RequestProgress() = 0;
  // Ends the stream; Next then returns CANCELLED. Idempotent.
  virtual void Close() = 0;
};

class EtcdClient {
 public:
  // Checks the options and builds the channels; no network I/O.
  // INVALID_ARGUMENT naming the option for no endpoint, a malformed
  // endpoint or half a client key pair; FAILED_PRECONDITION naming the
  // file when a TLS file cannot be read.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(
      EtcdClientOptions options);
  virtual ~EtcdClient() = default;

  virtual absl::StatusOr<etcdserverpb::RangeResponse> Range(
      const etcdserverpb::RangeRequest& request) = 0;
  virtual absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      const etcdserverpb::TxnRequest& request) = 0;
  // A compaction to a revision that is already compacted is OK.
  virtual absl::Status Compact(int64_t revision) = 0;
  // A lease of `ttl_seconds`; the returned response has its ID.
  virtual absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(
      int64_t ttl_seconds) = 0;
  virtual absl::Status LeaseRevoke(int64_t lease_id) = 0;
  // One keep-alive of the lease: the TTL it now has in seconds; 0 or
  // less when the lease is gone (expired or revoked).
  virtual absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t lease_id) = 0;
  // Maintenance/Status of one endpoint ("host:port", one of the
  // options' endpoints), not of the current one.
  virtual absl::StatusOr<etcdserverpb::StatusResponse> Status(
      const std::string& endpoint) = 0;
  // Opens a watch stream on the current endpoint and sends `create`.
  virtual std::unique_ptr<EtcdWatchStream> Watch(
      const etcdserverpb::WatchCreateRequest& create) = 0;
  // The endpoint calls go to now.
  virtual std::string CurrentEndpoint() const = 0;
  // Moves the current endpoint to the next (a watch that saw its member
  // go quiet does this before it opens again).
  virtual void RotateEndpoint() = 0;
};

}  // namespace muster::etcd
