#pragma once

// The load generator: closed-loop unary gRPC calls on one completion
// queue, `in_flight` of them outstanding at any time.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/clock.h"

namespace muster::bench {

struct LoadResult {
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<double> latencies_ms;
  double wall_seconds = 0;
};

// Adds one run's counts and latencies to `total` (a point measured in
// several rounds); the first error seen is kept.
inline void Accumulate(const LoadResult& r, LoadResult* total) {
  total->ok += r.ok;
  total->errors += r.errors;
  total->wall_seconds += r.wall_seconds;
  total->latencies_ms.insert(total->latencies_ms.end(), r.latencies_ms.begin(),
                             r.latencies_ms.end());
  if (total->first_error.empty()) total->first_error = r.first_error;
}

template <typename Req, typename Resp>
using StartFn =
    std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>(
        grpc::ClientContext*, const Req&, grpc::CompletionQueue*)>;

// Keeps `in_flight` calls outstanding until `seconds` pass (or, when
// `max_ops` is non-zero, until that many calls were issued). `make` fills
// request number `seq`; `on_ok` sees each successful response.
template <typename Req, typename Resp>
LoadResult RunClosedLoop(
    int in_flight, double seconds, uint64_t max_ops,
    const std::function<void(uint64_t, Req*)>& make,
    const StartFn<Req, Resp>& start,
    const std::function<void(uint64_t, const Resp&)>& on_ok = nullptr) {
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
  uint64_t next_seq = 0;
  int outstanding = 0;
  const auto begin = Clock::now();
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  auto issue = [&]() {
    if (max_ops != 0 ? next_seq >= max_ops : Clock::now() >= end) return;
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
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

}  // namespace muster::bench
