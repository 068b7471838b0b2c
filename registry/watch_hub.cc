#include "registry/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace muster::registry {

Watcher::Watcher(WatchHub& hub, WatchSpec spec, std::function<void()> wake)
    : hub_(hub),
      spec_(std::move(spec)),
      encoder_(spec_.encoder != nullptr ? *spec_.encoder : ModelEventEncoder()),
      wake_(std::move(wake)) {
  hub_.open_watchers_.fetch_add(1);
}

Watcher::~Watcher() {
  absl::MutexLock lock(&mu_);
  AddHeldLocked(-static_cast<int64_t>(queued_bytes_ + in_flight_bytes_));
  hub_.open_watchers_.fetch_sub(1);
}

void Watcher::AddHeldLocked(int64_t delta) {
  if (delta == 0) return;
  (ended_.ok() ? hub_.live_bytes_ : hub_.ended_bytes_).fetch_add(delta);
}

void Watcher::SetInFlightBytes(size_t bytes) {
  absl::MutexLock lock(&mu_);
  AddHeldLocked(static_cast<int64_t>(bytes) -
                static_cast<int64_t>(in_flight_bytes_));
  in_flight_bytes_ = bytes;
}

size_t Watcher::HeldBytes() const {
  absl::MutexLock lock(&mu_);
  return queued_bytes_ + in_flight_bytes_;
}

absl::Status Watcher::EndStatus() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

bool Watcher::ReleaseNow() const {
  absl::MutexLock lock(&mu_);
  return release_now_;
}

void Watcher::EndLocked(absl::Status status) {
  live_.clear();
  replay_buffer_.clear();
  snapshot_.clear();
  AddHeldLocked(-static_cast<int64_t>(queued_bytes_));
  queued_bytes_ = 0;
  // What the stream still holds is now an ended watcher's, until it closes.
  hub_.live_bytes_.fetch_sub(static_cast<int64_t>(in_flight_bytes_));
  hub_.ended_bytes_.fetch_add(static_cast<int64_t>(in_flight_bytes_));
  ended_ = std::move(status);
}

void Watcher::CutOffLocked(absl::string_view why) {
  EndLocked(absl::ResourceExhaustedError(
      absl::StrCat("watcher fell behind: ", why,
                   "; list again and watch from the list's revision + 1")));
}

bool Watcher::CutOffForTotal() {
  absl::MutexLock lock(&mu_);
  if (!ended_.ok()) return false;
  release_now_ = true;
  CutOffLocked(absl::StrCat(
      "the watchers together hold more than ", hub_.options_.memory_limit_bytes,
      " bytes of events and this one more than its share"));
  return true;
}

bool Watcher::Wanted(const Event& event) const {
  return event.instance->realm == spec_.realm &&
         (spec_.service.empty() || event.instance->service == spec_.service);
}

const std::shared_ptr<const EventPayload>& PublishedBatch::payload(
    size_t i, const EventEncoder& encoder) {
  Encoded* encoded = nullptr;
  for (Encoded& e : encoded_) {
    if (e.encoder == &encoder) encoded = &e;
  }
  if (encoded == nullptr) {
    encoded = &encoded_.emplace_back(Encoded{&encoder, {}});
    encoded->payloads.resize(events_.size());
  }
  std::shared_ptr<const EventPayload>& payload = encoded->payloads[i];
  if (payload == nullptr) payload = encoder.Encode(events_[i]);
  return payload;
}

bool PublishedBatch::Deletes(const std::string& realm) const {
  for (const std::string& deleted : deleted_realms_) {
    if (deleted == realm) return true;
  }
  return false;
}

namespace {

absl::Status RealmDeletedStatus(const std::string& realm, uint64_t revision) {
  return absl::NotFoundError(absl::StrCat(
      "realm \"", realm, "\" was deleted at revision ", revision,
      "; the watch ends with it (a realm created again under the same name "
      "is a new realm: watch it anew)"));
}

}  // namespace

