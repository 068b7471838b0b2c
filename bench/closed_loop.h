#pragma once

// The load generator: closed-loop unary gRPC calls on one completion
// queue, `in_flight` of them outstanding at any time. A timed run is one
// measured point (bench/point.h): the noise guard re-runs it while other
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
#include "bench/point.h"

namespace muster::bench {

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
