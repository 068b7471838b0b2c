#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "registry/index.h"
#include "registry/model.h"
#include "registry/watch_hub.h"

namespace muster::registry {

// ChangeLog serves the history of changes: paging through the retained
// change log (ListEvents), and watches: snapshot or replay, then live
// events, fed by the watch hub. Requests are validated like every other
// (INVALID_ARGUMENT naming the field); an empty realm means "default".
// Thread-safe; owned by Registry.
class ChangeLog final {
 public:
  // A ListEvents request.
  struct EventsQuery {
    // The realm (empty: "default"); `service` and `id` may be empty: no
    // filter.
    InstanceKey filter;
    // 0: the oldest retained revision.
    uint64_t from_revision = 0;
    // Events of from_revision to skip (an EventsPage's next_event_index).
    uint32_t from_event_index = 0;
    // 0: the default page size.
    uint32_t limit = 0;
  };
  struct EventsPage {
    std::vector<Event> events;
    // Where to continue; 0 when everything up to `revision` was scanned.
    uint64_t next_revision = 0;
    // Events of next_revision this page and those before it covered
    // (counted in the change log, matching the filter or not); 0 when the
    // page ends on a revision boundary.
    uint32_t next_event_index = 0;
    uint64_t oldest_retained_revision = 0;
    uint64_t revision = 0;
  };
  struct Stats {
    // The committed revision, and the counts read with it.
    uint64_t revision = 0;
    uint64_t instances = 0;
    uint64_t realms = 0;
    uint64_t oldest_retained_revision = 0;
    // Watchers events are delivered to (cut-off ones are not).
    size_t watchers = 0;
    // Watch streams still open, including cut-off ones not yet ended.
    size_t open_streams = 0;
    // Bytes held for the open streams (see Watcher).
    size_t held_bytes = 0;
  };

  // Borrows `index` and `hub`, which outlive it.
  ChangeLog(const Index& index, WatchHub& hub);
  ChangeLog(const ChangeLog&) = delete;
  ChangeLog& operator=(const ChangeLog&) = delete;

  // A page of the realm's retained events matching the filter, in
  // revision order: at most `limit` events and at most
  // limits::kMaxReplyBytes of them (by EncodedSizeBound), at least one
  // when there is one. A page ends on a revision boundary unless one
  // revision alone fills it; it then ends inside that revision and
  // next_event_index says where the rest starts. INVALID_ARGUMENT for a
  // bad filter or limit, or from_event_index without from_revision;
  // OUT_OF_RANGE naming the oldest retained revision when from_revision
  // was compacted; NOT_FOUND for a missing realm.
  absl::StatusOr<EventsPage> ListEvents(const EventsQuery& query);

  // Opens a watcher on `spec` (realm and service names checked as in
  // every request). `wake` runs, never under registry locks and never
  // after CloseWatch returns, when the watcher may have something to
  // send; it must not block. NOT_FOUND for a missing realm; OUT_OF_RANGE
  // naming the oldest retained revision when from_revision was compacted;
  // UNAVAILABLE after EndWatches.
  absl::StatusOr<std::shared_ptr<Watcher>> OpenWatch(
      WatchSpec spec, std::function<void()> wake);
  // Removes the watcher; after return its `wake` is never called.
  void CloseWatch(const std::shared_ptr<Watcher>& watcher);
  // Ends every watcher with UNAVAILABLE and refuses new ones: their
  // streams can finish. Idempotent; Registry::Stop calls it too.
  void EndWatches();
  // How long a cut-off stream may keep an unsent message before its
  // front end resets it.
  absl::Duration cut_off_grace() const;

  Stats GetStats() const;

 private:
  const Index& index_;
  WatchHub& hub_;
};

}  // namespace muster::registry
