#include "client/src/heartbeat_stream.h"

#include <utility>

#include "client/src/daemon_connection.h"

namespace muster::client::internal {
namespace {

using std::chrono::milliseconds;

// How long closing a stream waits for the daemon's final status before
// cancelling it.
constexpr milliseconds kCloseTimeout(1000);

}  // namespace

CallWatchdog::CallWatchdog(grpc::ClientContext* context, milliseconds timeout) {
  if (timeout.count() <= 0) return;
  state_ = std::make_shared<State>();
  armed_ = true;
  std::shared_ptr<State> state = state_;
  alarm_.Set(std::chrono::system_clock::now() + timeout,
             [state, context](bool fired) {
               // The context is alive: Disarm waits for this callback.
               if (fired) context->TryCancel();
               std::lock_guard<std::mutex> lock(state->mu);
               state->fired = fired;
               state->ran = true;
               state->cv.notify_all();
             });
}

bool CallWatchdog::Disarm() {
  if (state_ == nullptr) return false;
  if (armed_) {
    armed_ = false;
    alarm_.Cancel();
  }
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait(lock, [this] { return state_->ran; });
  return state_->fired;
}

HeartbeatStream::HeartbeatStream(DaemonConnection& connection)
    : connection_(connection), unary_only_(connection.address_count(), false) {}

HeartbeatStream::~HeartbeatStream() {
  std::lock_guard<std::mutex> lock(mu_);
  CloseLocked();
}

uint64_t HeartbeatStream::streams_opened() const {
  std::lock_guard<std::mutex> lock(mu_);
  return opened_;
}

grpc::Status HeartbeatStream::Heartbeat(size_t index,
                                        const v1::HeartbeatRequest& request,
                                        v1::HeartbeatResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  grpc::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (unary_only_[index]) return UnaryLocked(index, request, response);
    const bool reused = stream_ != nullptr && stream_index_ == index;
    switch (TryLocked(index, request, response, &status)) {
      case Attempt::kAnswered:
        return status;
      case Attempt::kUnimplemented:
        unary_only_[index] = true;
        break;  // the unary call on the next round
      case Attempt::kBroken:
        // A stream that sat open may have died with its daemon (a
        // restart): one more try on a fresh one. A fresh stream's
        // failure, or a timeout, is the answer.
        if (!reused || status.error_code() == grpc::DEADLINE_EXCEEDED) {
          return status;
        }
        break;
    }
  }
  return status;
}

HeartbeatStream::Attempt HeartbeatStream::TryLocked(
    size_t index, const v1::HeartbeatRequest& request,
    v1::HeartbeatResponse* response, grpc::Status* status) {
  if (stream_ != nullptr && stream_index_ != index) CloseLocked();
  const bool fresh = stream_ == nullptr;
  if (fresh) {
    // No deadline: the stream lives on; each exchange has the watchdog.
    context_ = std::make_unique<grpc::ClientContext>();
    connection_.Prepare(*context_, milliseconds(0));
  }
  CallWatchdog watchdog(context_.get(), connection_.options().call_timeout);
  if (fresh) {
    stream_ = connection_.registry(index).HeartbeatStream(context_.get());
    stream_index_ = index;
    ++opened_;
  }
  v1::HeartbeatStreamRequest message;
  const uint64_t sequence = next_sequence_++;
  message.set_sequence(sequence);
  *message.add_heartbeats() = request;
  v1::HeartbeatStreamResponse answer;
  const bool exchanged = stream_->Write(message) && stream_->Read(&answer);
  const bool answered =
      exchanged && answer.sequence() == sequence && answer.results_size() == 1;
  const bool fired = watchdog.Disarm();
  if (answered) {
    const v1::HeartbeatResult& result = answer.results(0);
    *status = grpc::Status(static_cast<grpc::StatusCode>(result.code()),
                           result.message());
    if (status->ok()) {
      response->set_health(result.health());
      response->set_admin_state(result.admin_state());
    }
    if (fired) {
      // Cancelled just after the answer: the next heartbeat reopens.
      (void)stream_->Finish();
      stream_.reset();
      context_.reset();
    }
    return Attempt::kAnswered;
  }
  // Not what this stream promises (another message's answer): end it.
  if (exchanged) context_->TryCancel();
  grpc::Status end = stream_->Finish();
  stream_.reset();
  context_.reset();
  if (fired) {
    *status = grpc::Status(
        grpc::StatusCode::DEADLINE_EXCEEDED,
        "HeartbeatStream: no answer within " +
            std::to_string(connection_.options().call_timeout.count()) + "ms");
    return Attempt::kBroken;
  }
  if (end.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return Attempt::kUnimplemented;
  }
  if (end.ok() || exchanged) {
    end = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       "HeartbeatStream: the stream ended without an answer");
  }
  *status = end;
  return Attempt::kBroken;
}

void HeartbeatStream::CloseLocked() {
  if (stream_ == nullptr) return;
  {
    CallWatchdog watchdog(context_.get(), kCloseTimeout);
    if (stream_->WritesDone()) {
      v1::HeartbeatStreamResponse rest;
      while (stream_->Read(&rest)) {
      }
    }
    (void)stream_->Finish();
  }
  stream_.reset();
  context_.reset();
}

grpc::Status HeartbeatStream::UnaryLocked(size_t index,
                                          const v1::HeartbeatRequest& request,
                                          v1::HeartbeatResponse* response) {
  grpc::ClientContext context;
  connection_.Prepare(context, connection_.options().call_timeout);
  return connection_.registry(index).Heartbeat(&context, request, response);
}

}  // namespace muster::client::internal
