#include "rpc/heartbeat_stream.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codec/model_proto.h"
#include "rpc/grpc_status.h"
#include "rpc/parse_errors.h"

namespace muster::registry {
namespace {

absl::Status ShuttingDown() {
  return absl::UnavailableError("musterd is shutting down");
}

// A heartbeat's result in the slot of its response.
void SetResult(const absl::Status& status,
               muster::v1::HeartbeatResult* result) {
  result->set_code(static_cast<int32_t>(status.code()));
  result->set_message(std::string(status.message()));
}

}  // namespace

HeartbeatStreams::HeartbeatStreams(Metrics& metrics)
    : open_gauge_(metrics.GetGauge(
          "muster_heartbeat_streams",
          "HeartbeatStream calls open (each carries the heartbeats of many "
          "instances).",
          {})) {}

bool HeartbeatStreams::Add(HeartbeatStreamReactor* stream) {
  absl::MutexLock lock(&mu_);
  if (ended_) return false;
  open_.insert(stream);
  open_gauge_.Set(static_cast<double>(open_.size()));
  return true;
}

void HeartbeatStreams::Remove(HeartbeatStreamReactor* stream) {
  absl::MutexLock lock(&mu_);
  open_.erase(stream);
  open_gauge_.Set(static_cast<double>(open_.size()));
}

void HeartbeatStreams::EndAll() {
  // A stream's OnDone removes it under mu_ before it may go away, so each
  // one seen here is alive while mu_ is held.
  absl::MutexLock lock(&mu_);
  ended_ = true;
  for (HeartbeatStreamReactor* stream : open_) stream->End(ShuttingDown());
}

HeartbeatStreamReactor::HeartbeatStreamReactor(
    grpc::CallbackServerContext* context, Env env)
    : context_(context), env_(std::move(env)) {
  const bool added = env_.streams->Add(this);
  absl::MutexLock lock(&mu_);
  registered_ = added;
  if (!added) {
    FinishLocked(ShuttingDown());
    return;
  }
  // EndAll may have ended the stream already.
  if (finished_ || ending_) return;
  reading_ = true;
  StartRead(&request_);
}

HeartbeatStreamReactor::~HeartbeatStreamReactor() = default;

void HeartbeatStreamReactor::OnReadDone(bool ok) {
  if (ok) {
    HandleMessage();
    return;
  }
  // Half-closed by the client, or the stream broke or was finished.
  absl::MutexLock lock(&mu_);
  reading_ = false;
  read_closed_ = true;
  AdvanceLocked();
}

void HeartbeatStreamReactor::HandleMessage() {
  muster::v1::HeartbeatStreamRequest request;
  bool parsed;
  {
    grpc::ByteBuffer copy(request_);  // shares the slices
    parsed =
        grpc::SerializationTraits<
            muster::v1::HeartbeatStreamRequest>::Deserialize(&copy, &request)
            .ok();
    request_.Clear();
  }
  if (!parsed) {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    EndLocked(absl::InvalidArgumentError(RequestBodyInvalid(
        muster::v1::HeartbeatStreamRequest::descriptor()->full_name())));
    return;
  }
  const int n = request.heartbeats_size();
  auto message = std::make_unique<Message>();
  message->response.set_sequence(request.sequence());
  // Heartbeats cleared for the registry, with their actors.
  std::vector<int> allowed;
  std::vector<std::string> actors;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || ending_) {
      reading_ = false;
      return;
    }
    if (n == 0 || n > kMaxHeartbeatsPerMessage) {
      reading_ = false;
      EndLocked(absl::InvalidArgumentError(absl::StrCat(
          "heartbeats: the message with sequence ", request.sequence(), " has ",
          n, " heartbeats; send 1 to ", kMaxHeartbeatsPerMessage)));
      return;
    }
    env_.heartbeats->Increment(static_cast<uint64_t>(n));
    allowed.reserve(n);
    actors.reserve(n);
    for (int i = 0; i < n; ++i) {
      const muster::v1::HeartbeatRequest& heartbeat = request.heartbeats(i);
      muster::v1::HeartbeatResult* result = message->response.add_results();
      // As the unary Heartbeat's MUSTER_AUTHORIZE: under mu_ because a
      // refused rate adds trailing metadata, which Finish sends.
      Caller caller;
      absl::Status status = env_.auth->Check(
          *context_, *env_.methods, env_.method, TokenRole::kWrite,
          heartbeat.realm(), heartbeat.service(), &caller);
      if (status.code() == absl::StatusCode::kResourceExhausted) {
        // Over the caller's request rate: the contract ends the stream.
        reading_ = false;
        EndLocked(status);
        return;
      }
      if (!status.ok()) {
        SetResult(status, result);
        continue;
      }
      allowed.push_back(i);
      actors.push_back(ActorLocked(caller));
    }
    pending_ += static_cast<size_t>(n);
  }
  // The results come inline or from the commit thread; the last one
  // queues the response. This reader holds one count until every
  // heartbeat is handed over, so none queues it early.
  Message* const shared = message.release();
  shared->remaining.store(static_cast<int>(allowed.size()) + 1);
  refs_.fetch_add(1);
  for (size_t k = 0; k < allowed.size(); ++k) {
    const int i = allowed[k];
    const muster::v1::HeartbeatRequest& heartbeat = request.heartbeats(i);
    env_.instances->Heartbeat(
        InstanceKey{heartbeat.realm(), heartbeat.service(), heartbeat.id()},
        heartbeat.incarnation(), std::move(actors[k]),
        [this, shared,
         i](absl::StatusOr<std::shared_ptr<const Instance>> instance) {
          muster::v1::HeartbeatResult* result =
              shared->response.mutable_results(i);
          if (instance.ok()) {
            result->set_health(HealthToProto((*instance)->health));
            result->set_admin_state(
                AdminStateToProto((*instance)->admin_state));
          } else if (instance.status().code() ==
                     absl::StatusCode::kInvalidArgument) {
            // The registry names the field of one heartbeat; name it
            // within the message.
            SetResult(absl::InvalidArgumentError(absl::StrCat(
                          "heartbeats[", i, "].", instance.status().message())),
                      result);
          } else {
            SetResult(instance.status(), result);
          }
          if (shared->remaining.fetch_sub(1) == 1) {
            Answered(std::unique_ptr<Message>(shared));
          }
        });
  }
  {
    // request_ is free again: read on when the stream allows.
    absl::MutexLock lock(&mu_);
    reading_ = false;
    AdvanceLocked();
  }
  if (shared->remaining.fetch_sub(1) == 1) {
    Answered(std::unique_ptr<Message>(shared));
  }
}

