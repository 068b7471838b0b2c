#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "muster/v1/registry.pb.h"
#include "registry/instances.h"
#include "rpc/auth.h"

namespace muster::registry {

class HeartbeatStreamReactor;

// The open HeartbeatStream calls of a server: counted in the gauge
// muster_heartbeat_streams, and ended with UNAVAILABLE at shutdown (they
// never end by themselves). Thread-safe; outlives its streams.
class HeartbeatStreams final {
 public:
  explicit HeartbeatStreams(Metrics& metrics);
  HeartbeatStreams(const HeartbeatStreams&) = delete;
  HeartbeatStreams& operator=(const HeartbeatStreams&) = delete;

  // Ends every open stream with UNAVAILABLE "musterd is shutting down"
  // (each once its write in flight completes) and refuses new ones.
  // Idempotent.
  void EndAll();

 private:
  friend class HeartbeatStreamReactor;
  // False after EndAll: the stream must end at once.
  bool Add(HeartbeatStreamReactor* stream);
  void Remove(HeartbeatStreamReactor* stream);

  Gauge& open_gauge_;
  absl::Mutex mu_;
  absl::flat_hash_set<HeartbeatStreamReactor*> open_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

// One HeartbeatStream call (muster.v1.Registry, the proto's comments are
// the contract). Thread-safe; deletes itself once gRPC is done with it and
// no heartbeat of it is still waiting for the registry.
//
// Every heartbeat takes the unary Heartbeat's path: Auth::Check with the
// caller's token for its realm and service (which also takes one request
// from the caller's rate), then Instances::Heartbeat with the same actor.
// A refusal is that heartbeat's result (UNAUTHENTICATED,
// PERMISSION_DENIED), except the request rate (RESOURCE_EXHAUSTED), which
// ends the stream. A validation error names the field within the message,
// e.g. "heartbeats[3].incarnation: required; ...".
//
// Each request message is answered by one response once all its
// heartbeats have their results: inline for most, after the synced write
// for one that commits a change of health, so responses may go out of
// order. One write is in flight at a time; answered messages queue
// behind it. The stream stops reading while more than kMaxPending
// heartbeats are read and not yet answered on the wire (a client that
// does not read its responses gets no more of its requests read), and
// reads again once the writes catch up.
//
// The stream ends with OK once the client has half-closed and every
// message is answered; with INVALID_ARGUMENT naming `heartbeats` for a
// message of 0 or more than 1,000 heartbeats, or saying that a message
// does not parse; with RESOURCE_EXHAUSTED over
// the request rate; with UNAVAILABLE at shutdown (HeartbeatStreams). An
// error ends it as soon as no write is in flight; responses still queued
// are dropped.
//
// Who calls in: gRPC reactions (OnReadDone, OnWriteDone, OnCancel,
// OnDone), the registry's heartbeat callbacks (inline in OnReadDone, or
// on the commit thread) and HeartbeatStreams::EndAll. Decisions are taken
// under mu_, which is never held while calling into the registry. The
// object cannot go away under a caller: gRPC holds a reference until
// OnDone, and every message whose heartbeats are still with the registry
// holds one; after OnDone nothing touches the context, the stream set or
// `auth`, and late results are dropped.
//
// The stream is raw (grpc::ByteBuffer) so that a message that does not
// parse is told apart from the client's half-close (the typed API reports
// both as a failed read) and ends the stream with INVALID_ARGUMENT.
class HeartbeatStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Heartbeats read and not yet answered on the wire beyond which the
  // stream stops reading.
  static constexpr size_t kMaxPending = 4096;
  // The most heartbeats in one request message.
  static constexpr int kMaxHeartbeatsPerMessage = 1000;

  struct Env {
    Instances* instances = nullptr;
    Auth* auth = nullptr;
    // The service's methods and this one's index (refusals are counted
    // and logged under it).
    const Auth::Methods* methods = nullptr;
    size_t method = 0;
    HeartbeatStreams* streams = nullptr;
    // Counts every heartbeat received (muster_heartbeats_total{via=
    // "stream"}).
    Counter* heartbeats = nullptr;
    // Runs once with the stream's final status (for metrics).
    std::function<void(const absl::Status&)> on_finish;
  };

  // Starts reading, or finishes at once with UNAVAILABLE after
  // HeartbeatStreams::EndAll. Everything in `env` outlives OnDone; the
  // registry outlives the last heartbeat's result.
  HeartbeatStreamReactor(grpc::CallbackServerContext* context, Env env);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  friend class HeartbeatStreams;
  // One request message whose heartbeats are with the registry: each
  // result is written into its own slot of `response` (pre-sized), and
  // whoever brings `remaining` to zero queues the response.
  struct Message {
    muster::v1::HeartbeatStreamResponse response;
    std::atomic<int> remaining{0};
  };

  ~HeartbeatStreamReactor() override;

  // Ends the stream with `status` (HeartbeatStreams::EndAll).
  void End(const absl::Status& status);
  void HandleMessage();
  // A message's last result is in.
  void Answered(std::unique_ptr<Message> message);
  // Starts the next write, reads again or finishes, as the state allows.
  void AdvanceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends with `status` once no write is in flight (at once if none is).
  void EndLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The actor a heartbeat of `caller` records (cached for the last token).
  const std::string& ActorLocked(const Caller& caller)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unref();

  grpc::CallbackServerContext* const context_;
  Env env_;
  // In the HeartbeatStreams set; set by the constructor.
  bool registered_ = false;
  // One for gRPC (until OnDone), one per Message with the registry.
  std::atomic<int> refs_{1};
  // The message being read: touched only by the reading thread between a
  // StartRead and the end of its OnReadDone's parse.
  grpc::ByteBuffer request_;

  // A serialized response and the heartbeats it answers.
  struct Answer {
    grpc::ByteBuffer bytes;
    size_t heartbeats = 0;
  };

  absl::Mutex mu_;
  // Answered messages waiting for the write in flight.
  std::deque<Answer> queue_ ABSL_GUARDED_BY(mu_);
  Answer writing_message_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // A read is outstanding.
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  // The client half-closed (or the stream broke): no more reads.
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  // Heartbeats read whose response has not been written yet.
  size_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  // An error ends the stream once no write is in flight.
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran: no context
  // The token the cached actor belongs to (null: none or no token).
  const Token* actor_token_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool actor_cached_ ABSL_GUARDED_BY(mu_) = false;
  std::string actor_ ABSL_GUARDED_BY(mu_);
  // Holds the token of actor_token_ so that the pointer stays unique.
  std::shared_ptr<const Token> actor_token_ref_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::registry
