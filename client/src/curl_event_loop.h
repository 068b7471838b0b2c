#pragma once

// CurlEventLoop: one thread running a libcurl multi handle, timers and
// posted tasks; HttpClient's asynchronous requests live on it (timers,
// not a thread per request).
//
// Thread safety: Post() and Stop() may be called from any thread; RunAt()
// and Add() only from the loop's own thread (in a task, a timer or a
// transfer's callback).

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "client/src/curl_transfer.h"
#include "muster/client/clock.h"

namespace muster::client::internal {

class CurlEventLoop {
 public:
  using TransferDone =
      std::function<void(std::unique_ptr<CurlTransfer>, TryResult)>;

  // Timers are measured on `clock` (a fake one must be advanced).
  explicit CurlEventLoop(std::shared_ptr<Clock> clock);
  // Stop().
  ~CurlEventLoop();

  CurlEventLoop(const CurlEventLoop&) = delete;
  CurlEventLoop& operator=(const CurlEventLoop&) = delete;

  void Start();
  // Runs until no task, timer or transfer is left (they may add more),
  // then joins the thread. Idempotent. REQUIRES: not on the loop's own
  // thread (a callback must not destroy its HttpClient).
  void Stop();

  // Runs `task` on the loop's thread.
  void Post(std::function<void()> task);
  // Loop thread only: runs `task` once `clock` reaches `due`.
  void RunAt(Clock::TimePoint due, std::function<void()> task);
  // Loop thread only: starts `transfer`; `done` gets it back with its
  // result when it ends.
  void Add(std::unique_ptr<CurlTransfer> transfer, TransferDone done);

 private:
  struct Active {
    std::unique_ptr<CurlTransfer> transfer;
    TransferDone done;
  };

  void Loop();
  // Runs the due timers; returns how long until the next one (capped).
  Clock::Duration RunTimers();
  void ReadFinished();

  // Constant after construction.
  const std::shared_ptr<Clock> clock_;
  void* const multi_;  // CURLM*; null when libcurl could not make one

  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_

  // Loop thread only.
  std::multimap<Clock::TimePoint, std::function<void()>> timers_;
  std::map<void*, Active> active_;  // by easy handle

  std::thread thread_;
};

}  // namespace muster::client::internal
