#include "registry/change_log.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "registry/errors.h"
#include "registry/limits.h"
#include "registry/validation.h"

namespace muster::registry {
namespace {

// Bounds the events one ListEvents call scans; the caller continues from
// next_revision.
constexpr size_t kMaxScanned = 50000;
// Events read from the hub at a time.
constexpr size_t kReadChunk = 1000;

bool Matches(const InstanceKey& filter, const Instance& instance) {
  return instance.realm == filter.realm &&
         (filter.service.empty() || instance.service == filter.service) &&
         (filter.id.empty() || instance.id == filter.id);
}

// The realm (required) and the service (optional) a read is about, as
// ListInstances checks them.
absl::Status ValidateScope(const std::string& realm,
                           const std::string& service) {
  RETURN_IF_ERROR(ValidateName(realm, "realm"));
  if (!service.empty()) RETURN_IF_ERROR(ValidateName(service, "service"));
  return absl::OkStatus();
}

absl::Status ValidateFilter(const InstanceKey& filter) {
  RETURN_IF_ERROR(ValidateScope(filter.realm, filter.service));
  if (!filter.id.empty()) RETURN_IF_ERROR(ValidateInstanceId(filter.id, "id"));
  return absl::OkStatus();
}

}  // namespace

ChangeLog::ChangeLog(const Index& index, WatchHub& hub)
    : index_(index), hub_(hub) {}

absl::StatusOr<ChangeLog::EventsPage> ChangeLog::ListEvents(
    const EventsQuery& query) {
  InstanceKey filter = query.filter;
  if (filter.realm.empty()) filter.realm = kDefaultRealm;
  RETURN_IF_ERROR(ValidateFilter(filter));
  uint32_t limit = query.limit;
  if (limit > limits::kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limit: ", limit, " is more than the maximum ", limits::kMaxPageSize));
  }
  if (limit == 0) limit = limits::kDefaultPageSize;
  if (query.from_event_index != 0 && query.from_revision == 0) {
    return absl::InvalidArgumentError(
        "from_event_index: requires from_revision (pass both from the "
        "previous response)");
  }
  if (!index_.FindRealm(filter.realm).has_value())
    return RealmNotFound(filter.realm);

  EventsPage page;
  page.revision = index_.revision();
  page.oldest_retained_revision = hub_.OldestRetainedRevision();
  if (query.from_revision != 0 &&
      query.from_revision < page.oldest_retained_revision) {
    return absl::OutOfRangeError(
        absl::StrCat("from_revision: revision ", query.from_revision,
                     " has been compacted; the oldest retained revision is ",
                     page.oldest_retained_revision));
  }
  // The position to continue from: a revision and how many of its events
  // to skip.
  uint64_t next = std::max(query.from_revision, page.oldest_retained_revision);
  uint32_t skip = query.from_event_index;
  size_t bytes = 0;
  size_t scanned = 0;
  // Where the events of the last revision added begin in the page: a page
  // that must end is cut back to there, on a revision boundary, unless
  // that revision is all the page holds.
  uint64_t last_added = 0;
  size_t last_added_start = 0;
  bool full = false;
  while (!full && next <= page.revision && scanned < kMaxScanned) {
    // Whole revisions only (ReadRange never splits one).
    ASSIGN_OR_RETURN(std::vector<Event> chunk,
                     hub_.ReadRange(next, page.revision, kReadChunk));
    if (chunk.empty()) {
      next = page.revision + 1;
      break;
    }
    uint64_t revision = 0;
    uint32_t position = 0;  // of the event within its revision
    for (Event& event : chunk) {
      position = event.revision == revision ? position + 1 : 0;
      revision = event.revision;
      if (revision == next && position < skip) continue;
      ++scanned;
      if (!Matches(filter, *event.instance)) continue;
      const size_t size = EncodedSizeBound(event);
      if (page.events.size() >= limit ||
          (!page.events.empty() && bytes + size > limits::kMaxReplyBytes)) {
        full = true;
        next = revision;
        if (last_added == revision && last_added_start == 0) {
          skip = position;  // the revision alone fills the page
        } else {
          if (last_added == revision) page.events.resize(last_added_start);
          skip = 0;
        }
        break;
      }
      if (last_added != revision) {
        last_added = revision;
        last_added_start = page.events.size();
      }
      bytes += size;
      page.events.push_back(std::move(event));
    }
    if (!full) {
      next = chunk.back().revision + 1;
      skip = 0;
    }
  }
  if (next <= page.revision) {
    page.next_revision = next;
    page.next_event_index = skip;
  }
  return page;
}

absl::StatusOr<std::shared_ptr<Watcher>> ChangeLog::OpenWatch(
    WatchSpec spec, std::function<void()> wake) {
  if (spec.realm.empty()) spec.realm = kDefaultRealm;
  RETURN_IF_ERROR(ValidateScope(spec.realm, spec.service));
  return hub_.Open(spec, std::move(wake));
}

void ChangeLog::CloseWatch(const std::shared_ptr<Watcher>& watcher) {
  hub_.Close(watcher);
}

void ChangeLog::EndWatches() { hub_.Shutdown(); }

absl::Duration ChangeLog::cut_off_grace() const {
  return hub_.options().cut_off_grace;
}

ChangeLog::Stats ChangeLog::GetStats() const {
  Stats stats;
  const std::vector<RealmCounts> realms = index_.Realms(&stats.revision);
  for (const RealmCounts& counts : realms) stats.instances += counts.instances;
  stats.realms = realms.size();
  stats.oldest_retained_revision = hub_.OldestRetainedRevision();
  stats.watchers = hub_.WatcherCount();
  stats.open_streams = hub_.OpenCount();
  stats.held_bytes = hub_.HeldBytes();
  return stats;
}

}  // namespace muster::registry
