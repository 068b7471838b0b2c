#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/log_limiter.h"
#include "common/metrics.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "registry/registry.h"
#include "registry/token.h"
#include "xds/assignments.h"

namespace muster::xds {

class AdsStream;

// What every ADS stream shares (XdsServer owns it).
struct AdsShared {
  AdsShared(registry::Registry& registry, Metrics& metrics,
            absl::Duration push_delay, bool auth, Clock& clock);

  registry::Registry& registry;
  const bool auth;
  Clock& clock;
  Assignments assignments;
  Gauge& streams;
  Counter& pushes;
  Counter& nacks;
  Counter& refused;
  LogLimiter nack_log;

  // The open streams, so that Stop can end them.
  absl::Mutex streams_mu;
  std::set<AdsStream*> live ABSL_GUARDED_BY(streams_mu);
  bool stopped ABSL_GUARDED_BY(streams_mu) = false;

  // Ends every open stream with UNAVAILABLE and refuses new ones, then
  // stops the pushes. Idempotent.
  void Stop();
};

// One StreamAggregatedResources call (state of the world). Per type URL
// it keeps the names subscribed, the version and nonce last sent and
// what was sent; it answers a request whose names changed, takes a
// request carrying the last nonce as an ACK (or, with error_detail, a
// NACK: logged, and nothing is resent until the resources change), and
// pushes what changed when Assignments reports a change (the endpoints,
// or a realm that appeared). One write at a time;
// deletes itself when done. Thread-safe (gRPC threads and the pusher).
class AdsStream final : public grpc::ServerBidiReactor<
                            envoy::service::discovery::v3::DiscoveryRequest,
                            envoy::service::discovery::v3::DiscoveryResponse>,
                        public AssignmentListener {
 public:
  AdsStream(AdsShared& shared, grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;
  void AssignmentChanged() override;
  void Ref() override { refs_.fetch_add(1); }
  void Unref() override;

  // Shutdown: asks the stream to end with UNAVAILABLE. True when the
  // caller must then call FinishNow (no write in flight); the stream lives
  // at least until then. Called under shared_.streams_mu.
  bool BeginShutdown();
  void FinishNow();

 private:
  enum TypeIndex { kListeners = 0, kClusters = 1, kEndpoints = 2, kTypes = 3 };
  struct TypeState {
    bool requested = false;
    std::vector<std::string> names;
    uint64_t version = 0;
    std::string nonce;
    // The resources of the last response, serialized, to tell a change.
    std::string sent;
    bool sent_any = false;
    // The resources may differ from what was sent.
    bool dirty = false;
  };

  ~AdsStream() override = default;
  // Handles one request; an error ends the stream with it.
  absl::Status HandleRequest(
      const envoy::service::discovery::v3::DiscoveryRequest& request);
  // Fills `response` with the next one that differs from what was sent;
  // false when there is none.
  bool NextResponse(envoy::service::discovery::v3::DiscoveryResponse* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the next write unless one is in flight or the stream finishes.
  void Pump();
  // Ends the stream with `status` once no write is in flight.
  void RequestFinish(absl::Status status);

  AdsShared& shared_;
  std::shared_ptr<const registry::Token> token_;
  // gRPC's (until OnDone) and the pusher's; deleted at zero.
  std::atomic<int> refs_{1};

  envoy::service::discovery::v3::DiscoveryRequest request_;
  envoy::service::discovery::v3::DiscoveryResponse response_;

  absl::Mutex mu_;
  // From the first request (the node is sent only once).
  std::string node_realm_ ABSL_GUARDED_BY(mu_);
  std::string node_id_ ABSL_GUARDED_BY(mu_);
  bool have_node_ ABSL_GUARDED_BY(mu_) = false;
  TypeState types_[kTypes] ABSL_GUARDED_BY(mu_);
  uint64_t nonce_counter_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::xds
