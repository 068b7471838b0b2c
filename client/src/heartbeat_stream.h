#pragma once

// The heartbeats of a Client's registrations on one HeartbeatStream call
// to musterd. Internal to the library (not installed).

#include <grpcpp/alarm.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "muster/v1/registry.grpc.pb.h"

namespace muster::client::internal {

class DaemonConnection;

// Cancels a call's context when a timeout passes before Disarm. The
// gRPC alarm's callback always runs once (fired or cancelled); Disarm
// waits for it, so the context may be destroyed afterwards.
// Not thread-safe.
class CallWatchdog final {
 public:
  // `context` outlives Disarm; a zero timeout arms nothing.
  CallWatchdog(grpc::ClientContext* context, std::chrono::milliseconds timeout);
  ~CallWatchdog() { Disarm(); }
  CallWatchdog(const CallWatchdog&) = delete;
  CallWatchdog& operator=(const CallWatchdog&) = delete;

  // Stops the alarm; true when it fired (the call was cancelled).
  bool Disarm();

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool ran = false;
    bool fired = false;
  };
  std::shared_ptr<State> state_;
  grpc::Alarm alarm_;
  bool armed_ = false;
};

// One long-lived HeartbeatStream to the current daemon, shared by every
// registration of a Client: each heartbeat is a message of its own,
// answered before the next is sent (heartbeats are rare; a round trip on
// an open stream costs the daemon far less than a unary call). The
// stream is opened on first use, reopened after it broke or when the
// current daemon changed, and closed by the destructor.
//
// A daemon that answers UNIMPLEMENTED (a musterd before HeartbeatStream)
// gets unary Heartbeat calls from then on. Thread-safe (heartbeats are
// serialized).
class HeartbeatStream final {
 public:
  // `connection` outlives this object.
  explicit HeartbeatStream(DaemonConnection& connection);
  ~HeartbeatStream();
  HeartbeatStream(const HeartbeatStream&) = delete;
  HeartbeatStream& operator=(const HeartbeatStream&) = delete;

  // One heartbeat to daemon `index`, answered within the call timeout:
  // what a unary Heartbeat would answer (the result's code and message,
  // `response` filled when OK), or the stream's failure (UNAVAILABLE when
  // the daemon could not be reached or ended the stream,
  // DEADLINE_EXCEEDED when it did not answer in time). A stream that
  // broke while idle (a restarted daemon) is reopened once at once.
  grpc::Status Heartbeat(size_t index, const v1::HeartbeatRequest& request,
                         v1::HeartbeatResponse* response);

  // Streams opened so far (for tests).
  uint64_t streams_opened() const;

 private:
  using Stream = grpc::ClientReaderWriter<v1::HeartbeatStreamRequest,
                                          v1::HeartbeatStreamResponse>;
  enum class Attempt { kAnswered, kBroken, kUnimplemented };

  Attempt TryLocked(size_t index, const v1::HeartbeatRequest& request,
                    v1::HeartbeatResponse* response, grpc::Status* status);
  // Ends the stream (half-close, then cancel if the daemon is slow).
  void CloseLocked();
  grpc::Status UnaryLocked(size_t index, const v1::HeartbeatRequest& request,
                           v1::HeartbeatResponse* response);

  DaemonConnection& connection_;

  mutable std::mutex mu_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<Stream> stream_;
  size_t stream_index_ = 0;
  uint64_t next_sequence_ = 1;
  uint64_t opened_ = 0;
  // Per daemon address: it has no HeartbeatStream.
  std::vector<bool> unary_only_;
};

}  // namespace muster::client::internal