void Watcher::RealmDeletedLocked(uint64_t revision) {
  if (realm_deleted_at_ == 0 || revision < realm_deleted_at_) {
    realm_deleted_at_ = revision;
  }
}

bool Watcher::Deliver(std::vector<PublishedBatch>& batches) {
  bool any = false;
  bool overflow = false;
  {
    absl::MutexLock lock(&mu_);
    const WatchHub::Options& options = hub_.options_;
    for (PublishedBatch& events : batches) {
      if (!ended_.ok() || realm_deleted_at_ != 0) break;
      // The buffer bounds how far a watcher falls behind: one that had
      // nothing queued or unsent takes a whole publish, however large (a
      // forced realm delete of many instances is one revision). The hub's
      // memory limit still applies to it.
      const bool caught_up = live_.empty() && in_flight_bytes_ == 0;
      for (size_t i = 0; i < events.size(); ++i) {
        const Event& event = events.event(i);
        if (event.revision <= start_after_ || !Wanted(event)) continue;
        const std::shared_ptr<const EventPayload>& payload =
            events.payload(i, encoder_);
        const size_t bytes = payload->bytes();
        if (caught_up) {
          // Accepted whatever its size.
        } else if (live_.size() >= options.buffer_events) {
          CutOffLocked(absl::StrCat("more than ", options.buffer_events,
                                    " events queued"));
        } else if (queued_bytes_ + in_flight_bytes_ + bytes >
                   options.buffer_bytes) {
          CutOffLocked(absl::StrCat("more than ", options.buffer_bytes,
                                    " bytes of events held for it"));
        }
        if (!ended_.ok()) {
          any = true;
          overflow = true;
          break;
        }
        live_.push_back(PublishedEvent{event, payload, bytes});
        queued_bytes_ += bytes;
        AddHeldLocked(static_cast<int64_t>(bytes));
        any = true;
      }
      if (ended_.ok() && events.Deletes(spec_.realm)) {
        RealmDeletedLocked(events.revision());
        any = true;
      }
    }
  }
  if (any) Wake();
  return overflow;
}

