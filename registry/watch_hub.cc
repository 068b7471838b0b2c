#include "registry/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "registry/model_proto.h"

namespace muster::registry {

Watcher::Watcher(WatchHub& hub, WatchSpec spec, size_t buffer_events,
                 size_t max_per_message, std::function<void()> wake)
    : hub_(hub),
      spec_(std::move(spec)),
      buffer_events_(buffer_events),
      max_per_message_(max_per_message),
      wake_(std::move(wake)) {}

bool Watcher::Wanted(const Event& event) const {
  return event.instance->realm == spec_.realm &&
         (spec_.service.empty() || event.instance->service == spec_.service);
}

const std::shared_ptr<const muster::v1::Event>& PublishedBatch::wire(size_t i) {
  if (wire_[i] == nullptr) {
    auto message = std::make_shared<muster::v1::Event>();
    ToProto(events_[i], message.get());
    wire_[i] = std::move(message);
  }
  return wire_[i];
}

bool Watcher::Deliver(PublishedBatch& events) {
  bool any = false;
  bool overflow = false;
  {
    absl::MutexLock lock(&mu_);
    if (!ended_.ok()) return false;
    for (size_t i = 0; i < events.size(); ++i) {
      const Event& event = events.event(i);
      if (event.revision <= start_after_ || !Wanted(event)) continue;
      if (live_.size() >= buffer_events_) {
        live_.clear();
        ended_ = absl::ResourceExhaustedError(absl::StrCat(
            "watcher fell more than ", buffer_events_,
            " events behind; list again and watch from the list's revision"));
        any = true;
        overflow = true;
        break;
      }
      live_.push_back(PublishedEvent{event, events.wire(i)});
      any = true;
    }
  }
  if (any) Wake();
  return overflow;
}

void Watcher::End(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (!ended_.ok()) return;
    live_.clear();
    ended_ = std::move(status);
  }
  Wake();
}

void Watcher::Wake() {
  absl::ReaderMutexLock lock(&wake_mu_);
  if (wake_) wake_();
}

void Watcher::Detach() {
  absl::MutexLock lock(&wake_mu_);
  wake_ = nullptr;
}

Watcher::Poll Watcher::Next(WatchBatch* batch, absl::Status* end) {
  batch->events.clear();
  batch->wire.clear();
  absl::MutexLock lock(&mu_);
  if (!ended_.ok()) {
    *end = ended_;
    return Poll::kEnded;
  }
  switch (phase_) {
    case Phase::kSnapshot: {
      batch->kind = WatchBatch::Kind::kSnapshot;
      size_t end_pos =
          std::min(snapshot_.size(), snapshot_pos_ + max_per_message_);
      for (; snapshot_pos_ < end_pos; ++snapshot_pos_) {
        Event event;
        event.revision = snapshot_[snapshot_pos_]->modify_revision;
        event.type = EventType::kPut;
        event.cause = EventCause::kSnapshot;
        // A snapshot event has no commit of its own: its time is when the
        // instance last changed health.
        event.time = snapshot_[snapshot_pos_]->status_changed_at;
        event.instance = std::move(snapshot_[snapshot_pos_]);
        batch->events.push_back(std::move(event));
      }
      if (snapshot_pos_ == snapshot_.size()) {
        snapshot_.clear();
        phase_ = Phase::kSnapshotEnd;
      }
      batch->revision = sent_revision_;
      if (batch->events.empty())
        break;  // empty snapshot: go straight to its end
      return Poll::kBatch;
    }
    case Phase::kSnapshotEnd:
    case Phase::kReplay:
    case Phase::kLive:
      break;
  }
  if (phase_ == Phase::kSnapshotEnd) {
    batch->kind = WatchBatch::Kind::kSnapshotEnd;
    batch->revision = sent_revision_;
    phase_ = Phase::kLive;
    return Poll::kBatch;
  }
  while (phase_ == Phase::kReplay) {
    const uint64_t from = replay_next_;
    const uint64_t to = start_after_;
    std::vector<Event> events;
    absl::Status status;
    {
      // Only this consumer advances the replay, so the store read can run
      // without the lock (Deliver keeps queueing live events meanwhile).
      mu_.Unlock();
      absl::StatusOr<std::vector<Event>> read =
          hub_.ReadRange(from, to, max_per_message_);
      mu_.Lock();
      if (read.ok()) {
        events = std::move(read).value();
      } else {
        status = read.status();
      }
    }
    if (!ended_.ok()) {
      *end = ended_;
      return Poll::kEnded;
    }
    if (!status.ok()) {
      ended_ = status;
      live_.clear();
      *end = ended_;
      return Poll::kEnded;
    }
    uint64_t last = events.empty() ? to : events.back().revision;
    replay_next_ = last + 1;
    if (replay_next_ > to) phase_ = Phase::kLive;
    batch->kind = WatchBatch::Kind::kEvents;
    for (Event& event : events) {
      if (Wanted(event)) batch->events.push_back(std::move(event));
    }
    if (!batch->events.empty()) {
      sent_revision_ = std::max(sent_revision_, last);
      batch->revision = sent_revision_;
      return Poll::kBatch;
    }
  }
  if (live_.empty()) return Poll::kIdle;
  batch->kind = WatchBatch::Kind::kEvents;
  while (!live_.empty() && batch->events.size() < max_per_message_) {
    batch->events.push_back(std::move(live_.front().event));
    batch->wire.push_back(std::move(live_.front().wire));
    live_.pop_front();
  }
  sent_revision_ = batch->events.back().revision;
  batch->revision = sent_revision_;
  return Poll::kBatch;
}

