#include "rpc/watch_reactor.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "rpc/grpc_status.h"
#include "rpc/watch_encoding.h"

namespace muster::registry {
namespace {

// A year: beyond it a deadline would overflow the clocks' range for no
// purpose.
constexpr absl::Duration kMaxDelay = absl::Hours(24 * 365);

std::chrono::milliseconds Millis(absl::Duration delay) {
  return absl::ToChronoMilliseconds(std::min(delay, kMaxDelay));
}

// grpc::Alarm takes a wall-clock deadline (and turns it into a monotonic
// one at once).
std::chrono::system_clock::time_point AlarmDeadline(
    std::chrono::steady_clock::duration delay) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(delay);
}

}  // namespace

WatchReactor::WatchReactor(ChangeLog& change_log, WatchPump& pump,
                           grpc::CallbackServerContext* context,
                           absl::StatusOr<WatchSpec> spec,
                           absl::Duration progress_interval,
                           std::function<void(const absl::Status&)> on_finish)
    : change_log_(change_log),
      pump_(pump),
      context_(context),
      progress_interval_(progress_interval),
      progress_notify_(spec.ok() && spec->progress_notify &&
                       progress_interval > absl::ZeroDuration() &&
                       progress_interval < absl::InfiniteDuration()),
      on_finish_(std::move(on_finish)) {
  {
    // A publish may wake the stream as soon as Open returns: it then only
    // queues a pump task, which waits for mu_.
    absl::MutexLock lock(&mu_);
    if (!spec.ok()) {
      FinishLocked(spec.status());
      return;
    }
    spec->encoder = &WireEventEncoder();
    absl::StatusOr<std::shared_ptr<Watcher>> watcher =
        change_log_.OpenWatch(*spec, [this] { Schedule(); });
    if (!watcher.ok()) {
      FinishLocked(watcher.status());
      return;
    }
    watcher_ = std::move(watcher).value();
    if (progress_notify_) {
      // A resumed watch learns at once that it has caught up: its first
      // PROGRESS is due as soon as the replay is sent (a fresh watch has
      // SNAPSHOT_END for that).
      caught_up_pending_ = spec->from_revision > 0;
      progress_due_ = std::chrono::steady_clock::now();
      if (!caught_up_pending_) progress_due_ += Millis(progress_interval_);
    }
  }
  // The snapshot is built on the pump, not on this gRPC thread.
  Schedule();
}

WatchReactor::~WatchReactor() = default;

void WatchReactor::Schedule() {
  if (scheduled_.exchange(true)) return;  // the queued task will look
  refs_.fetch_add(1);
  pump_.Post([this] { RunScheduled(); });
}

void WatchReactor::RunScheduled() {
  // Cleared first: a wake from here on queues another look.
  scheduled_.store(false);
  {
    absl::MutexLock lock(&mu_);
    PumpLocked();
  }
  Unref();
}

void WatchReactor::PumpLocked() {
  if (done_ || finished_ || watcher_ == nullptr) return;
  if (writing_) {
    // The watcher may have been cut off behind the write: a client that
    // does not read never lets the write complete. Reset the stream at
    // once when its memory is wanted back, else after the grace.
    if (!reset_ && !watcher_->EndStatus().ok()) {
      if (watcher_->ReleaseNow()) {
        reset_ = true;
        context_->TryCancel();
      } else if (!alarm_armed_) {
        ArmCutOffAlarmLocked();
      }
    }
    return;
  }
  if (cancelled_) {
    FinishLocked(absl::CancelledError("the client cancelled"));
    return;
  }
  WatchBatch batch;
  absl::Status end;
  switch (watcher_->Next(&batch, &end)) {
    case Watcher::Poll::kBatch:
      StartWriteLocked(batch);
      return;
    case Watcher::Poll::kEnded:
      FinishLocked(end);
      return;
    case Watcher::Poll::kIdle:
      IdleLocked();
      return;
  }
}

void WatchReactor::IdleLocked() {
  if (!progress_notify_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now >= progress_due_) {
    WatchBatch progress;
    const bool caught_up = watcher_->Progress(&progress);
    caught_up_pending_ = false;
    if (caught_up) {
      StartWriteLocked(progress);
      return;
    }
    // Events arrived since Next (their wake queues another look) or the
    // watch is ending: nothing to say now, maybe after another interval.
    progress_due_ = now + Millis(progress_interval_);
  }
  if (!progress_armed_) ArmProgressAlarmLocked();
}

void WatchReactor::StartWriteLocked(const WatchBatch& batch) {
  response_ = EncodeWatchResponse(batch);
  writing_ = true;
  StartWrite(&response_);
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    watcher_->Sent();
    if (progress_notify_ && !caught_up_pending_) {
      progress_due_ =
          std::chrono::steady_clock::now() + Millis(progress_interval_);
    }
    if (!ok) {
      // Broken, cancelled, or reset after a cut-off (then say why).
      absl::Status end = watcher_->EndStatus();
      FinishLocked(end.ok() ? absl::CancelledError("the watch stream broke")
                            : end);
      return;
    }
  }
  Schedule();
}

void WatchReactor::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    // With a write in flight, the write fails and OnWriteDone finishes.
    cancelled_ = true;
  }
  Schedule();
}

void WatchReactor::FinishLocked(const absl::Status& status) {
  if (finished_) return;
  finished_ = true;
  if (on_finish_) on_finish_(status);
  Finish(ToGrpcStatus(status));
}

void WatchReactor::ArmCutOffAlarmLocked() {
  alarm_armed_ = true;
  refs_.fetch_add(1);
  alarm_.Set(AlarmDeadline(Millis(change_log_.cut_off_grace())),
             [this](bool fired) { OnCutOffAlarm(fired); });
}

void WatchReactor::OnCutOffAlarm(bool fired) {
  {
    absl::MutexLock lock(&mu_);
    alarm_armed_ = false;
    // The context lives until OnDone; done_ says it is gone.
    if (fired && !done_ && writing_ && !reset_) {
      reset_ = true;
      context_->TryCancel();
    }
  }
  Unref();
}

void WatchReactor::ArmProgressAlarmLocked() {
  progress_armed_ = true;
  refs_.fetch_add(1);
  // The previous alarm has fired (its callback may still be returning).
  progress_alarm_ = std::make_unique<grpc::Alarm>();
  progress_alarm_->Set(
      AlarmDeadline(progress_due_ - std::chrono::steady_clock::now()),
      [this](bool fired) { OnProgressAlarm(fired); });
}

void WatchReactor::OnProgressAlarm(bool fired) {
  {
    absl::MutexLock lock(&mu_);
    progress_armed_ = false;
    // Queued under mu_: once OnDone has run, the server may drain the pump
    // and go away, so nothing may be queued after it.
    if (fired && !done_ && !finished_) Schedule();
  }
  Unref();
}

void WatchReactor::OnDone() {
  // After CloseWatch no hub wake runs or starts; a running one finished.
  if (watcher_ != nullptr) change_log_.CloseWatch(watcher_);
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
    response_.Clear();
    if (alarm_armed_) alarm_.Cancel();  // its callback runs, not fired
    if (progress_armed_) progress_alarm_->Cancel();
  }
  Unref();
}

void WatchReactor::Unref() {
  if (refs_.fetch_sub(1) == 1) delete this;
}

}  // namespace muster::registry
