#include "registry/watch_reactor.h"

#include <utility>

#include "registry/grpc_status.h"
#include "registry/model_proto.h"

namespace muster::registry {
namespace {

muster::v1::WatchResponse::Kind KindToProto(WatchBatch::Kind kind) {
  switch (kind) {
    case WatchBatch::Kind::kSnapshot:
      return muster::v1::WatchResponse::SNAPSHOT;
    case WatchBatch::Kind::kSnapshotEnd:
      return muster::v1::WatchResponse::SNAPSHOT_END;
    case WatchBatch::Kind::kEvents:
      return muster::v1::WatchResponse::EVENTS;
  }
  return muster::v1::WatchResponse::KIND_UNSPECIFIED;
}

}  // namespace

WatchReactor::WatchReactor(WatchHub& hub, const WatchSpec& spec,
                           std::function<void(const absl::Status&)> on_finish)
    : hub_(hub), on_finish_(std::move(on_finish)) {
  absl::StatusOr<std::shared_ptr<Watcher>> watcher =
      hub_.Open(spec, [this] { Wake(); });
  if (!watcher.ok()) {
    busy_ = true;
    FinishOnce(watcher.status());
    return;
  }
  watcher_ = std::move(watcher).value();
  Wake();
}

void WatchReactor::Wake() {
  dirty_.store(true);
  Pump();
}

void WatchReactor::Pump() {
  for (;;) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true))
      return;  // the busy thread looks again
    dirty_.store(false);
    if (finished_.load()) return;  // stays busy: nothing more is written
    if (cancelled_.load()) {
      FinishOnce(absl::CancelledError("the client cancelled"));
      return;
    }
    WatchBatch batch;
    absl::Status end;
    switch (watcher_->Next(&batch, &end)) {
      case Watcher::Poll::kBatch: {
        ReturnBorrowed();
        response_.Clear();
        response_.set_kind(KindToProto(batch.kind));
        response_.set_revision(batch.revision);
        if (!batch.wire.empty()) {
          // Live events: point at the messages every watcher shares. The
          // repeated field does not own them; ReturnBorrowed takes them
          // back before the next Clear or the destructor.
          borrowed_ = std::move(batch.wire);
          for (const auto& wire : borrowed_) {
            response_.mutable_events()->UnsafeArenaAddAllocated(
                const_cast<muster::v1::Event*>(wire.get()));
          }
        } else {
          for (const Event& event : batch.events)
            ToProto(event, response_.add_events());
        }
        StartWrite(&response_);
        return;  // OnWriteDone clears busy_
      }
      case Watcher::Poll::kEnded:
        FinishOnce(end);
        return;
      case Watcher::Poll::kIdle:
        break;
    }
    busy_.store(false);
    if (!dirty_.load()) return;
  }
}

void WatchReactor::OnWriteDone(bool ok) {
  if (!ok) {
    FinishOnce(absl::CancelledError("the watch stream broke"));
    return;
  }
  busy_.store(false);
  Pump();
}

void WatchReactor::OnCancel() {
  // Finish only from the thread that holds busy_, so it never overlaps a
  // write; a write in flight completes (not ok) and finishes then.
  cancelled_.store(true);
  Wake();
}

void WatchReactor::FinishOnce(const absl::Status& status) {
  if (finished_.exchange(true)) return;
  if (on_finish_) on_finish_(status);
  Finish(ToGrpcStatus(status));
}

void WatchReactor::ReturnBorrowed() {
  if (borrowed_.empty()) return;
  response_.mutable_events()->UnsafeArenaExtractSubrange(
      0, response_.events_size(), nullptr);
  borrowed_.clear();
}

WatchReactor::~WatchReactor() { ReturnBorrowed(); }

void WatchReactor::OnDone() {
  if (watcher_ != nullptr) hub_.Close(watcher_);
  delete this;
}

}  // namespace muster::registry
