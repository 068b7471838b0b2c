#pragma once

// The load generator: closed-loop unary gRPC calls on one completion
// queue, `in_flight` of them outstanding at any time. A timed run is one
// measured point: the noise guard (bench/noise.h) re-runs it while other
// programs kept the machine busy, and keeps the quietest attempt.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/clock.h"
#include "bench/noise.h"

namespace muster::bench {

struct LoadResult {
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<double> latencies_ms;
  double wall_seconds = 0;
  // Requests issued (their seq numbers were first_seq .. first_seq +
  // issued - 1).
  uint64_t issued = 0;
  // The noise guard: the cores other programs used during the kept
  // attempt(s), times their wall time (-1: not measured); whether one was
  // over the threshold; re-runs made; the answers and wall time of the
  // discarded attempts (their errors count in `errors`; the servers'
  // CPU measured around a guarded run covers them too).
  double other_core_seconds = -1;
  bool noisy = false;
  int retries = 0;
  uint64_t discarded_ok = 0;
  double discarded_seconds = 0;
};

// Cores used by other programs during `r` (-1: not measured).
inline double OtherCores(const LoadResult& r) {
  return r.other_core_seconds < 0
             ? -1
             : r.other_core_seconds / std::max(r.wall_seconds, 1e-9);
}

// The wall time a server's CPU measured around the run covers: the kept
// attempt and the discarded ones.
inline double MeasuredSeconds(const LoadResult& r) {
  return r.wall_seconds + r.discarded_seconds;
}

// Adds one run's counts and latencies to `total` (a point measured in
// several rounds); the first error seen is kept.
inline void Accumulate(const LoadResult& r, LoadResult* total) {
  total->ok += r.ok;
  total->errors += r.errors;
  total->wall_seconds += r.wall_seconds;
  total->issued += r.issued;
  if (r.other_core_seconds >= 0) {
    total->other_core_seconds =
        std::max(total->other_core_seconds, 0.0) + r.other_core_seconds;
  }
  total->noisy = total->noisy || r.noisy;
  total->retries += r.retries;
  total->discarded_ok += r.discarded_ok;
  total->discarded_seconds += r.discarded_seconds;
  total->latencies_ms.insert(total->latencies_ms.end(), r.latencies_ms.begin(),
                             r.latencies_ms.end());
  if (total->first_error.empty()) total->first_error = r.first_error;
}

// Runs one measured point: `once(first_seq)` runs it from request
// number `first_seq` and returns what it did. With the noise guard on,
// re-runs it (numbering on, so no request is repeated) while the
// attempt was noisy, up to the guard's retries, and returns the
// quietest attempt with the others' counts folded in. An attempt with
// errors is kept as it is.
inline LoadResult RunPoint(
    const std::function<LoadResult(uint64_t first_seq)>& once) {
  NoiseGuard& guard = NoiseGuard::Global();
  if (!guard.enabled()) return once(0);
  std::vector<LoadResult> attempts;
  uint64_t next_seq = 0;
  const GuardOutcome outcome =
      RunGuarded(guard.policy(), [&](int) -> AttemptNoise {
        const NoiseGuard::Sample before = guard.Take();
        LoadResult r = once(next_seq);
        const NoiseGuard::Sample after = guard.Take();
        next_seq += r.issued;
        const double other = NoiseGuard::OtherCoresBetween(before, after);
        r.other_core_seconds = other * r.wall_seconds;
        const bool failed = r.errors > 0;
        attempts.push_back(std::move(r));
        return {other, failed};
      });
  LoadResult kept = std::move(attempts[outcome.kept]);
  for (size_t i = 0; i < attempts.size(); ++i) {
    if (static_cast<int>(i) == outcome.kept) continue;
    kept.discarded_ok += attempts[i].ok;
    kept.discarded_seconds += attempts[i].wall_seconds;
    kept.errors += attempts[i].errors;
    if (kept.first_error.empty()) kept.first_error = attempts[i].first_error;
  }
  kept.issued = next_seq;
  kept.noisy = outcome.noisy;
  kept.retries = outcome.attempts - 1;
  return kept;
}

template <typename Req, typename Resp>
using StartFn =
    std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>(
        grpc::ClientContext*, const Req&, grpc::CompletionQueue*)>;

// One run of RunClosedLoop, numbering requests from `first_seq`.
template <typename Req, typename Resp>
LoadResult RunClosedLoopOnce(
    int in_flight, double seconds, uint64_t max_ops, uint64_t first_seq,
    const std::function<void(uint64_t, Req*)>& make,
    const StartFn<Req, Resp>& start,
    const std::function<void(uint64_t, const Resp&)>& on_ok) {
  struct Call {
    uint64_t seq = 0;
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader;
    Clock::time_point sent;
  };
  grpc::CompletionQueue cq;
  LoadResult result;
  uint64_t next_seq = first_seq;
  int outstanding = 0;
  const auto begin = Clock::now();
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  auto issue = [&]() {
    if (max_ops != 0 ? next_seq >= first_seq + max_ops : Clock::now() >= end) {
      return;
    }
    auto* call = new Call;
    call->seq = next_seq++;
    make(call->seq, &call->req);
    call->ctx.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(30));
    call->sent = Clock::now();
    call->reader = start(&call->ctx, call->req, &cq);
    call->reader->Finish(&call->resp, &call->status, call);
    ++outstanding;
  };
  for (int i = 0; i < in_flight; ++i) issue();
  while (outstanding > 0) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok)) break;
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    --outstanding;
    result.latencies_ms.push_back(Millis(Clock::now() - call->sent));
    if (ok && call->status.ok()) {
      ++result.ok;
      if (on_ok) on_ok(call->seq, call->resp);
    } else {
      if (result.errors++ == 0) {
        result.first_error = std::to_string(call->status.error_code()) + " " +
                             call->status.error_message();
      }
    }
    issue();
  }
  result.wall_seconds = Seconds(Clock::now() - begin);
  result.issued = next_seq - first_seq;
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

// Keeps `in_flight` calls outstanding until `seconds` pass (or, when
// `max_ops` is non-zero, until that many calls were issued). `make` fills
// request number `seq`; `on_ok` sees each successful response. A timed
// run is a measured point (RunPoint): it may run again, with `seq`
// numbering on from where the noisy attempt stopped, so `make` and
// `on_ok` must accept any seq; a run of `max_ops` calls runs once.
template <typename Req, typename Resp>
LoadResult RunClosedLoop(
    int in_flight, double seconds, uint64_t max_ops,
    const std::function<void(uint64_t, Req*)>& make,
    const StartFn<Req, Resp>& start,
    const std::function<void(uint64_t, const Resp&)>& on_ok = nullptr) {
  if (max_ops != 0) {
    return RunClosedLoopOnce<Req, Resp>(in_flight, seconds, max_ops, 0, make,
                                        start, on_ok);
  }
  return RunPoint([&](uint64_t first_seq) {
    return RunClosedLoopOnce<Req, Resp>(in_flight, seconds, 0, first_seq, make,
                                        start, on_ok);
  });
}

}  // namespace muster::bench