void Watcher::End(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (!ended_.ok()) return;
    EndLocked(std::move(status));
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

bool Watcher::AddConverted(WatchBatch* batch, Event event) {
  std::shared_ptr<const EventPayload> payload = encoder_.Encode(event);
  const size_t bytes = payload->bytes();
  if (!batch->events.empty() &&
      batch->bytes + bytes > hub_.options_.max_message_bytes) {
    return false;
  }
  batch->bytes += bytes;
  // This stream's own payload, and the transport's copy of it.
  batch->held_bytes += 2 * bytes;
  batch->events.push_back(std::move(event));
  batch->payloads.push_back(std::move(payload));
  return true;
}

bool Watcher::Progress(WatchBatch* batch) {
  // Read before the lock: every delivery up to it happened before.
  const uint64_t published = hub_.PublishedRevision();
  absl::MutexLock lock(&mu_);
  if (!ended_.ok() || realm_deleted_at_ != 0 || phase_ != Phase::kLive ||
      !live_.empty() || in_flight_bytes_ != 0) {
    return false;
  }
  batch->kind = WatchBatch::Kind::kProgress;
  batch->events.clear();
  batch->payloads.clear();
  batch->bytes = 0;
  batch->held_bytes = 0;
  sent_revision_ = std::max(sent_revision_, published);
  batch->revision = sent_revision_;
  return true;
}

Watcher::Poll Watcher::Next(WatchBatch* batch, absl::Status* end) {
  Poll poll;
  {
    absl::MutexLock lock(&mu_);
    poll = NextLocked(batch, end);
    if (poll == Poll::kBatch) {
      // The message now waits in the stream until Sent().
      AddHeldLocked(static_cast<int64_t>(batch->held_bytes) -
                    static_cast<int64_t>(in_flight_bytes_));
      in_flight_bytes_ = batch->held_bytes;
    }
  }
  if (poll == Poll::kBatch && hub_.OverTotal()) hub_.Reclaim();
  return poll;
}

Watcher::Poll Watcher::NextLocked(WatchBatch* batch, absl::Status* end) {
  batch->events.clear();
  batch->payloads.clear();
  batch->bytes = 0;
  batch->held_bytes = 0;
  if (!ended_.ok()) {
    *end = ended_;
    return Poll::kEnded;
  }
  const WatchHub::Options& options = hub_.options_;
  if (phase_ == Phase::kSnapshot) {
    batch->kind = WatchBatch::Kind::kSnapshot;
    while (snapshot_pos_ < snapshot_.size() &&
           batch->events.size() < options.max_events_per_message) {
      const std::shared_ptr<const Instance>& instance =
          snapshot_[snapshot_pos_];
      Event event;
      event.revision = instance->modify_revision;
      event.type = EventType::kPut;
      event.cause = EventCause::kSnapshot;
      // A snapshot event has no commit of its own: its time is when the
      // instance last changed health.
      event.time = instance->status_changed_at;
      event.instance = instance;
      if (!AddConverted(batch, std::move(event))) break;
      ++snapshot_pos_;
    }
    if (snapshot_pos_ == snapshot_.size()) {
      snapshot_.clear();
      phase_ = Phase::kSnapshotEnd;
    }
    batch->revision = sent_revision_;
    if (!batch->events.empty()) return Poll::kBatch;
    // An empty snapshot goes straight to its end.
  }
  if (phase_ == Phase::kSnapshotEnd) {
    batch->kind = WatchBatch::Kind::kSnapshotEnd;
    batch->revision = sent_revision_;
    phase_ = Phase::kLive;
    return Poll::kBatch;
  }
  while (phase_ == Phase::kReplay) {
    if (replay_buffer_.empty()) {
      if (replay_next_ > start_after_) {
        phase_ = Phase::kLive;
        break;
      }
      const uint64_t from = replay_next_;
      const uint64_t to = realm_deleted_at_ != 0
                              ? std::min(start_after_, realm_deleted_at_)
                              : start_after_;
      if (from > to) {
        // The realm's deletion cut the replay short.
        replay_next_ = start_after_ + 1;
        continue;
      }
      // Only this consumer advances the replay, so the store read runs
      // without the lock (Deliver keeps queueing live events meanwhile).
      mu_.Unlock();
      absl::StatusOr<std::vector<Event>> read =
          hub_.ReadRange(from, to, options.max_events_per_message);
      mu_.Lock();
      if (!ended_.ok()) {
        *end = ended_;
        return Poll::kEnded;
      }
      if (!read.ok()) {
        EndLocked(read.status());
        *end = ended_;
        return Poll::kEnded;
      }
      replay_next_ = (read->empty() ? to : read->back().revision) + 1;
      for (Event& event : *read) {
        if (event.cause == EventCause::kRealmDeleted &&
            event.instance->realm == spec_.realm) {
          RealmDeletedLocked(event.revision);
        }
        if (realm_deleted_at_ != 0 && event.revision > realm_deleted_at_) {
          break;
        }
        if (Wanted(event)) replay_buffer_.push_back(std::move(event));
      }
      if (realm_deleted_at_ != 0 && realm_deleted_at_ < replay_next_) {
        // Nothing after the deletion is replayed.
        replay_next_ = std::max(replay_next_, start_after_ + 1);
      }
      continue;
    }
    batch->kind = WatchBatch::Kind::kEvents;
    while (!replay_buffer_.empty() &&
           batch->events.size() < options.max_events_per_message &&
           AddConverted(batch, replay_buffer_.front())) {
      replay_buffer_.pop_front();
    }
    // Drained: everything read so far is covered, wanted or not.
    const uint64_t covered = replay_buffer_.empty()
                                 ? replay_next_ - 1
                                 : batch->events.back().revision;
    sent_revision_ = std::max(sent_revision_, covered);
    batch->revision = sent_revision_;
    if (replay_buffer_.empty() && replay_next_ > start_after_)
      phase_ = Phase::kLive;
    return Poll::kBatch;
  }
  if (realm_deleted_at_ != 0) {
    // Live events after the deletion (queued before a replay found it)
    // belong to a realm created again: they are not sent.
    while (!live_.empty() && live_.back().event.revision > realm_deleted_at_) {
      queued_bytes_ -= live_.back().bytes;
      AddHeldLocked(-static_cast<int64_t>(live_.back().bytes));
      live_.pop_back();
    }
    if (live_.empty()) {
      EndLocked(RealmDeletedStatus(spec_.realm, realm_deleted_at_));
      *end = ended_;
      return Poll::kEnded;
    }
  }
  if (live_.empty()) return Poll::kIdle;
  batch->kind = WatchBatch::Kind::kEvents;
  while (!live_.empty() &&
         batch->events.size() < options.max_events_per_message &&
         (batch->events.empty() ||
          batch->bytes + live_.front().bytes <= options.max_message_bytes)) {
    batch->bytes += live_.front().bytes;
    batch->events.push_back(std::move(live_.front().event));
    batch->payloads.push_back(std::move(live_.front().payload));
    live_.pop_front();
  }
  // Shared messages: the stream adds only the transport's encoding.
  batch->held_bytes = batch->bytes;
  queued_bytes_ -= batch->bytes;
  AddHeldLocked(-static_cast<int64_t>(batch->bytes));
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
          "Watch streams ended because the watcher fell behind.")),
      stalls_(metrics.GetCounter(
          "muster_watch_fanout_stalls_total",
          "Commits that waited because the watch fan-out had fallen its "
          "queue's bound behind.")) {
  if (options_.fan_out_thread) fan_out_ = std::thread([this] { FanOutLoop(); });
}

