#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "muster/v1/types.pb.h"
#include "registry/common/metrics.h"
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
};

// One message of a watch stream.
struct WatchBatch {
  enum class Kind { kSnapshot, kSnapshotEnd, kEvents };
  Kind kind = Kind::kEvents;
  std::vector<Event> events;
  // For live events: each event's message, converted once when it was
  // published and shared by every watcher (parallel to `events`). Empty for
  // snapshot and replay batches, which are converted per stream.
  std::vector<std::shared_ptr<const muster::v1::Event>> wire;
  // The highest revision covered by what has been sent so far.
  uint64_t revision = 0;
};

// A published event with its message, shared by every watcher.
struct PublishedEvent {
  Event event;
  std::shared_ptr<const muster::v1::Event> wire;
};

// The events of one Publish. An event becomes a message the first time a
// watcher wants it, once, and later watchers share it; an event nobody
// watches is never converted. Used on the publishing thread only.
class PublishedBatch {
 public:
  explicit PublishedBatch(const std::vector<Event>& events)
      : events_(events), wire_(events.size()) {}
  size_t size() const { return events_.size(); }
  const Event& event(size_t i) const { return events_[i]; }
  const std::shared_ptr<const muster::v1::Event>& wire(size_t i);

 private:
  const std::vector<Event>& events_;
  std::vector<std::shared_ptr<const muster::v1::Event>> wire_;
};

class WatchHub;

// One open watch stream's queue: the snapshot or replay first, then live
// events, bounded. Next() is called by one consumer at a time; Deliver()
// by the hub. Thread-safe.
class Watcher final {
 public:
  enum class Poll { kBatch, kIdle, kEnded };

  Watcher(WatchHub& hub, WatchSpec spec, size_t buffer_events,
          size_t max_per_message, std::function<void()> wake);
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // kBatch: `batch` holds the next message. kIdle: nothing now; `wake`
  // will be called when there may be. kEnded: the stream must end with
  // `*end` (RESOURCE_EXHAUSTED after an overflow, OUT_OF_RANGE when the
  // replay was compacted away, UNAVAILABLE at shutdown).
  Poll Next(WatchBatch* batch, absl::Status* end);

 private:
  friend class WatchHub;
  enum class Phase { kSnapshot, kSnapshotEnd, kReplay, kLive };

  bool Wanted(const Event& event) const;
  // Queues the wanted events; returns true when this overflowed the
  // buffer and ended the watcher.
  bool Deliver(PublishedBatch& events);
  void End(absl::Status status);
  void Wake();
  void Detach();

  WatchHub& hub_;
  const WatchSpec spec_;
  const size_t buffer_events_;
  const size_t max_per_message_;

  absl::Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kLive;
  std::vector<std::shared_ptr<const Instance>> snapshot_ ABSL_GUARDED_BY(mu_);
  size_t snapshot_pos_ ABSL_GUARDED_BY(mu_) = 0;
  // Live events with revision <= start_after_ are already covered by the
  // snapshot or the replay.
  uint64_t start_after_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t replay_next_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<PublishedEvent> live_ ABSL_GUARDED_BY(mu_);
  absl::Status ended_ ABSL_GUARDED_BY(mu_);
  uint64_t sent_revision_ ABSL_GUARDED_BY(mu_) = 0;

  // Held shared while `wake_` runs, exclusively by Detach, so that after
  // Detach returns `wake_` never runs again.
  absl::Mutex wake_mu_;
  std::function<void()> wake_ ABSL_GUARDED_BY(wake_mu_);
};

// WatchHub fans committed events out to watchers and keeps a bounded tail
// of recent events in memory for cheap resumption; older retained events
// are read from the store. Publish never blocks on a watcher: a watcher
// that falls more than `buffer_events` behind is ended. Thread-safe.
class WatchHub final {
 public:
  struct Options {
    size_t buffer_events = limits::kWatchBufferEvents;
    size_t max_events_per_message = limits::kWatchMaxEventsPerMessage;
    // Recent events kept in memory.
    size_t tail_events = 20000;
  };

  WatchHub(Store& store, const Index& index, Metrics& metrics, Options options);
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
  // the events' batch.
  void Publish(const std::vector<Event>& events);

  // Retained events with from <= revision <= to, at most about `limit`.
  absl::StatusOr<std::vector<Event>> ReadRange(uint64_t from, uint64_t to,
                                               size_t limit);

  // Ends every watcher with UNAVAILABLE and refuses new ones.
  void Shutdown();

  size_t WatcherCount() const;
  uint64_t OldestRetainedRevision() const {
    return store_.OldestRetainedRevision();
  }

 private:
  Store& store_;
  const Index& index_;
  const Options options_;
  Counter& cut_off_;

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> tail_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace muster::registry
