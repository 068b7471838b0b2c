#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "registry/event_payload.h"
#include "registry/index.h"
#include "registry/limits.h"
#include "registry/model.h"
#include "registry/store.h"

namespace muster::registry {

// What a Watch asks for.
struct WatchSpec {
  std::string realm;
  // Empty: every service of the realm.
  std::string service;
  // 0: snapshot, then live events. N: every retained event >= N, then live.
  uint64_t from_revision = 0;
  // What the watcher's events are encoded with; null: ModelEventEncoder().
  const EventEncoder* encoder = nullptr;
  // The stream sends PROGRESS messages while idle (Watcher::Progress).
  bool progress_notify = false;
};

// One message of a watch stream.
struct WatchBatch {
  enum class Kind { kSnapshot, kSnapshotEnd, kEvents, kProgress };
  Kind kind = Kind::kEvents;
  std::vector<Event> events;
  // Each event's payload from the watch's encoder (parallel to `events`).
  // Live events are encoded once when published and shared by every
  // watcher with the same encoder; snapshot and replay events are encoded
  // for this stream.
  std::vector<std::shared_ptr<const EventPayload>> payloads;
  // The payloads' bytes.
  size_t bytes = 0;
  // What the batch holds while its stream writes it: the transport's
  // copy, plus the payloads themselves when they were encoded for this
  // stream alone (snapshot and replay).
  size_t held_bytes = 0;
  // The highest revision covered by what has been sent so far.
  uint64_t revision = 0;
};

// A published event with its payload, shared by every watcher with the
// same encoder.
struct PublishedEvent {
  Event event;
  std::shared_ptr<const EventPayload> payload;
  size_t bytes = 0;
};

// The events of one Publish. An event is encoded the first time a watcher
// wants it, once per encoder, and later watchers share the payload; an
// event nobody watches is never encoded. Used on the delivering thread
// only (the publishing thread, or the hub's fan-out thread).
class PublishedBatch {
 public:
  PublishedBatch(const std::vector<Event>& events,
                 const std::vector<std::string>& deleted_realms,
                 uint64_t revision)
      : events_(events), deleted_realms_(deleted_realms), revision_(revision) {}
  size_t size() const { return events_.size(); }
  const Event& event(size_t i) const { return events_[i]; }
  const std::shared_ptr<const EventPayload>& payload(
      size_t i, const EventEncoder& encoder);
  // Whether the batch deleted `realm`.
  bool Deletes(const std::string& realm) const;
  uint64_t revision() const { return revision_; }

 private:
  struct Encoded {
    const EventEncoder* encoder;
    std::vector<std::shared_ptr<const EventPayload>> payloads;
  };
  const std::vector<Event>& events_;
  const std::vector<std::string>& deleted_realms_;
  const uint64_t revision_;
  // One entry per encoder in use (in practice one per front end).
  std::vector<Encoded> encoded_;
};

class WatchHub;

// One open watch stream's queue: the snapshot or replay first, then live
// events, bounded by count and by bytes. Next() is called by one consumer
// at a time; Deliver() by the hub. Thread-safe.
//
// Every message is bounded by count and by bytes (max_message_bytes, at
// least one event), whatever the phase.
//
// Memory: a watcher holds the live events queued for it and the message
// its stream is writing (which the transport keeps until the client reads
// it). Both count against its byte budget and the hub's total, in bytes of
// encoded events, from the moment they are queued until the stream sends
// them (Sent()) or closes. A watcher that is cut off keeps what its stream
// still holds counted until the stream ends.
class Watcher final {
 public:
  enum class Poll { kBatch, kIdle, kEnded };

  Watcher(WatchHub& hub, WatchSpec spec, std::function<void()> wake);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // kBatch: `batch` holds the next message, which now counts as in flight
  // until Sent(). kIdle: nothing now; `wake` will be called when there may
  // be. kEnded: the stream must end with `*end` (RESOURCE_EXHAUSTED after
  // an overflow, OUT_OF_RANGE when the replay was compacted away,
  // NOT_FOUND once the watched realm was deleted and its deletes were
  // sent, UNAVAILABLE at shutdown).
  Poll Next(WatchBatch* batch, absl::Status* end);

