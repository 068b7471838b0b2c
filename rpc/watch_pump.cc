#include "rpc/watch_pump.h"

#include <utility>

namespace muster::registry {

WatchPump::WatchPump() : thread_([this] { Run(); }) {}

WatchPump::~WatchPump() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void WatchPump::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

void WatchPump::Drain() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](WatchPump* pump) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pump->mu_) {
        return pump->tasks_.empty() && !pump->running_;
      },
      this));
}

void WatchPump::Run() {
  std::deque<std::function<void()>> tasks;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      running_ = false;
      mu_.Await(absl::Condition(
          +[](WatchPump* pump) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pump->mu_) {
            return !pump->tasks_.empty() || pump->stop_;
          },
          this));
      if (tasks_.empty()) return;  // stopping and drained
      tasks.swap(tasks_);
      running_ = true;
    }
    for (auto& task : tasks) task();
    tasks.clear();
  }
}

}  // namespace muster::registry
