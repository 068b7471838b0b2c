#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "fuzz/fuzz_check.h"
#include "registry/registry.h"
#include "registry/submit.h"
#include "store/memory/memory_store.h"
#include "tests/support/fake_clock.h"

namespace muster::fuzz {

// The actor the fuzzed requests act as.
inline constexpr char kFuzzActor[] = "fuzz";

// A real registry on the memory store, seeded with two realms ("default",
// "prod") and a few instances so that reads, heartbeats, drains and page
// tokens meet real records. One per fuzz process: Restore() puts it back
// to its seeded state after an input that changed it, so every input
// starts from the same state and memory stays bounded. Not thread-safe
// (libFuzzer runs one input at a time).
class RegistryWorld final {
 public:
  // Aborts when the registry cannot start (a fuzz target has no other
  // way out).
  RegistryWorld();
  ~RegistryWorld();
  RegistryWorld(const RegistryWorld&) = delete;
  RegistryWorld& operator=(const RegistryWorld&) = delete;

  registry::Registry& registry() { return *registry_; }
  testing::FakeClock& clock() { return clock_; }

  // Back to the seeded state: realms and instances the input created are
  // deleted, the seeded ones re-created or re-registered as seeded.
  void Restore();

 private:
  void Seed();

  testing::FakeClock clock_;
  Metrics metrics_;
  registry::MemoryStore store_;
  std::unique_ptr<registry::Registry> registry_;
  uint64_t next_id_ = 0;
};

// Runs `start` with a callback and waits for it; a mutation that never
// completes is a hang, reported as one (libFuzzer's -timeout would also
// catch it, later and with less to say).
template <typename T>
absl::StatusOr<T> Await(
    const std::function<void(registry::Callback<T>)>& start) {
  auto done = std::make_shared<absl::Notification>();
  auto result =
      std::make_shared<absl::StatusOr<T>>(absl::UnknownError("not completed"));
  start([done, result](absl::StatusOr<T> value) {
    *result = std::move(value);
    done->Notify();
  });
  FUZZ_CHECK(done->WaitForNotificationWithTimeout(absl::Seconds(10)),
             "a registry call did not complete in 10 s");
  return *result;
}

}  // namespace muster::fuzz
