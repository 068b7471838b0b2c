#include "xds/assignments.h"

#include <utility>

#include "common/logging.h"

namespace muster::xds {

Assignments::Assignments(registry::Registry& registry,
                         absl::Duration push_delay)
    : registry_(registry), push_delay_(push_delay) {
  pusher_ = std::thread([this] { PushLoop(); });
}

Assignments::~Assignments() { Stop(); }

void Assignments::Stop() {
  std::vector<std::shared_ptr<registry::Watcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [name, entry] : entries_) {
      if (entry.watcher != nullptr) watchers.push_back(entry.watcher);
      entry.watcher = nullptr;
    }
  }
  if (pusher_.joinable()) pusher_.join();
  for (const auto& watcher : watchers) {
    registry_.change_log().CloseWatch(watcher);
  }
}

void Assignments::Wake(const ServiceName& service) {
  absl::MutexLock lock(&mu_);
  dirty_.insert(service);
}

void Assignments::Subscribe(AssignmentListener* listener,
                            const std::set<ServiceName>& services) {
  std::vector<ServiceName> unread;
  std::vector<std::shared_ptr<registry::Watcher>> closed;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (services.count(it->first) == 0) {
        it->second.listeners.erase(listener);
        if (it->second.listeners.empty()) {
          if (it->second.watcher != nullptr) {
            closed.push_back(it->second.watcher);
          }
          dirty_.erase(it->first);
          it = entries_.erase(it);
          continue;
        }
      }
      ++it;
    }
    if (!stopping_) {
      for (const ServiceName& service : services) {
        auto [it, inserted] = entries_.try_emplace(service);
        it->second.listeners.insert(listener);
        // Not read yet: new here, or new to another stream whose read
        // has not finished. Read it now, so that this stream's first
        // answer holds the service's instances, never an empty stand-in.
        if (it->second.current == nullptr) unread.push_back(service);
      }
    }
  }
  for (const auto& watcher : closed) {
    registry_.change_log().CloseWatch(watcher);
  }
  for (const ServiceName& service : unread) Refresh(service);
}

std::shared_ptr<const Assignments::Assignment> Assignments::Get(
    const ServiceName& service) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(service);
  if (it == entries_.end() || it->second.current == nullptr) {
    return std::make_shared<const Assignment>();
  }
  return it->second.current;
}

bool Assignments::Refresh(const ServiceName& service) {
  absl::MutexLock refresh_lock(&refresh_mu_);
  std::shared_ptr<registry::Watcher> watcher;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(service);
    if (it == entries_.end() || stopping_) return false;
    watcher = it->second.watcher;
  }
  // Whatever the watch queued is covered by the read below.
  if (watcher != nullptr) {
    registry::WatchBatch batch;
    absl::Status end;
    registry::Watcher::Poll poll;
    while ((poll = watcher->Next(&batch, &end)) ==
           registry::Watcher::Poll::kBatch) {
      watcher->Sent();
      batch = registry::WatchBatch();
    }
    if (poll == registry::Watcher::Poll::kEnded) {
      registry_.change_log().CloseWatch(watcher);
      watcher = nullptr;
    }
  }
  if (watcher == nullptr) {
    registry::WatchSpec spec;
    spec.realm = service.realm;
    spec.service = service.service;
    absl::StatusOr<std::shared_ptr<registry::Watcher>> opened =
        registry_.change_log().OpenWatch(spec,
                                         [this, service] { Wake(service); });
    if (opened.ok()) {
      watcher = *opened;
      // Its snapshot repeats what the read below sees.
      registry::WatchBatch batch;
      absl::Status end;
      while (watcher->Next(&batch, &end) == registry::Watcher::Poll::kBatch) {
        watcher->Sent();
        batch = registry::WatchBatch();
      }
    }
  }

  std::vector<std::shared_ptr<const registry::Instance>> instances;
  registry::ListQuery query;
  query.realm = service.realm;
  query.service = service.service;
  while (true) {
    absl::StatusOr<registry::InstancePage> page =
        registry_.instances().List(query);
    if (!page.ok()) break;  // A missing realm: no endpoints.
    for (auto& instance : page->instances) {
      instances.push_back(std::move(instance));
    }
    if (page->next_page_token.empty()) break;
    query.page_token = page->next_page_token;
  }
  auto built = std::make_shared<const Assignment>(
      BuildLoadAssignment(std::string(), instances));

  std::shared_ptr<registry::Watcher> stale;
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(service);
    if (it == entries_.end() || stopping_) {
      stale = watcher;
    } else {
      if (it->second.watcher != watcher) {
        stale = it->second.watcher;
        it->second.watcher = watcher;
      }
      const bool realm_found = watcher != nullptr;
      changed =
          it->second.current == nullptr ||
          it->second.realm_found != realm_found ||
          it->second.current->SerializeAsString() != built->SerializeAsString();
      it->second.realm_found = realm_found;
      if (changed) it->second.current = built;
    }
  }
  if (stale != nullptr && stale != watcher) {
    registry_.change_log().CloseWatch(stale);
  }
  return changed;
}

void Assignments::PushLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || !dirty_.empty();
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), kRealmRetry)) {
      // Services of missing realms: has the realm appeared?
      for (const auto& [service, entry] : entries_) {
        if (entry.watcher == nullptr) dirty_.insert(service);
      }
      if (dirty_.empty()) continue;
    }
    if (stopping_) return;
    // Coalesce: whatever else changes within the delay goes in this push.
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), push_delay_);
    if (stopping_) return;
    std::set<ServiceName> dirty;
    dirty.swap(dirty_);
    mu_.Unlock();
    for (const ServiceName& service : dirty) {
      if (!Refresh(service)) continue;
      // Referenced under mu_, while still subscribed; told outside every
      // lock (a write may complete, and even end the stream, inline).
      std::vector<AssignmentListener*> listeners;
      {
        absl::MutexLock entries_lock(&mu_);
        auto it = entries_.find(service);
        if (it != entries_.end()) {
          for (AssignmentListener* listener : it->second.listeners) {
            listener->Ref();
            listeners.push_back(listener);
          }
        }
      }
      for (AssignmentListener* listener : listeners) {
        listener->AssignmentChanged();
        listener->Unref();
      }
    }
    mu_.Lock();
  }
}

}  // namespace muster::xds
