#pragma once

// Waiting in a test for what another thread or process does.

#include <chrono>
#include <functional>
#include <thread>

namespace muster::testing {

// Calls `done` every `every` until it returns true (true), or until
// `timeout` has passed (then false, after one last call).
inline bool Eventually(
    const std::function<bool()>& done,
    std::chrono::milliseconds timeout = std::chrono::seconds(10),
    std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return done();
}

}  // namespace muster::testing
