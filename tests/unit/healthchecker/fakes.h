#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "checkapi/target_source.h"
#include "healthchecker/prober.h"

// Fakes for the health checker's seams, recording every call. All are
// thread-safe.
namespace muster::healthchecker::testing {

// A Prober whose probes finish when the test says.
class FakeProber final : public Prober {
 public:
  absl::Status Start() override { return absl::OkStatus(); }
  void Stop() override {
    absl::MutexLock lock(&mu_);
    pending_.clear();
  }
  void Probe(const ProbeRequest& request, ProbeCallback done) override {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    pending_.push_back(Pending{request, std::move(done)});
  }

  size_t pending() const {
    absl::MutexLock lock(&mu_);
    return pending_.size();
  }
  size_t started() const {
    absl::MutexLock lock(&mu_);
    return requests_.size();
  }
  ProbeRequest last_request() const {
    absl::MutexLock lock(&mu_);
    return requests_.back();
  }
  // Finishes every pending probe with `result`; returns how many.
  size_t FinishAll(ProbeResult result, const std::string& output) {
    return FinishIf([](const ProbeRequest&) { return true; }, result, output);
  }
  // Finishes the pending probes `which` selects; returns how many.
  size_t FinishIf(const std::function<bool(const ProbeRequest&)>& which,
                  ProbeResult result, const std::string& output) {
    std::vector<Pending> chosen;
    {
      absl::MutexLock lock(&mu_);
      std::vector<Pending> kept;
      for (Pending& pending : pending_) {
        (which(pending.request) ? chosen : kept).push_back(std::move(pending));
      }
      pending_.swap(kept);
    }
    for (Pending& pending : chosen) pending.done(ProbeOutcome{result, output});
    return chosen.size();
  }

 private:
  struct Pending {
    ProbeRequest request;
    ProbeCallback done;
  };
  mutable absl::Mutex mu_;
  std::vector<ProbeRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
};

// A TargetSource holding a fixed set of targets and realm shares.
class FakeTargetSource final : public TargetSource {
 public:
  void Subscribe(TargetListener* listener) override {
    std::vector<Target> initial;
    {
      absl::MutexLock lock(&mu_);
      listener_ = listener;
      initial = initial_;
    }
    for (const Target& target : initial) listener->OnTargetUpsert(target);
  }
  void Unsubscribe(TargetListener* listener) override {
    absl::MutexLock lock(&mu_);
    if (listener_ == listener) listener_ = nullptr;
  }
  std::optional<double> EvictionProtectionShare(
      const std::string& realm) const override {
    absl::MutexLock lock(&mu_);
    auto it = shares_.find(realm);
    if (it == shares_.end()) return std::nullopt;
    return it->second;
  }

  // Delivered by Subscribe.
  void AddInitial(Target target) {
    absl::MutexLock lock(&mu_);
    initial_.push_back(std::move(target));
  }
  void SetShare(const std::string& realm, double share) {
    absl::MutexLock lock(&mu_);
    shares_[realm] = share;
  }
  TargetListener* listener() const {
    absl::MutexLock lock(&mu_);
    return listener_;
  }

 private:
  mutable absl::Mutex mu_;
  TargetListener* listener_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<Target> initial_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, double> shares_ ABSL_GUARDED_BY(mu_);
};

// A VerdictSink that records calls. By default it answers OK at once
// (inside the call, like a registry that commits quickly); with
// hold_answers() the test answers later.
class FakeVerdictSink final : public VerdictSink {
 public:
  struct Report {
    TargetKey key;
    uint64_t incarnation;
    Health health;
    std::string output;
  };
  struct Eviction {
    TargetKey key;
    uint64_t incarnation;
    std::string reason;
  };

  void ReportHealth(const TargetKey& key, uint64_t incarnation, Health health,
                    std::string output,
                    std::function<void(absl::Status)> done) override {
    absl::Status answer;
    {
      absl::MutexLock lock(&mu_);
      reports_.push_back(Report{key, incarnation, health, std::move(output)});
      if (hold_) {
        held_.push_back(std::move(done));
        return;
      }
      answer = answer_;
    }
    done(answer);
  }
  void Evict(const TargetKey& key, uint64_t incarnation, std::string reason,
             std::function<void(absl::Status)> done) override {
    absl::Status answer;
    {
      absl::MutexLock lock(&mu_);
      evictions_.push_back(Eviction{key, incarnation, std::move(reason)});
      if (hold_) {
        held_.push_back(std::move(done));
        return;
      }
      answer = answer_;
    }
    done(answer);
  }

  void hold_answers() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  // What later calls are answered with.
  void set_answer(absl::Status status) {
    absl::MutexLock lock(&mu_);
    answer_ = std::move(status);
  }
  // Answers every held call with `status`.
  void AnswerHeld(const absl::Status& status) {
    std::vector<std::function<void(absl::Status)>> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (auto& done : held) done(status);
  }

  std::vector<Report> reports() const {
    absl::MutexLock lock(&mu_);
    return reports_;
  }
  std::vector<Eviction> evictions() const {
    absl::MutexLock lock(&mu_);
    return evictions_;
  }
  // Waits (for real I/O) until at least `count` reports arrived.
  bool WaitForReports(size_t count, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return reports_.size() >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  mutable absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status answer_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(absl::Status)>> held_ ABSL_GUARDED_BY(mu_);
  std::vector<Report> reports_ ABSL_GUARDED_BY(mu_);
  std::vector<Eviction> evictions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::healthchecker::testing
