#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "registry/change_log.h"
#include "registry/watch_hub.h"
#include "rpc/watch_pump.h"

namespace muster::registry {

// One Watch stream: pulls batches from its Watcher and writes them with at
// most one write in flight. Thread-safe; deletes itself once gRPC is done
// with it and nothing of its own (a queued pump task, the alarm) is
// pending.
//
// The watcher is opened and closed through the registry's ChangeLog, which
// validates the request like every other RPC's; its events come from the
// watch hub behind it.
//
// Who calls in: the hub (Wake, on the publishing thread: it only marks the
// stream and queues it on the WatchPump), gRPC reactions (OnWriteDone,
// OnCancel, OnDone: they record what happened and queue the stream), the
// pump (which builds and starts the writes) and the two alarms (cut-off and
// progress). Every decision is taken under mu_, so connect, publish,
// cut-off, progress, cancel and write completion may interleave in any
// order. The object cannot go away under a caller: OnDone waits for a
// running hub wake (ChangeLog::CloseWatch), gRPC runs OnDone only after the
// other reactions returned, and a queued pump task or a pending alarm holds
// a reference. After OnDone nothing touches the stream or its context.
//
// Progress (WatchSpec::progress_notify): a PROGRESS message goes out once
// the stream has written nothing for `progress_interval` and has nothing
// else to send, and on a resumed watch (from_revision > 0) as soon as its
// replay is sent and nothing else is, so that the client knows at once it
// has caught up. The progress alarm is armed whenever the stream goes idle
// without one pending; when it fires it only queues a pump look, and the
// pump writes the progress if the interval since the last write has passed,
// no write is in flight and the watcher says it is caught up
// (Watcher::Progress), else re-arms for the rest of the interval. A write
// in flight is never joined by a progress, so a progress never overtakes
// an event, and a stream stuck behind an unread write has no alarm armed.
//
// A cut-off stream ends with RESOURCE_EXHAUSTED once its write in flight
// completes. A client that does not read never completes it, so after the
// change log's cut_off_grace the stream is reset (the transport then frees the
// message it held for it); at once when it was cut off to bring the
// watchers' memory back under its limit.
//
// The stream is raw (grpc::ByteBuffer): each muster.v1.WatchResponse is
// assembled from the events' shared wire payloads (rpc/watch_encoding.h),
// so a live event is serialized once for every stream.
class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Opens the watcher (with the wire encoder, whatever `spec` says); when
  // `spec` is an error, or on failure (a bad name, a missing realm, a
  // compacted revision), the stream finishes at once with the error.
  // `on_finish` runs once with the final status (for metrics).
  // `progress_interval` (positive; absl::InfiniteDuration(): never) is how
  // long a stream that asked for progress stays silent before a PROGRESS.
  WatchReactor(ChangeLog& change_log, WatchPump& pump,
               grpc::CallbackServerContext* context,
               absl::StatusOr<WatchSpec> spec, absl::Duration progress_interval,
               std::function<void(const absl::Status&)> on_finish);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ~WatchReactor() override;

  // Queues the stream on the pump unless it is queued already.
  void Schedule();
  // On the pump: one look at the stream.
  void RunScheduled();
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stream is idle: writes a PROGRESS when one is due, else makes sure
  // the progress alarm is armed.
  void IdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartWriteLocked(const WatchBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Resets a cut-off stream whose write is still in flight after the grace.
  void ArmCutOffAlarmLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnCutOffAlarm(bool fired);
  void ArmProgressAlarmLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnProgressAlarm(bool fired);
  void Unref();

  ChangeLog& change_log_;
  WatchPump& pump_;
  grpc::CallbackServerContext* const context_;
  const absl::Duration progress_interval_;
  // The watch asked for PROGRESS messages (and the interval is finite).
  const bool progress_notify_;
  std::function<void(const absl::Status&)> on_finish_;
  std::shared_ptr<Watcher> watcher_;
  grpc::Alarm alarm_;
  // One for gRPC (until OnDone), one per queued pump task, one while each
  // alarm is pending.
  std::atomic<int> refs_{1};
  // A pump task is queued and has not started yet.
  std::atomic<bool> scheduled_{false};

  absl::Mutex mu_;
  // The message being written; its slices hold the events' payloads.
  grpc::ByteBuffer response_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran: no context
  bool alarm_armed_ ABSL_GUARDED_BY(mu_) = false;
  bool reset_ ABSL_GUARDED_BY(mu_) = false;  // TryCancel was called
  // A fresh alarm per arming: grpc::Alarm::Set replaces the callback a
  // fired alarm may still be running on gRPC's executor, while destroying
  // a fired alarm is safe (gRPC keeps it until its callback returned).
  std::unique_ptr<grpc::Alarm> progress_alarm_ ABSL_GUARDED_BY(mu_);
  bool progress_armed_ ABSL_GUARDED_BY(mu_) = false;
  // When a PROGRESS is due: `progress_interval_` after the last write
  // completed (or the stream opened); at once for a resumed watch until
  // its first idle moment (caught_up_pending_).
  std::chrono::steady_clock::time_point progress_due_ ABSL_GUARDED_BY(mu_);
  bool caught_up_pending_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace muster::registry
