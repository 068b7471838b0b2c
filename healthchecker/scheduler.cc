#include "healthchecker/scheduler.h"

#include <algorithm>
#include <utility>

namespace muster::healthchecker {

Scheduler::Scheduler(const Options& options, Clock& clock)
    : options_(options), clock_(clock), random_(options.random_seed) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::PushLocked(absl::Time when, uint64_t id) {
  const bool earliest = heap_.empty() || when < heap_.top().when;
  heap_.push(HeapEntry{when, next_sequence_++, id});
  if (earliest) {
    kicked_ = true;
    wake_.Signal();
  }
}

absl::Duration Scheduler::JitteredLocked(absl::Duration interval) {
  std::uniform_real_distribution<double> factor(1.0 - options_.jitter,
                                                1.0 + options_.jitter);
  return std::max(interval * factor(random_), absl::Milliseconds(1));
}

uint64_t Scheduler::AddCheck(std::string host, absl::Duration interval,
                             RunCheck run) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  std::uniform_real_distribution<double> spread(0.0, 1.0);
  const absl::Time due = clock_.Now() + interval * spread(random_);
  checks_.emplace(
      id, Check{std::move(host), interval, std::move(run), Phase::kWaiting, due,
                /*removed=*/false});
  PushLocked(due, id);
  return id;
}

void Scheduler::RemoveCheck(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = checks_.find(id);
  if (it == checks_.end()) return;
  // Heap and ready-queue entries of an erased check are skipped lazily.
  if (it->second.phase == Phase::kRunning) {
    it->second.removed = true;
  } else {
    checks_.erase(it);
  }
}

void Scheduler::Done(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = checks_.find(id);
  if (it == checks_.end() || it->second.phase != Phase::kRunning) return;
  Check& check = it->second;
  --in_flight_;
  auto host = host_in_flight_.find(check.host);
  if (host != host_in_flight_.end() && --host->second == 0)
    host_in_flight_.erase(host);
  if (check.removed) {
    checks_.erase(it);
  } else {
    check.phase = Phase::kWaiting;
    check.due = clock_.Now() + JitteredLocked(check.interval);
    PushLocked(check.due, id);
  }
  // A slot is free: a check waiting for one may start now. With none
  // waiting there is nothing to wake the thread for (a probe finishing
  // is not a reason to look at the clock).
  if (!ready_.empty() && !kicked_) {
    kicked_ = true;
    wake_.Signal();
  }
}

uint64_t Scheduler::ScheduleAt(absl::Time when, Task task) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  timers_.emplace(id, std::move(task));
  PushLocked(when, id);
  return id;
}

void Scheduler::Cancel(uint64_t timer_id) {
  absl::MutexLock lock(&mu_);
  timers_.erase(timer_id);
}

void Scheduler::StartReadyLocked(absl::Time now, std::vector<Launch>* starts) {
  // Each waiting check is looked at once per call; one blocked by its
  // host's bound goes to the back and does not block other hosts.
  for (size_t n = ready_.size(); n > 0 && in_flight_ < options_.max_in_flight;
       --n) {
    const uint64_t id = ready_.front();
    ready_.pop_front();
    auto it = checks_.find(id);
    if (it == checks_.end() || it->second.phase != Phase::kReady) continue;
    Check& check = it->second;
    size_t& host_count = host_in_flight_[check.host];
    if (host_count >= options_.max_in_flight_per_host) {
      ready_.push_back(id);
      continue;
    }
    ++host_count;
    ++in_flight_;
    check.phase = Phase::kRunning;
    starts->push_back(Launch{check.run, id, now - check.due});
  }
}

void Scheduler::OnStall(StallHandler handler) {
  absl::MutexLock lock(&mu_);
  on_stall_ = std::move(handler);
}

std::optional<absl::Duration> Scheduler::StallLocked(
    absl::Duration monotonic) const {
  if (!last_run_.has_value()) return std::nullopt;
  const absl::Duration gap = monotonic - *last_run_;
  if (gap <= options_.max_wait + options_.stall_threshold) return std::nullopt;
  return gap;
}

bool Scheduler::Stalled() const {
  absl::MutexLock lock(&mu_);
  return stall_pending_ || StallLocked(clock_.Monotonic()).has_value();
}

size_t Scheduler::RunDue() {
  // Read before the stall handler runs: what is due is what was due when
  // the stall was noticed.
  absl::Time now;
  std::optional<absl::Duration> gap;
  StallHandler on_stall;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return 0;
    const absl::Duration monotonic = clock_.Monotonic();
    now = clock_.Now();
    gap = StallLocked(monotonic);
    last_run_ = monotonic;
    if (gap.has_value() && on_stall_) {
      on_stall = on_stall_;
      stall_pending_ = true;
    }
  }
  if (on_stall) on_stall(*gap);
  std::vector<Task> tasks;
  std::vector<Launch> starts;
  {
    absl::MutexLock lock(&mu_);
    stall_pending_ = false;
    if (stopping_) return 0;
    while (!heap_.empty() && heap_.top().when <= now) {
      const HeapEntry entry = heap_.top();
      heap_.pop();
      if (auto check = checks_.find(entry.id);
          check != checks_.end() && check->second.phase == Phase::kWaiting) {
        check->second.phase = Phase::kReady;
        check->second.due = entry.when;
        ready_.push_back(entry.id);
      } else if (auto timer = timers_.find(entry.id); timer != timers_.end()) {
        tasks.push_back(std::move(timer->second));
        timers_.erase(timer);
      }
    }
    StartReadyLocked(now, &starts);
  }
  for (Task& task : tasks) task();
  for (Launch& start : starts) start.run(start.id, start.lag);
  return tasks.size() + starts.size();
}

void Scheduler::Loop() {
  while (true) {
    RunDue();
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (!kicked_) {
      absl::Duration wait = options_.max_wait;
      if (!heap_.empty()) {
        const absl::Duration until = heap_.top().when - clock_.Now();
        wait = until <= absl::ZeroDuration()
                   ? absl::ZeroDuration()
                   : std::min(until + options_.batch_window, wait);
      }
      if (wait > absl::ZeroDuration()) wake_.WaitWithTimeout(&mu_, wait);
    }
    kicked_ = false;
  }
}

void Scheduler::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

size_t Scheduler::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

std::optional<absl::Time> Scheduler::NextDue() const {
  absl::MutexLock lock(&mu_);
  if (heap_.empty()) return std::nullopt;
  return heap_.top().when;
}

}  // namespace muster::healthchecker
