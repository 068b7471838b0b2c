#pragma once

// What musterd replicas (--store etcd) say to each other: heartbeats a
// replica accepted for instances another replica checks are forwarded to
// that replica, batched (muster.internal.v1.Peer).

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "muster/internal/v1/peer.grpc.pb.h"
#include "registry/registry.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace muster::registry {

// The metadata key a replica's calls to another carry the peer secret in.
inline constexpr char kPeerSecretMetadata[] = "muster-peer-secret";

// Serves muster.internal.v1.Peer: takes forwarded heartbeats from
// replicas that present the store's peer secret (UNAUTHENTICATED
// otherwise). Thread-safe.
class PeerService final : public muster::internal::v1::Peer::CallbackService {
 public:
  // Borrows `registry`, which outlives the service.
  PeerService(Registry& registry, std::string secret, Metrics& metrics);

  grpc::ServerUnaryReactor* ForwardHeartbeats(
      grpc::CallbackServerContext* context,
      const muster::internal::v1::ForwardHeartbeatsRequest* request,
      muster::internal::v1::ForwardHeartbeatsResponse* response) override;

 private:
  Registry& registry_;
  const std::string secret_;
  Counter& received_;
  Counter& refused_;
};

// HeartbeatForwarder queues heartbeats per owning replica and sends each
// queue as one ForwardHeartbeats call every `interval` (or sooner when a
// queue reaches `max_batch`), from a thread of its own. A call that fails
// is logged (rate-limited) and its heartbeats dropped: the client's next
// heartbeat comes within a third of its TTL, and an instance whose owner
// changed meanwhile starts with the restart grace there. Thread-safe.
class HeartbeatForwarder final {
 public:
  struct Options {
    std::string self_id;
    std::string secret;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    absl::Duration interval = absl::Milliseconds(50);
    size_t max_batch = 2000;
    absl::Duration call_timeout = absl::Seconds(2);
  };
  HeartbeatForwarder(Options options, Metrics& metrics);
  // Stops the thread; queued heartbeats are dropped.
  ~HeartbeatForwarder();
  HeartbeatForwarder(const HeartbeatForwarder&) = delete;
  HeartbeatForwarder& operator=(const HeartbeatForwarder&) = delete;

  // The CheckerBridge's HeartbeatForwarder. Never blocks on the network.
  void Forward(const ReplicaInfo& owner, const InstanceKey& key,
               uint64_t incarnation);

 private:
  void Loop();
  // Sends one batch to `address`.
  void Send(const std::string& address,
            muster::internal::v1::ForwardHeartbeatsRequest& batch);

  const Options options_;
  Counter& sent_;
  Counter& dropped_;

  absl::Mutex mu_;
  // By the owner's address.
  std::map<std::string, muster::internal::v1::ForwardHeartbeatsRequest> queues_
      ABSL_GUARDED_BY(mu_);
  bool flush_now_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Forwarder thread only.
  std::map<std::string, std::unique_ptr<muster::internal::v1::Peer::Stub>>
      stubs_;
  absl::Time last_error_log_ = absl::InfinitePast();
  std::thread thread_;
};

}  // namespace muster::registry