WatchHub::~WatchHub() {
  Shutdown();
  if (fan_out_.joinable()) fan_out_.join();
}

absl::StatusOr<std::shared_ptr<Watcher>> WatchHub::Open(
    const WatchSpec& spec, std::function<void()> wake) {
  auto watcher = std::make_shared<Watcher>(*this, spec, std::move(wake));
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
          "; list again and watch from the list's revision + 1"));
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
  watcher_count_.store(watchers_.size());
  return watcher;
}

void WatchHub::Reclaim() {
  if (reclaiming_.exchange(true)) return;  // another thread is at it
  std::vector<std::shared_ptr<Watcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    watchers = watchers_;
  }
  std::vector<std::pair<size_t, std::shared_ptr<Watcher>>> held;
  held.reserve(watchers.size());
  for (auto& watcher : watchers)
    held.emplace_back(watcher->HeldBytes(), std::move(watcher));
  std::sort(held.begin(), held.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  const size_t share =
      options_.memory_limit_bytes / std::max<size_t>(1, held.size());
  std::vector<std::shared_ptr<Watcher>> cut;
  for (auto& [bytes, watcher] : held) {
    if (!OverTotal() || bytes <= share) break;
    if (watcher->CutOffForTotal()) cut.push_back(std::move(watcher));
  }
  ForgetCutOff(cut);
  for (const auto& watcher : cut) watcher->Wake();
  reclaiming_.store(false);
}

void WatchHub::ForgetCutOff(const std::vector<std::shared_ptr<Watcher>>& cut) {
  if (cut.empty()) return;
  absl::flat_hash_set<const Watcher*> gone;
  for (const auto& watcher : cut) gone.insert(watcher.get());
  absl::MutexLock lock(&mu_);
  cut_off_.Increment(cut.size());
  watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                 [&gone](const std::shared_ptr<Watcher>& w) {
                                   return gone.contains(w.get());
                                 }),
                  watchers_.end());
  watcher_count_.store(watchers_.size());
}

void WatchHub::Close(const std::shared_ptr<Watcher>& watcher) {
  if (options_.on_release &&
      (!watcher->EndStatus().ok() || watcher->HeldBytes() >= (1u << 20))) {
    options_.on_release();
  }
  {
    absl::MutexLock lock(&mu_);
    watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher),
                    watchers_.end());
    watcher_count_.store(watchers_.size());
  }
  watcher->Detach();
}

