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
    const InstanceKey& filter_in, uint64_t from, uint32_t limit) {
  InstanceKey filter = filter_in;
  if (filter.realm.empty()) filter.realm = kDefaultRealm;
  RETURN_IF_ERROR(ValidateFilter(filter));
  if (limit > limits::kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limit: ", limit, " is more than the maximum ", limits::kMaxPageSize));
  }
  if (limit == 0) limit = limits::kDefaultPageSize;
  if (!index_.FindRealm(filter.realm).has_value())
    return RealmNotFound(filter.realm);

  EventsPage page;
  page.revision = index_.revision();
  page.oldest_retained_revision = hub_.OldestRetainedRevision();
  uint64_t next = std::max(from, page.oldest_retained_revision);
  size_t scanned = 0;
  while (next <= page.revision && page.events.size() < limit &&
         scanned < kMaxScanned) {
    ASSIGN_OR_RETURN(std::vector<Event> chunk,
                     hub_.ReadRange(next, page.revision, kReadChunk));
    if (chunk.empty()) {
      next = page.revision + 1;
      break;
    }
    scanned += chunk.size();
    for (Event& event : chunk) {
      if (Matches(filter, *event.instance))
        page.events.push_back(std::move(event));
    }
    next = chunk.back().revision + 1;
    if (page.events.size() > limit) {
      // Stop at a revision boundary after `limit` events.
      uint64_t last = page.events[limit - 1].revision;
      while (page.events.size() > limit &&
             page.events.back().revision != last) {
        page.events.pop_back();
      }
      next = last + 1;
    }
  }
  page.next_revision = next <= page.revision ? next : 0;
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