WatchHub::WatchHub(Store& store, const Index& index, Metrics& metrics,
                   Options options)
    : store_(store),
      index_(index),
      options_(options),
      cut_off_(metrics.GetCounter(
          "muster_watchers_cut_off_total",
          "Watch streams ended because the watcher fell behind.")) {}

absl::StatusOr<std::shared_ptr<Watcher>> WatchHub::Open(
    const WatchSpec& spec, std::function<void()> wake) {
  auto watcher = std::make_shared<Watcher>(*this, spec, options_.buffer_events,
                                           options_.max_events_per_message,
                                           std::move(wake));
  absl::MutexLock lock(&mu_);
  if (shut_down_) return absl::UnavailableError("musterd is shutting down");
  uint64_t revision = 0;
  if (spec.from_revision == 0) {
    absl::StatusOr<std::vector<std::shared_ptr<const Instance>>> snapshot =
        index_.Snapshot(spec.realm, spec.service, &revision);
    if (!snapshot.ok()) return snapshot.status();
    absl::MutexLock watcher_lock(&watcher->mu_);
    watcher->snapshot_ = std::move(snapshot).value();
    watcher->phase_ = Watcher::Phase::kSnapshot;
    watcher->start_after_ = revision;
    watcher->sent_revision_ = revision;
  } else {
    if (!index_.FindRealm(spec.realm).has_value()) {
      return absl::NotFoundError(
          absl::StrCat("realm \"", spec.realm, "\" not found"));
    }
    revision = index_.revision();
    const uint64_t oldest = store_.OldestRetainedRevision();
    if (spec.from_revision < oldest) {
      return absl::OutOfRangeError(absl::StrCat(
          "revision ", spec.from_revision,
          " has been compacted; the oldest retained revision is ", oldest,
          "; list again and watch from the list's revision"));
    }
    absl::MutexLock watcher_lock(&watcher->mu_);
    if (spec.from_revision <= revision) {
      watcher->phase_ = Watcher::Phase::kReplay;
      watcher->replay_next_ = spec.from_revision;
      watcher->start_after_ = revision;
    } else {
      watcher->phase_ = Watcher::Phase::kLive;
      watcher->start_after_ = spec.from_revision - 1;
    }
    watcher->sent_revision_ = spec.from_revision - 1;
  }
  watchers_.push_back(watcher);
  return watcher;
}

void WatchHub::Close(const std::shared_ptr<Watcher>& watcher) {
  {
    absl::MutexLock lock(&mu_);
    watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher),
                    watchers_.end());
  }
  watcher->Detach();
}

void WatchHub::Publish(const std::vector<Event>& events) {
  if (events.empty()) return;
  std::vector<std::shared_ptr<Watcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    for (const Event& event : events) tail_.push_back(event);
    while (tail_.size() > options_.tail_events) tail_.pop_front();
    watchers = watchers_;
  }
  // Each event becomes a message once, not once per watcher: with a
  // thousand watchers the per-stream conversion dominated the fan-out.
  PublishedBatch published(events);
  std::vector<std::shared_ptr<Watcher>> cut;
  for (const auto& watcher : watchers) {
    if (watcher->Deliver(published)) cut.push_back(watcher);
  }
  if (cut.empty()) return;
  // Forget watchers that were cut off; their streams end on their own.
  absl::MutexLock lock(&mu_);
  for (const auto& watcher : cut) {
    cut_off_.Increment();
    watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher),
                    watchers_.end());
  }
}

absl::StatusOr<std::vector<Event>> WatchHub::ReadRange(uint64_t from,
                                                       uint64_t to,
                                                       size_t limit) {
  {
    absl::MutexLock lock(&mu_);
    if (!tail_.empty() && tail_.front().revision <= from &&
        tail_.back().revision >= to) {
      auto it = std::lower_bound(
          tail_.begin(), tail_.end(), from,
          [](const Event& e, uint64_t r) { return e.revision < r; });
      std::vector<Event> out;
      for (; it != tail_.end() && it->revision <= to; ++it) {
        // Never split one revision's events.
        if (out.size() >= limit && out.back().revision != it->revision) break;
        out.push_back(*it);
      }
      return out;
    }
  }
  return store_.ReadChangeLog(from, to, limit);
}

void WatchHub::Shutdown() {
  std::vector<std::shared_ptr<Watcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    watchers.swap(watchers_);
  }
  for (const auto& watcher : watchers) {
    watcher->End(absl::UnavailableError("musterd is shutting down"));
  }
}

size_t WatchHub::WatcherCount() const {
  absl::MutexLock lock(&mu_);
  return watchers_.size();
}

}  // namespace muster::registry
