// heartbeat --keep-alive: heartbeat an instance until interrupted, like
// `etcdctl lease keep-alive`.

#include <grpcpp/alarm.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/errors.h"

namespace muster::cli {
namespace {

constexpr absl::Duration kDefaultInterval = absl::Seconds(10);
constexpr absl::Duration kMinInterval = absl::Milliseconds(100);
constexpr absl::Duration kInitialBackoff = absl::Milliseconds(200);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

// A third of the TTL leaves room for two lost heartbeats.
absl::Duration DefaultInterval(const v1::Instance& instance) {
  const v1::CheckSpec& check = instance.check();
  if (check.kind() == v1::CHECK_KIND_TTL) {
    absl::Duration ttl = FromProtoDuration(check.ttl());
    if (ttl > absl::ZeroDuration()) return ttl / 3;
  }
  return kDefaultInterval;
}

// The daemon could not be asked: retried. Anything else is its answer.
bool IsTransient(const absl::Status& status) {
  return ClassOf(status) == ErrorClass::kUnreachable ||
         status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

// Cancels a call when `timeout` passes before Disarm (the client
// library's CallWatchdog). gRPC runs the alarm's callback once, fired or
// cancelled; Disarm waits for it, so the context may go afterwards.
class Watchdog final {
 public:
  Watchdog(grpc::ClientContext* context, absl::Duration timeout)
      : state_(std::make_shared<State>()) {
    std::shared_ptr<State> state = state_;
    alarm_.Set(
        std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout),
        [state, context](bool fired) {
          if (fired) context->TryCancel();
          std::lock_guard<std::mutex> lock(state->mu);
          state->fired = fired;
          state->ran = true;
          state->cv.notify_all();
        });
  }
  ~Watchdog() { Disarm(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // True when the call was cancelled.
  bool Disarm() {
    if (armed_) {
      armed_ = false;
      alarm_.Cancel();
    }
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->cv.wait(lock, [this] { return state_->ran; });
    return state_->fired;
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool ran = false;
    bool fired = false;
  };
  std::shared_ptr<State> state_;
  grpc::Alarm alarm_;
  bool armed_ = true;
};

// The keep-alive's heartbeats on one HeartbeatStream, each answered
// within --timeout; unary Heartbeat calls once the daemon answers
// UNIMPLEMENTED (a musterd before HeartbeatStream). Statuses as
// Client::Call gives them.
class Heartbeater final {
 public:
  explicit Heartbeater(Client& client) : client_(client) {}
  ~Heartbeater() { Close(); }
  Heartbeater(const Heartbeater&) = delete;
  Heartbeater& operator=(const Heartbeater&) = delete;

  absl::StatusOr<v1::HeartbeatResponse> Beat(
      const v1::HeartbeatRequest& request) {
    for (int attempt = 0; attempt < 2 && !unary_; ++attempt) {
      // A stream that sat open may have died with a restarted daemon: one
      // more try on a fresh one.
      const bool reused = stream_ != nullptr;
      grpc::Status status;
      if (Exchange(request, &status)) {
        if (!status.ok()) return client_.ToStatus(status);
        return response_;
      }
      if (unary_) break;
      if (!reused || status.error_code() == grpc::DEADLINE_EXCEEDED) {
        return client_.ToStatus(status);
      }
    }
    return client_.Call(client_.registry(),
                        &v1::Registry::StubInterface::Heartbeat, request);
  }

 private:
  using Stream = grpc::ClientReaderWriterInterface<v1::HeartbeatStreamRequest,
                                                   v1::HeartbeatStreamResponse>;

  // True with the heartbeat's own result in `status` (and response_);
  // false when the stream failed (`status`; unary_ set for UNIMPLEMENTED).
  bool Exchange(const v1::HeartbeatRequest& request, grpc::Status* status) {
    const bool fresh = stream_ == nullptr;
    if (fresh) context_ = std::make_unique<grpc::ClientContext>();
    Watchdog watchdog(context_.get(), client_.timeout());
    if (fresh) stream_ = client_.registry().HeartbeatStream(context_.get());
    v1::HeartbeatStreamRequest message;
    const uint64_t sequence = ++sequence_;
    message.set_sequence(sequence);
    *message.add_heartbeats() = request;
    v1::HeartbeatStreamResponse answer;
    const bool exchanged = stream_->Write(message) && stream_->Read(&answer);
    const bool answered = exchanged && answer.sequence() == sequence &&
                          answer.results_size() == 1;
    const bool fired = watchdog.Disarm();
    if (answered) {
      const v1::HeartbeatResult& result = answer.results(0);
      *status = grpc::Status(static_cast<grpc::StatusCode>(result.code()),
                             result.message());
      response_.set_health(result.health());
      response_.set_admin_state(result.admin_state());
      if (fired) Drop();
      return true;
    }
    if (exchanged) context_->TryCancel();
    grpc::Status end = stream_->Finish();
    stream_.reset();
    context_.reset();
    if (fired) {
      *status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                             "no heartbeat answer within --timeout");
    } else if (end.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      unary_ = true;
    } else if (end.ok() || exchanged) {
      *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             "the heartbeat stream ended without an answer");
    } else {
      *status = end;
    }
    return false;
  }

  void Drop() {
    if (stream_ == nullptr) return;
    context_->TryCancel();
    (void)stream_->Finish();
    stream_.reset();
    context_.reset();
  }

  // Half-closes and waits (at most --timeout) for the daemon to end the
  // stream.
  void Close() {
    if (stream_ == nullptr) return;
    {
      Watchdog watchdog(context_.get(), client_.timeout());
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

  Client& client_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<Stream> stream_;
  uint64_t sequence_ = 0;
  bool unary_ = false;
  v1::HeartbeatResponse response_;
};

}  // namespace

absl::Status RunKeepAlive(Context& ctx, const HeartbeatArgs& args) {
  const InstanceRef& ref = args.target.ref;
  const std::string name = absl::StrCat(ref.service, "/", ref.id);
  absl::StatusOr<std::optional<uint64_t>> given =
      ParseOptionalUnsigned("--incarnation", args.target.incarnation);
  if (!given.ok()) return given.status();
  std::optional<absl::Duration> interval;
  if (args.interval.has_value()) {
    absl::StatusOr<absl::Duration> d =
        ParseDuration("--interval", *args.interval);
    if (!d.ok()) return d.status();
    if (*d < kMinInterval) {
      return UsageError("--interval: want at least 100ms");
    }
    interval = *d;
  }

  uint64_t incarnation = given->value_or(0);
  if (!given->has_value() || !interval.has_value()) {
    v1::GetInstanceRequest get;
    get.set_realm(ctx.realm);
    get.set_service(ref.service);
    get.set_id(ref.id);
    absl::StatusOr<v1::Instance> instance = ctx.client.Call(
        ctx.client.registry(), &v1::Registry::StubInterface::GetInstance, get);
    if (!instance.ok()) return instance.status();
    if (!given->has_value()) incarnation = instance->create_revision();
    if (!interval.has_value()) interval = DefaultInterval(*instance);
  }
  ctx.err << "musterctl: heartbeat: keeping " << name << " (incarnation "
          << incarnation << ") alive, one heartbeat every "
          << FormatCompactDuration(*interval) << "; interrupt to stop"
          << std::endl;

  v1::HeartbeatRequest request;
  request.set_realm(ctx.realm);
  request.set_service(ref.service);
  request.set_id(ref.id);
  request.set_incarnation(incarnation);
  absl::Duration backoff = kInitialBackoff;
  const absl::Duration max_backoff = std::min(*interval, kMaxBackoff);
  Heartbeater heartbeater(ctx.client);
  while (!ctx.interrupted()) {
    absl::StatusOr<v1::HeartbeatResponse> response = heartbeater.Beat(request);
    if (response.ok()) {
      backoff = kInitialBackoff;
      if (ctx.output.format == Format::kJson) {
        absl::StatusOr<std::string> line =
            ToJson(*response, JsonLayout::kOneLine);
        if (!line.ok()) return line.status();
        ctx.out << *line << std::endl;
      } else {
        ctx.out << FormatRfc3339(ctx.now()) << "  " << name << " incarnation "
                << incarnation << ": health "
                << PaintHealth(HealthName(response->health()),
                               response->health(), ctx.output.colour)
                << ", admin state "
                << PaintAdminState(AdminStateName(response->admin_state()),
                                   response->admin_state(), ctx.output.colour)
                << std::endl;
      }
      ctx.sleep(*interval);
      continue;
    }
    const absl::Status& status = response.status();
    if (status.code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(
          name,
          " is gone (deregistered or evicted); stopped keeping it alive (",
          status.message(), ")"));
    }
    if (status.code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, " was registered again: incarnation ", incarnation,
                       " is no longer current; stopped keeping it alive (",
                       status.message(), ")"));
    }
    if (!IsTransient(status)) return status;
    ctx.err << "musterctl: heartbeat: " << status.message() << "; retrying in "
            << FormatCompactDuration(backoff) << std::endl;
    ctx.sleep(backoff);
    backoff = std::min(backoff * 2, max_backoff);
  }
  ctx.err << "musterctl: heartbeat: interrupted; stopped" << std::endl;
  return absl::OkStatus();
}

}  // namespace muster::cli
