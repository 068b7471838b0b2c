#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "checkapi/target_source.h"

namespace muster::healthchecker {

// Passes reports and evictions to a VerdictSink, and their completions
// back only while open. The registry may run a completion after the
// checker has stopped; once Close() returns, completions are dropped, so
// the checker can be destroyed while the registry still holds some.
// Thread-safe.
class VerdictGate final {
 public:
  using Done = std::function<void(const absl::Status&)>;

  explicit VerdictGate(VerdictSink& sink);
  VerdictGate(const VerdictGate&) = delete;
  VerdictGate& operator=(const VerdictGate&) = delete;

  // `done` runs on the sink's thread, unless the gate closed first.
  void ReportHealth(const TargetKey& key, uint64_t incarnation, Health health,
                    std::string output, Done done);
  void Evict(const TargetKey& key, uint64_t incarnation, std::string reason,
             Done done);

  // Waits for a completion that is running, then drops all later ones.
  void Close();

 private:
  struct State {
    absl::Mutex mu;
    bool open ABSL_GUARDED_BY(mu) = true;
  };
  static std::function<void(absl::Status)> Guard(std::shared_ptr<State> state,
                                                 Done done);

  VerdictSink& sink_;
  const std::shared_ptr<State> state_;
};

}  // namespace muster::healthchecker
