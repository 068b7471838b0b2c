#include "healthchecker/verdict_gate.h"

#include <utility>

namespace muster::healthchecker {

VerdictGate::VerdictGate(VerdictSink& sink)
    : sink_(sink), state_(std::make_shared<State>()) {}

std::function<void(absl::Status)> VerdictGate::Guard(
    std::shared_ptr<State> state, Done done) {
  return
      [state = std::move(state), done = std::move(done)](absl::Status status) {
        // Holding the gate's lock while `done` runs is what lets Close() wait
        // for it; `done` must not call back into the gate.
        absl::MutexLock lock(&state->mu);
        if (state->open) done(status);
      };
}

void VerdictGate::ReportHealth(const TargetKey& key, uint64_t incarnation,
                               Health health, std::string output, Done done) {
  sink_.ReportHealth(key, incarnation, health, std::move(output),
                     Guard(state_, std::move(done)));
}

void VerdictGate::Evict(const TargetKey& key, uint64_t incarnation,
                        std::string reason, Done done) {
  sink_.Evict(key, incarnation, std::move(reason),
              Guard(state_, std::move(done)));
}

void VerdictGate::Close() {
  absl::MutexLock lock(&state_->mu);
  state_->open = false;
}

}  // namespace muster::healthchecker
