#pragma once

// The load generator of a bidirectional stream: closed-loop messages on
// one stream, `in_flight` of them sent (or queued to be sent) and not
// yet answered at any time; one Write and one Read outstanding on the
// completion queue, as gRPC allows. A timed run is a measured point
// (RunPoint: the noise guard may re-run it on a fresh stream).

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "bench/clock.h"
#include "bench/closed_loop.h"

namespace muster::bench {

template <typename Req, typename Resp>
struct StreamCalls {
  // Opens the stream on `cq`; `tag` completes when it has started.
  std::function<std::unique_ptr<grpc::ClientAsyncReaderWriter<Req, Resp>>(
      grpc::ClientContext*, grpc::CompletionQueue*, void* tag)>
      open;
  // Fills message number `seq`.
  std::function<void(uint64_t seq, Req*)> make;
  // The key that pairs a message with its answer (a sequence number, a
  // lease id); messages of one key are answered in their order.
  std::function<uint64_t(const Req&)> key_of_request;
  // The key of the message `resp` answers; sets `error` when the answer
  // is not a success.
  std::function<uint64_t(const Resp&, std::string* error)> answer;
};

// One run of RunStreamLoop from message `first_seq`. `status` gets how
// the stream ended (OK after a clean close).
template <typename Req, typename Resp>
LoadResult RunStreamLoopOnce(int in_flight, double seconds, uint64_t first_seq,
                             const StreamCalls<Req, Resp>& calls,
                             grpc::Status* status) {
  char start_tag, write_tag, read_tag, writes_done_tag, finish_tag;
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60) +
                   std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::duration<double>(seconds)));
  LoadResult result;
  uint64_t next_seq = first_seq;
  const auto begin = Clock::now();
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  std::deque<std::unique_ptr<Req>> to_write;  // front: being written
  std::unordered_map<uint64_t, std::deque<Clock::time_point>> sent;
  uint64_t unanswered = 0;
  bool started = false, writing = false;
  bool broken = false, writes_done = false, finishing = false, done = false;
  int pending = 0;  // tags not yet returned by the queue
  Resp resp;

  auto stream = calls.open(&ctx, &cq, &start_tag);
  ++pending;
  auto write_front = [&] {
    writing = true;
    ++pending;
    stream->Write(*to_write.front(), &write_tag);
  };
  auto issue = [&] {
    if (broken || Clock::now() >= end) return;
    auto req = std::make_unique<Req>();
    calls.make(next_seq++, req.get());
    sent[calls.key_of_request(*req)].push_back(Clock::now());
    ++unanswered;
    to_write.push_back(std::move(req));
    if (!writing) write_front();
  };
  auto finish = [&] {
    if (finishing) return;
    finishing = true;
    ++pending;
    stream->Finish(status, &finish_tag);
  };
  // Closes our side once everything was answered and written.
  auto maybe_close = [&] {
    if (started && !broken && !writes_done && !writing && unanswered == 0 &&
        Clock::now() >= end) {
      writes_done = true;
      ++pending;
      stream->WritesDone(&writes_done_tag);
    }
  };
  while (pending > 0) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok)) break;
    --pending;
    if (tag == &start_tag) {
      if (!ok) {
        broken = true;
        finish();
        continue;
      }
      started = true;
      ++pending;
      stream->Read(&resp, &read_tag);
      for (int i = 0; i < in_flight; ++i) issue();
      maybe_close();
    } else if (tag == &write_tag) {
      writing = false;
      to_write.pop_front();
      if (!ok) {
        broken = true;  // the Read sees the end and finishes
        continue;
      }
      if (!to_write.empty()) write_front();
      maybe_close();
    } else if (tag == &read_tag) {
      if (!ok) {
        broken = true;
        finish();
        continue;
      }
      std::string error;
      const uint64_t key = calls.answer(resp, &error);
      auto it = sent.find(key);
      if (it == sent.end() || it->second.empty()) {
        error = "an answer to no message in flight (key " +
                std::to_string(key) + ")";
      } else {
        result.latencies_ms.push_back(
            Millis(Clock::now() - it->second.front()));
        it->second.pop_front();
        if (it->second.empty()) sent.erase(it);
        --unanswered;
      }
      if (error.empty()) {
        ++result.ok;
      } else if (result.errors++ == 0) {
        result.first_error = error;
      }
      ++pending;
      stream->Read(&resp, &read_tag);
      issue();
      maybe_close();
    } else if (tag == &writes_done_tag) {
      // The server ends the stream next; the Read returns false.
    } else if (tag == &finish_tag) {
      done = true;
    }
  }
  result.wall_seconds = Seconds(Clock::now() - begin);
  result.issued = next_seq - first_seq;
  if (!done && status->ok()) {
    *status = grpc::Status(grpc::StatusCode::INTERNAL, "stream not finished");
  }
  if (unanswered > 0) {
    result.errors += unanswered;
    if (result.first_error.empty()) {
      result.first_error = std::to_string(unanswered) +
                           " messages unanswered; the stream ended with " +
                           std::to_string(status->error_code()) + " " +
                           status->error_message();
    }
  } else if (!status->ok() && result.errors++ == 0) {
    result.first_error =
        std::to_string(status->error_code()) + " " + status->error_message();
  }
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

// Keeps `in_flight` messages unanswered on one stream for `seconds`.
// `status` gets how the (last attempt's) stream ended: UNIMPLEMENTED when
// the server lacks the method.
template <typename Req, typename Resp>
LoadResult RunStreamLoop(int in_flight, double seconds,
                         const StreamCalls<Req, Resp>& calls,
                         grpc::Status* status) {
  return RunPoint([&](uint64_t first_seq) {
    return RunStreamLoopOnce<Req, Resp>(in_flight, seconds, first_seq, calls,
                                        status);
  });
}

}  // namespace muster::bench
