// The watch scenario: watchers on a fresh realm while a paced writer
// commits; delivery latency and whether every watcher got every event
// once, in order.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench.h"

namespace muster::bench {
namespace {

// One Watch stream and what it has seen.
struct Watcher {
  grpc::ClientContext ctx;
  v1::WatchResponse resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncReader<v1::WatchResponse>> reader;
  uint64_t last_revision = 0;
  uint64_t events = 0;
  bool in_order = true;
  bool unknown_event = false;
  bool snapshot_done = false;
};

// The client-side send time of each Register, by instance id, and the
// delivery latencies measured against them. Thread-safe: the paced writer
// adds send times, the receiving thread looks them up.
struct SendTimes {
  absl::Mutex mu;
  std::unordered_map<std::string, Clock::time_point> sent ABSL_GUARDED_BY(mu);
  std::vector<double> latencies_ms ABSL_GUARDED_BY(mu);
};

// Completion-queue tags: the watcher pointer with the operation in the low
// bits.
enum WatchOp : uintptr_t { kStarted = 0, kRead = 1, kFinished = 2 };

void* Tag(Watcher* w, WatchOp op) {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(w) | op);
}

}  // namespace

void Bench::Watch() {
  for (const auto& [watchers, rate] : config_.watch_loads) {
    WatchOnce(watchers, rate);
  }
}

void Bench::WatchOnce(int watchers, int rate) {
  const std::string realm =
      "watch-" + std::to_string(watchers) + "-" + std::to_string(rate);
  CreateRealm(realm);

  SendTimes times;
  std::atomic<int> ready{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<int> finished{0};

  // Several connections so that no single HTTP/2 connection limits streams.
  std::vector<std::unique_ptr<v1::Registry::Stub>> stubs;
  for (int c = 0; c < std::max(1, watchers / 100); ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("muster.bench.channel", c);
    stubs.push_back(v1::Registry::NewStub(grpc::CreateCustomChannel(
        daemon_.grpc_address(), grpc::InsecureChannelCredentials(), args)));
  }
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Watcher>> all;
  for (int i = 0; i < watchers; ++i) {
    auto w = std::make_unique<Watcher>();
    v1::WatchRequest req;
    req.set_realm(realm);
    w->reader = stubs[i % stubs.size()]->AsyncWatch(&w->ctx, req, &cq,
                                                    Tag(w.get(), kStarted));
    all.push_back(std::move(w));
  }

  // The receiving thread: checks order and measures delivery latency.
  std::thread receiver([&] {
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
      const auto op =
          static_cast<WatchOp>(reinterpret_cast<uintptr_t>(tag) & 3);
      auto* w = reinterpret_cast<Watcher*>(reinterpret_cast<uintptr_t>(tag) &
                                           ~uintptr_t{3});
      if (op == kFinished) {
        ++finished;
        continue;
      }
      if (!ok) {
        w->reader->Finish(&w->status, Tag(w, kFinished));
        continue;
      }
      if (op == kRead) {
        const auto now = Clock::now();
        if (w->resp.kind() == v1::WatchResponse::SNAPSHOT_END &&
            !w->snapshot_done) {
          w->snapshot_done = true;
          ++ready;
        }
        if (w->resp.kind() == v1::WatchResponse::EVENTS) {
          for (const v1::Event& e : w->resp.events()) {
            if (e.revision() <= w->last_revision) w->in_order = false;
            w->last_revision = e.revision();
            ++w->events;
            absl::MutexLock lock(&times.mu);
            auto it = times.sent.find(e.instance().id());
            if (it == times.sent.end()) {
              w->unknown_event = true;
            } else {
              times.latencies_ms.push_back(Millis(now - it->second));
            }
          }
          delivered += w->resp.events_size();
        }
      }
      w->reader->Read(&w->resp, Tag(w, kRead));
    }
  });

  auto wait_for = [](const std::function<bool()>& done, double seconds) {
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(seconds));
    while (!done() && Clock::now() < deadline) SleepSeconds(0.005);
    return done();
  };
  if (!wait_for([&] { return ready.load() == watchers; }, 30)) {
    Fail("watch: only " + std::to_string(ready.load()) + " of " +
         std::to_string(watchers) + " watchers got their snapshot");
  }

  // The paced writer: one Register every 1/rate s, answers drained by a
  // second thread.
  const DaemonStats before = daemon_.Stats();
  grpc::CompletionQueue write_cq;
  std::atomic<uint64_t> writes_ok{0}, write_errors{0};
  std::thread drainer([&] {
    void* tag = nullptr;
    bool ok = false;
    while (write_cq.Next(&tag, &ok)) {
      auto* call = static_cast<std::pair<grpc::Status, void*>*>(tag);
      (call->first.ok() && ok ? writes_ok : write_errors)++;
    }
  });
  struct Write {
    std::pair<grpc::Status, void*> status;  // first member: the tag
    grpc::ClientContext ctx;
    v1::RegisterRequest req;
    v1::RegisterResponse resp;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RegisterResponse>>
        reader;
  };
  std::vector<std::unique_ptr<Write>> writes;
  const auto begin = Clock::now();
  const uint64_t total = static_cast<uint64_t>(config_.duration * rate);
  for (uint64_t k = 0; k < total; ++k) {
    std::this_thread::sleep_until(
        begin + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(double(k) / rate)));
    auto w = std::make_unique<Write>();
    const std::string id = "w-" + std::to_string(k);
    FillInstance(realm, "svc", id, &w->req);
    {
      absl::MutexLock lock(&times.mu);
      times.sent[id] = Clock::now();
    }
    w->reader = registry_->AsyncRegister(&w->ctx, w->req, &write_cq);
    w->reader->Finish(&w->resp, &w->status.first, &w->status);
    writes.push_back(std::move(w));
  }
  wait_for([&] { return writes_ok + write_errors == total; }, 30);
  const double write_seconds = Seconds(Clock::now() - begin);
  const uint64_t expected = writes_ok.load() * watchers;
  const bool all_delivered =
      wait_for([&] { return delivered.load() >= expected; }, 10);
  const double wall = Seconds(Clock::now() - begin);
  const DaemonStats after = daemon_.Stats();

  for (auto& w : all) w->ctx.TryCancel();
  wait_for([&] { return finished.load() == watchers; }, 10);
  cq.Shutdown();
  receiver.join();
  write_cq.Shutdown();
  drainer.join();

  bool complete = all_delivered && write_errors == 0;
  for (const auto& w : all) {
    if (!w->in_order || w->unknown_event || w->events != writes_ok.load()) {
      complete = false;
    }
  }
  Row row;
  row.scenario = "watch";
  row.in_flight = watchers;
  row.ops_per_second = delivered.load() / std::max(write_seconds, 1e-9);
  {
    absl::MutexLock lock(&times.mu);
    FillLatencies(times.latencies_ms, &row);
  }
  row.cpu_share = (after.cpu_seconds - before.cpu_seconds) / wall;
  row.peak_rss_mib = after.peak_rss_mib;
  row.notes =
      std::to_string(watchers) + " watchers @ " + std::to_string(rate) +
      " writes/s, events/s delivered, complete: " + (complete ? "yes" : "no");
  rows_.push_back(row);
  if (write_errors > 0) {
    Fail("watch: " + std::to_string(write_errors.load()) + " writes failed");
  }
  if (!complete) {
    Fail("watch " + std::to_string(watchers) + "@" + std::to_string(rate) +
         ": delivered " + std::to_string(delivered.load()) + " of " +
         std::to_string(expected) +
         " events, or some were duplicated, unknown or out of order");
  }
}

}  // namespace muster::bench
