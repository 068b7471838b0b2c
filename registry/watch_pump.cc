#include "registry/watch_pump.h"

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

void WatchPump::Run() {
  for (;;) {
    std::deque<std::function<void()>> tasks;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WatchPump* pump) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pump->mu_) {
            return !pump->tasks_.empty() || pump->stop_;
          },
          this));
      if (tasks_.empty()) return;  // stopping and drained
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) task();
  }
}

}  // namespace muster::registry
