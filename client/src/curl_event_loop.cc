#include "client/src/curl_event_loop.h"

#include <curl/curl.h>

#include <algorithm>
#include <utility>

namespace muster::client::internal {
namespace {

// The longest the loop sleeps in curl_multi_poll; Post and Stop wake it
// earlier.
constexpr std::chrono::milliseconds kMaxPoll{1000};

void* NewMulti() {
  if (!CurlGlobalInit()) return nullptr;
  return curl_multi_init();
}

}  // namespace

CurlEventLoop::CurlEventLoop(std::shared_ptr<Clock> clock)
    : clock_(std::move(clock)), multi_(NewMulti()) {}

CurlEventLoop::~CurlEventLoop() {
  Stop();
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void CurlEventLoop::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void CurlEventLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
}

void CurlEventLoop::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void CurlEventLoop::RunAt(Clock::TimePoint due, std::function<void()> task) {
  timers_.emplace(due, std::move(task));
}

void CurlEventLoop::Add(std::unique_ptr<CurlTransfer> transfer,
                        TransferDone done) {
  void* easy = transfer->easy();
  if (easy == nullptr || multi_ == nullptr ||
      curl_multi_add_handle(static_cast<CURLM*>(multi_),
                            static_cast<CURL*>(easy)) != CURLM_OK) {
    TryResult result = transfer->Finish(CURLE_FAILED_INIT);
    if (multi_ == nullptr) result.error = "http: curl_multi_init failed";
    // Not inline: the caller may not expect its callback yet.
    timers_.emplace(
        clock_->Now(),
        [transfer = std::shared_ptr<CurlTransfer>(std::move(transfer)),
         done = std::move(done), result = std::move(result)]() mutable {
          done(nullptr, std::move(result));
        });
    return;
  }
  active_.emplace(easy, Active{std::move(transfer), std::move(done)});
}

Clock::Duration CurlEventLoop::RunTimers() {
  while (!timers_.empty()) {
    auto first = timers_.begin();
    const Clock::TimePoint now = clock_->Now();
    if (first->first > now) {
      return std::min<Clock::Duration>(first->first - now, kMaxPoll);
    }
    std::function<void()> task = std::move(first->second);
    timers_.erase(first);
    task();
  }
  return kMaxPoll;
}

void CurlEventLoop::ReadFinished() {
  int queued = 0;
  while (CURLMsg* message =
             curl_multi_info_read(static_cast<CURLM*>(multi_), &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    const CURLcode code = message->data.result;
    auto it = active_.find(easy);
    if (it == active_.end()) continue;
    Active active = std::move(it->second);
    active_.erase(it);
    curl_multi_remove_handle(static_cast<CURLM*>(multi_), easy);
    TryResult result = active.transfer->Finish(code);
    active.done(std::move(active.transfer), std::move(result));
  }
}

void CurlEventLoop::Loop() {
  while (true) {
    std::vector<std::function<void()>> tasks;
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks.swap(tasks_);
      stopping = stopping_;
    }
    for (std::function<void()>& task : tasks) task();
    if (stopping && tasks.empty() && timers_.empty() && active_.empty()) {
      break;
    }
    Clock::Duration wait = RunTimers();
    if (multi_ == nullptr) {
      // Nothing to poll: transfers never start, timers and tasks still run.
      std::unique_lock<std::mutex> lock(mu_);
      if (tasks_.empty() && !stopping_) {
        lock.unlock();
        clock_->SleepFor(
            std::min<Clock::Duration>(wait, std::chrono::milliseconds(10)));
      }
      continue;
    }
    int running = 0;
    curl_multi_perform(static_cast<CURLM*>(multi_), &running);
    ReadFinished();
    // Finished transfers may have added timers or transfers.
    if (!timers_.empty()) wait = std::min(wait, RunTimers());
    {
      std::lock_guard<std::mutex> lock(mu_);
      // New tasks, or the last transfer of a stopping loop just ended.
      if (!tasks_.empty() ||
          (stopping_ && timers_.empty() && active_.empty())) {
        continue;
      }
    }
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wait);
    // Returns early when a socket is ready, a libcurl timer expires or
    // Post()/Stop() call curl_multi_wakeup.
    curl_multi_poll(static_cast<CURLM*>(multi_), nullptr, 0,
                    static_cast<int>(wait_ms.count()), nullptr);
  }
}

}  // namespace muster::client::internal