void WatchHub::AppendTail(const std::vector<Event>& events) {
  absl::MutexLock lock(&tail_mu_);
  for (const Event& event : events) tail_.push_back(event);
  // Whole revisions only: ReadRange serves a replay from the tail when
  // the tail starts at or below it, so it must hold all of its oldest
  // revision (a forced realm delete puts many events in one).
  while (tail_.size() > options_.tail_events) {
    const uint64_t oldest = tail_.front().revision;
    while (!tail_.empty() && tail_.front().revision == oldest) {
      tail_.pop_front();
    }
  }
}

void WatchHub::Publish(const std::vector<Event>& events,
                       const std::vector<std::string>& deleted_realms,
                       uint64_t revision) {
  if (events.empty() && deleted_realms.empty()) return;
  AppendTail(events);
  if (!options_.fan_out_thread) {
    std::vector<PublishedBatch> batches;
    batches.emplace_back(events, deleted_realms, revision);
    FanOut(batches);
    return;
  }
  Queued queued{events, deleted_realms, revision};
  const size_t count = std::max<size_t>(1, events.size());
  absl::MutexLock lock(&queue_mu_);
  if (queued_events_ >= options_.fan_out_queue_events && !stop_fan_out_) {
    // The watchers cost more than the machine keeps up with: the writers
    // wait rather than the queue grow without bound.
    stalls_.Increment();
    queue_mu_.Await(absl::Condition(
        +[](WatchHub* hub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub->queue_mu_) {
          return hub->queued_events_ < hub->options_.fan_out_queue_events ||
                 hub->stop_fan_out_;
        },
        this));
  }
  // After Shutdown nobody is left to deliver to.
  if (stop_fan_out_) return;
  queued_events_ += count;
  queue_.push_back(std::move(queued));
}

void WatchHub::FanOutLoop() {
  for (;;) {
    std::deque<Queued> taken;
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](WatchHub* hub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub->queue_mu_) {
            return !hub->queue_.empty() || hub->stop_fan_out_;
          },
          this));
      if (stop_fan_out_) return;
      taken.swap(queue_);
    }
    // Taken before FanOut looks at the watchers: a watcher registered
    // after that started from an index that had all of these (see the
    // class comment).
    std::vector<PublishedBatch> batches;
    batches.reserve(taken.size());
    size_t count = 0;
    for (const Queued& queued : taken) {
      batches.emplace_back(queued.events, queued.deleted_realms,
                           queued.revision);
      count += std::max<size_t>(1, queued.events.size());
    }
    FanOut(batches);
    absl::MutexLock lock(&queue_mu_);
    queued_events_ -= count;
  }
}

void WatchHub::FanOut(std::vector<PublishedBatch>& batches) {
  std::vector<std::shared_ptr<Watcher>> watchers;
  {
    absl::MutexLock lock(&mu_);
    watchers = watchers_;
  }
  // Each event becomes a message once, not once per watcher: with a
  // thousand watchers the per-stream conversion dominated the fan-out.
  std::vector<std::shared_ptr<Watcher>> cut;
  for (const auto& watcher : watchers) {
    if (watcher->Deliver(batches)) cut.push_back(watcher);
  }
  // Every watcher has had these revisions (Progress relies on the order).
  uint64_t revision = 0;
  for (const PublishedBatch& batch : batches) {
    revision = std::max(revision, batch.revision());
  }
  uint64_t expected = published_revision_.load();
  while (revision > expected &&
         !published_revision_.compare_exchange_weak(expected, revision)) {
  }
  // Forget watchers that were cut off; their streams end on their own.
  ForgetCutOff(cut);
  if (OverTotal()) Reclaim();
}

absl::StatusOr<std::vector<Event>> WatchHub::ReadRange(uint64_t from,
                                                       uint64_t to,
                                                       size_t limit) {
  {
    absl::MutexLock lock(&tail_mu_);
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
    watcher_count_.store(0);
  }
  {
    // What waits was for the watchers ended here. A Publish waiting for
    // room returns.
    absl::MutexLock lock(&queue_mu_);
    stop_fan_out_ = true;
    queue_.clear();
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