  // The stream wrote the last batch: it no longer holds its bytes.
  void Sent() { SetInFlightBytes(0); }

  // A PROGRESS message, when the watcher is live and has nothing queued
  // or in flight: `batch->revision` is then the highest revision the hub
  // has delivered to every watcher, so every change this watch covers up
  // to it has been sent. False otherwise (call Next instead, or later).
  // The front end decides when (WatchSpec::progress_notify).
  bool Progress(WatchBatch* batch);
  const WatchSpec& spec() const { return spec_; }

  // OK while the watcher runs; else the status its stream ends with.
  absl::Status EndStatus() const;
  // Cut off to bring the watchers' total memory back under the limit: the
  // stream should not wait for its write in flight before it ends.
  bool ReleaseNow() const;

  // The bytes of the message the stream is writing now (0 once written).
  void SetInFlightBytes(size_t bytes);

  // Bytes held for this watcher: queued events plus the message in flight.
  size_t HeldBytes() const;

 private:
  friend class WatchHub;
  enum class Phase { kSnapshot, kSnapshotEnd, kReplay, kLive };

  bool Wanted(const Event& event) const;
  Poll NextLocked(WatchBatch* batch, absl::Status* end)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds `event` (encoded here) to a snapshot or replay batch unless the
  // batch is full by bytes; returns false when it did not fit.
  bool AddConverted(WatchBatch* batch, Event event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the wanted events of `batches` (in revision order) and wakes
  // the stream once; returns true when this overflowed the buffer and
  // ended the watcher.
  bool Deliver(std::vector<PublishedBatch>& batches);
  // The watched realm was deleted at `revision`: nothing after it is
  // delivered, and the watcher ends once everything up to it was sent.
  void RealmDeletedLocked(uint64_t revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void End(absl::Status status);
  // Ends the watcher for falling behind.
  void CutOffLocked(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cuts the watcher off to release memory (WatchHub::Reclaim); false when
  // it had already ended.
  bool CutOffForTotal();
  // Ends the watcher with `status`; what it queued is let go.
  void EndLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds `delta` to the bytes held for it, here and in the hub's totals.
  void AddHeldLocked(int64_t delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Wake();
  void Detach();

  WatchHub& hub_;
  const WatchSpec spec_;
  const EventEncoder& encoder_;

  mutable absl::Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kLive;
  std::vector<std::shared_ptr<const Instance>> snapshot_ ABSL_GUARDED_BY(mu_);
  size_t snapshot_pos_ ABSL_GUARDED_BY(mu_) = 0;
  // Live events with revision <= start_after_ are already covered by the
  // snapshot or the replay.
  uint64_t start_after_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t replay_next_ ABSL_GUARDED_BY(mu_) = 0;
  // Replayed events read from the store but not sent yet (a message is
  // bounded by bytes, a store read by count).
  std::deque<Event> replay_buffer_ ABSL_GUARDED_BY(mu_);
  std::deque<PublishedEvent> live_ ABSL_GUARDED_BY(mu_);
  absl::Status ended_ ABSL_GUARDED_BY(mu_);
  uint64_t sent_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // Encoded bytes of live_.
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Encoded bytes of the message the stream is writing.
  size_t in_flight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool release_now_ ABSL_GUARDED_BY(mu_) = false;
  // The revision that deleted the watched realm (0: not deleted). A watch
  // never goes on into a realm re-created under the same name.
  uint64_t realm_deleted_at_ ABSL_GUARDED_BY(mu_) = 0;

  // Held shared while `wake_` runs, exclusively by Detach, so that after
  // Detach returns `wake_` never runs again.
  absl::Mutex wake_mu_;
  std::function<void()> wake_ ABSL_GUARDED_BY(wake_mu_);
};

// WatchHub fans committed events out to watchers and keeps a bounded tail
// of recent events in memory for cheap resumption; older retained events
// are read from the store. Publish never blocks on a watcher: a watcher
// that falls more than `buffer_events` behind is ended. Thread-safe.
//
// The fan-out stage (Options::fan_out_thread, the daemon's mode). Publish
// only appends the committed batch to a queue and returns; the hub's
// fan-out thread takes everything queued, in revision order, and delivers
// it to every watcher (one wake per watcher for all it took). So the
// committer acknowledges writes right after the index applied them,
// however many watchers there are, while the index may be ahead of what
// the watchers were given:
//   - Open takes its start from the index (a snapshot at revision R, or a
//     replay up to R) and the watcher skips live events <= R. A batch the
//     fan-out thread takes before the watcher is registered was applied
//     to the index before the watcher's start was read (Publish follows
//     the index's Apply, and the thread takes batches before it looks at
//     the watchers), so it is <= R: nothing is lost, nothing doubled.
//   - PublishedRevision is what every watcher was given; it trails the
//     index while batches wait. Progress messages use it.
//   - A watch opened after a write was acknowledged starts at or after
//     the write's revision: it sees the write in its snapshot or replay.
//   - Back-pressure: when the queue holds fan_out_queue_events events,
//     Publish (the committer) waits for the thread, so memory stays
//     bounded when the watchers need more CPU than there is; each such
//     wait counts in muster_watch_fanout_stalls_total. Watchers that do
//     not read are cut off as before and never hold the thread back.
//   - Shutdown ends every watcher with UNAVAILABLE and drops what is
//     queued (it was for them only); later Publish calls only keep the
//     tail for ListEvents.
class WatchHub final {
 public:
  struct Options {
    size_t buffer_events = limits::kWatchBufferEvents;
    size_t max_events_per_message = limits::kWatchMaxEventsPerMessage;
    // A live message stops growing at this many bytes (at least one event).
    size_t max_message_bytes = limits::kWatchMaxMessageBytes;
    // What one watcher may hold, and all of them together (see Watcher).
    size_t buffer_bytes = limits::kWatchBufferBytes;
    size_t memory_limit_bytes = limits::kWatchMemoryLimitBytes;
    // How long a cut-off stream may keep an unsent message before it is
    // reset (the stream adapter enforces it).
    absl::Duration cut_off_grace =
        absl::Milliseconds(limits::kWatchCutOffGraceMs);
    // Recent events kept in memory.
    size_t tail_events = 20000;
    // Runs (on the closing thread) when a watcher that was cut off, or that
    // held at least a MiB, closes: a lot of memory was just freed.
    std::function<void()> on_release;
    // False: Publish delivers to every watcher before it returns. True:
    // Publish hands the batch to the hub's fan-out thread and returns (see
    // the class comment).
    bool fan_out_thread = false;
    // With fan_out_thread: Publish waits while the queue holds this many
    // events (or more) until the fan-out thread has delivered them. A
    // batch is queued whole, however large.
    size_t fan_out_queue_events = 65536;
  };

  WatchHub(Store& store, const Index& index, Metrics& metrics, Options options);
  // Shuts down and joins the fan-out thread.
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Opens a watcher. `wake` runs (never under hub locks, never after
  // Close returns) when the watcher may have something to send; it must
  // not block. NOT_FOUND for a missing realm; OUT_OF_RANGE naming the
  // oldest retained revision when from_revision was compacted; UNAVAILABLE
  // after Shutdown.
  absl::StatusOr<std::shared_ptr<Watcher>> Open(const WatchSpec& spec,
                                                std::function<void()> wake);
  // Removes the watcher; after return its `wake` is never called.
  void Close(const std::shared_ptr<Watcher>& watcher);

  // Called by the committer, in revision order, after the index applied
  // the batch: its events, the realms it deleted and its revision.
  // Watchers of a deleted realm receive the realm's deletes and then end
  // with NOT_FOUND. With fan_out_thread the batch is delivered after
  // Publish returns (Publish waits only beyond fan_out_queue_events);
  // else before. Either way ReadRange has it on return.
  void Publish(const std::vector<Event>& events,
               const std::vector<std::string>& deleted_realms = {},
               uint64_t revision = 0);

  // Retained events with from <= revision <= to, at most about `limit`.
  absl::StatusOr<std::vector<Event>> ReadRange(uint64_t from, uint64_t to,
                                               size_t limit);

  // Ends every watcher with UNAVAILABLE and refuses new ones; drops the
  // batches the fan-out thread has not taken. Idempotent.
  void Shutdown();

  // Watchers events are delivered to (cut-off ones are not).
  size_t WatcherCount() const;
  // The highest published revision every watcher has been given (with
  // fan_out_thread it trails the index while batches wait).
  uint64_t PublishedRevision() const { return published_revision_.load(); }
  // Watchers whose streams are still open, including cut-off ones that
  // have not ended yet.
  size_t OpenCount() const { return open_watchers_.load(); }
  // Bytes held for every open watcher, cut off or not (see Watcher).
  size_t HeldBytes() const {
    return static_cast<size_t>(live_bytes_.load() + ended_bytes_.load());
  }
  const Options& options() const { return options_; }
  uint64_t OldestRetainedRevision() const {
    return store_.OldestRetainedRevision();
  }

 private:
  friend class Watcher;

  // When the watchers that still run hold more than memory_limit_bytes,
  // cuts off the ones holding more than an even share, largest first,
  // until they hold no more than the limit. What the cut-off ones still
  // hold is released as their streams end, at once (ReleaseNow). Never
  // called with a watcher's or the hub's lock held.
  void Reclaim();
  // A batch waiting for the fan-out thread.
  struct Queued {
    std::vector<Event> events;
    std::vector<std::string> deleted_realms;
    uint64_t revision = 0;
  };
  // Keeps `events` in the tail (whole revisions).
  void AppendTail(const std::vector<Event>& events);
  // Delivers `batches` (in revision order) to every watcher, then raises
  // PublishedRevision.
  void FanOut(std::vector<PublishedBatch>& batches);
  // The fan-out thread: delivers what Publish queued until Shutdown.
  void FanOutLoop();
  // Stops delivering to watchers that were cut off, and counts them.
  void ForgetCutOff(const std::vector<std::shared_ptr<Watcher>>& cut);
  bool OverTotal() const {
    return live_bytes_.load() >
           static_cast<int64_t>(options_.memory_limit_bytes);
  }

  Store& store_;
  const Index& index_;
  const Options options_;
  Counter& cut_off_;
  Counter& stalls_;
  // Bytes held by watchers that run, and by cut-off ones not yet closed.
  std::atomic<int64_t> live_bytes_{0};
  std::atomic<int64_t> ended_bytes_{0};
  std::atomic<bool> reclaiming_{false};
  std::atomic<uint64_t> published_revision_{0};
  // Watchers the hub delivers to (not yet cut off or closed).
  std::atomic<size_t> watcher_count_{0};
  // Watchers whose streams are still open, cut off or not.
  std::atomic<size_t> open_watchers_{0};

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;

  // Apart from mu_, so that Publish never waits for an Open's snapshot.
  absl::Mutex tail_mu_;
  std::deque<Event> tail_ ABSL_GUARDED_BY(tail_mu_);

  // The fan-out stage (fan_out_thread only).
  absl::Mutex queue_mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(queue_mu_);
  // Events queued or being delivered (a batch without events counts 1).
  size_t queued_events_ ABSL_GUARDED_BY(queue_mu_) = 0;
  bool stop_fan_out_ ABSL_GUARDED_BY(queue_mu_) = false;
  // Last: started once everything above is constructed.
  std::thread fan_out_;
};

}  // namespace muster::registry