void HeartbeatStreamReactor::Answered(std::unique_ptr<Message> message) {
  Answer answer;
  answer.heartbeats = static_cast<size_t>(message->response.results_size());
  bool own_buffer = false;
  (void)
      grpc::SerializationTraits<muster::v1::HeartbeatStreamResponse>::Serialize(
          message->response, &answer.bytes, &own_buffer);
  {
    absl::MutexLock lock(&mu_);
    if (!done_) {
      if (finished_ || ending_) {
        pending_ -= answer.heartbeats;
      } else {
        queue_.push_back(std::move(answer));
      }
      AdvanceLocked();
    }
  }
  message.reset();
  Unref();
}

void HeartbeatStreamReactor::AdvanceLocked() {
  if (finished_ || done_) return;
  if (ending_) {
    if (!writing_) FinishLocked(end_status_);
    return;
  }
  if (!writing_ && !queue_.empty()) {
    writing_message_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&writing_message_.bytes);
  }
  if (read_closed_) {
    // Every message answered on the wire: done.
    if (!writing_ && pending_ == 0) FinishLocked(absl::OkStatus());
    return;
  }
  if (!reading_ && pending_ <= kMaxPending) {
    reading_ = true;
    StartRead(&request_);
  }
}

void HeartbeatStreamReactor::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  writing_ = false;
  pending_ -= writing_message_.heartbeats;
  writing_message_ = Answer();
  if (!ok) {
    EndLocked(absl::CancelledError("the heartbeat stream broke"));
    return;
  }
  AdvanceLocked();
}

void HeartbeatStreamReactor::OnCancel() {
  absl::MutexLock lock(&mu_);
  EndLocked(absl::CancelledError("the client cancelled"));
}

void HeartbeatStreamReactor::End(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  EndLocked(status);
}

void HeartbeatStreamReactor::EndLocked(const absl::Status& status) {
  if (finished_ || ending_ || done_) return;
  ending_ = true;
  end_status_ = status;
  queue_.clear();
  AdvanceLocked();
}

void HeartbeatStreamReactor::FinishLocked(const absl::Status& status) {
  if (finished_) return;
  finished_ = true;
  if (env_.on_finish) env_.on_finish(status);
  Finish(ToGrpcStatus(status));
}

const std::string& HeartbeatStreamReactor::ActorLocked(const Caller& caller) {
  if (!actor_cached_ || caller.token.get() != actor_token_) {
    actor_ = Auth::Actor(*context_, caller);
    actor_token_ = caller.token.get();
    actor_token_ref_ = caller.token;
    actor_cached_ = true;
  }
  return actor_;
}

void HeartbeatStreamReactor::OnDone() {
  if (registered_) env_.streams->Remove(this);
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
    queue_.clear();
    writing_message_ = Answer();
  }
  Unref();
}

void HeartbeatStreamReactor::Unref() {
  if (refs_.fetch_sub(1) == 1) delete this;
}

}  // namespace muster::registry
