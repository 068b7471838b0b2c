// The ack scenario: how long a durable Register takes to be acknowledged
// with no watcher on its realm and with many watch streams on it, each
// reading every event as it comes. The two alternate in rounds within
// one run; the notes give the latency ratios (watched over unwatched).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/bench.h"

namespace muster::bench {
namespace {

// One Watch stream and what it has seen. Touched by the receiving thread
// only, until it has been joined.
struct AckWatch {
  grpc::ClientContext ctx;
  v1::WatchResponse resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncReader<v1::WatchResponse>> reader;
  uint64_t last_revision = 0;
  uint64_t events = 0;
  bool in_order = true;
  bool snapshot_done = false;
  bool finished = false;
};

enum AckOp : uintptr_t { kStarted = 0, kRead = 1, kFinished = 2 };

void* Tag(AckWatch* w, AckOp op) {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(w) | op);
}

bool WaitFor(const std::function<bool()>& done, double seconds) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  while (!done() && Clock::now() < deadline) SleepSeconds(0.005);
  return done();
}

// `watchers` streams watching all of `realm` (snapshot, then live),
// spread over several connections, read continuously by one thread.
class WatchSet {
 public:
  WatchSet(const std::string& address, const std::string& realm, int watchers) {
    for (int c = 0; c < std::max(1, watchers / 100); ++c) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("muster.bench.ack_channel", c);
      stubs_.push_back(v1::Registry::NewStub(grpc::CreateCustomChannel(
          address, grpc::InsecureChannelCredentials(), args)));
    }
    for (int i = 0; i < watchers; ++i) {
      auto w = std::make_unique<AckWatch>();
      v1::WatchRequest req;
      req.set_realm(realm);
      w->reader = stubs_[i % stubs_.size()]->AsyncWatch(&w->ctx, req, &cq_,
                                                        Tag(w.get(), kStarted));
      all_.push_back(std::move(w));
    }
    receiver_ = std::thread([this] { Receive(); });
  }
  ~WatchSet() { Close(); }

  size_t size() const { return all_.size(); }
  int ready() const { return ready_.load(); }
  uint64_t delivered() const { return delivered_.load(); }
  int ended() const { return ended_.load(); }

  // Cancels every stream and joins the receiving thread.
  void Close() {
    if (closed_) return;
    closed_ = true;
    for (auto& w : all_) w->ctx.TryCancel();
    WaitFor([&] { return finished_.load() == static_cast<int>(all_.size()); },
            30);
    cq_.Shutdown();
    receiver_.join();
  }

  // After Close: streams that saw exactly `events` events in revision
  // order; streams cut off (RESOURCE_EXHAUSTED).
  int Complete(uint64_t events) const {
    int n = 0;
    for (const auto& w : all_) n += w->in_order && w->events == events;
    return n;
  }
  int CutOff() const {
    int n = 0;
    for (const auto& w : all_) {
      n += w->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    }
    return n;
  }

 private:
  void Receive() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
      const auto op = static_cast<AckOp>(reinterpret_cast<uintptr_t>(tag) & 3);
      auto* w = reinterpret_cast<AckWatch*>(reinterpret_cast<uintptr_t>(tag) &
                                            ~uintptr_t{3});
      if (op == kFinished) {
        w->finished = true;
        ++finished_;
        continue;
      }
      if (!ok) {
        ++ended_;
        w->reader->Finish(&w->status, Tag(w, kFinished));
        continue;
      }
      if (op == kRead) {
        if (w->resp.kind() == v1::WatchResponse::SNAPSHOT_END &&
            !w->snapshot_done) {
          w->snapshot_done = true;
          ++ready_;
        }
        if (w->resp.kind() == v1::WatchResponse::EVENTS) {
          for (const v1::Event& e : w->resp.events()) {
            if (e.revision() <= w->last_revision) w->in_order = false;
            w->last_revision = e.revision();
            ++w->events;
          }
          delivered_ += w->resp.events_size();
        }
      }
      w->reader->Read(&w->resp, Tag(w, kRead));
    }
  }

  std::vector<std::unique_ptr<v1::Registry::Stub>> stubs_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<AckWatch>> all_;
  std::atomic<int> ready_{0};
  std::atomic<uint64_t> delivered_{0};
  std::atomic<int> ended_{0};
  std::atomic<int> finished_{0};
  std::thread receiver_;
  bool closed_ = false;
};

}  // namespace

void Bench::Ack() {
  const int watchers = config_.quick ? 50 : 1000;
  const std::vector<int> in_flights =
      config_.quick ? std::vector<int>{1, 16} : std::vector<int>{1, 16, 64};
  constexpr int kRounds = 2;
  // By (watchers on the realm, in flight): every round's calls, and the
  // daemon's CPU seconds over them.
  std::map<std::pair<int, int>, LoadResult> results;
  std::map<std::pair<int, int>, double> cpu;
  std::map<int, uint64_t> delivered;
  std::map<int, double> delivered_seconds;
  int cut_off = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Alternating which goes first, so that drift over the run falls on
    // both sides alike.
    const std::vector<int> order = round % 2 == 0
                                       ? std::vector<int>{0, watchers}
                                       : std::vector<int>{watchers, 0};
    for (int attached : order) {
      const std::string realm =
          "ack-" + std::to_string(round) + "-" + std::to_string(attached);
      CreateRealm(realm);
      WatchSet set(daemon_.grpc_address(), realm, attached);
      if (!WaitFor([&] { return set.ready() == attached; }, 60)) {
        Fail("ack: only " + std::to_string(set.ready()) + " of " +
             std::to_string(attached) + " watchers got their snapshot");
      }
      uint64_t written = 0;
      const auto begin = Clock::now();
      for (int inflight : in_flights) {
        const std::string prefix = "a" + std::to_string(inflight) + "-";
        const DaemonStats before = daemon_.Stats();
        LoadResult r = RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
            inflight, config_.duration / kRounds, 0,
            [&](uint64_t i, v1::RegisterRequest* req) {
              FillInstance(realm, "svc-" + std::to_string(i % 100),
                           prefix + std::to_string(i), req);
            },
            RegisterCall());
        const DaemonStats after = daemon_.Stats();
        CheckErrors("ack@" + std::to_string(inflight) + " with " +
                        std::to_string(attached) + " watchers",
                    r);
        // A noisy attempt the guard re-ran was written too.
        written += r.ok + r.discarded_ok;
        cpu[{attached, inflight}] += after.cpu_seconds - before.cpu_seconds;
        Accumulate(r, &results[{attached, inflight}]);
      }
      if (attached > 0) {
        // Every stream still open gets every write, once, in order.
        const uint64_t expected = written * attached;
        WaitFor(
            [&] { return set.delivered() + set.ended() * written >= expected; },
            60);
        delivered[attached] += set.delivered();
        delivered_seconds[attached] += Seconds(Clock::now() - begin);
      }
      set.Close();
      const int cut = set.CutOff();
      cut_off += cut;
      if (attached > 0 && set.Complete(written) + cut != attached) {
        Fail("ack: " + std::to_string(attached - set.Complete(written) - cut) +
             " of " + std::to_string(attached) + " watchers of " + realm +
             " missed, repeated or reordered events of the " +
             std::to_string(written) + " writes");
      }
      DeleteRealm(realm);
    }
  }

  for (int inflight : in_flights) {
    double quiet_p50 = 0;
    double quiet_p99 = 0;
    for (int attached : {0, watchers}) {
      const LoadResult& r = results[{attached, inflight}];
      Row row;
      row.scenario = "ack";
      row.in_flight = inflight;
      row.ops_per_second = r.ok / std::max(r.wall_seconds, 1e-9);
      FillLatencies(r.latencies_ms, &row);
      row.cpu_share =
          cpu[{attached, inflight}] / std::max(r.wall_seconds, 1e-9);
      row.peak_rss_mib = daemon_.Stats().peak_rss_mib;
      row.extra.push_back({"watchers", static_cast<double>(attached)});
      if (attached == 0) {
        row.notes = "durable register, no watcher on the realm";
      } else {
        const double p50 = quiet_p50 > 0 ? row.p50_ms / quiet_p50 : 0;
        const double p99 = quiet_p99 > 0 ? row.p99_ms / quiet_p99 : 0;
        row.extra.push_back({"p50_ratio_to_unwatched", p50});
        row.extra.push_back({"p99_ratio_to_unwatched", p99});
        const double events_per_second =
            delivered[attached] / std::max(delivered_seconds[attached], 1e-9);
        row.extra.push_back({"events_per_second", events_per_second});
        row.extra.push_back({"watchers_cut_off", static_cast<double>(cut_off)});
        row.notes = std::to_string(attached) + " watchers on the realm: p50 " +
                    Fixed(p50, 2) + "x, p99 " + Fixed(p99, 2) +
                    "x unwatched; " + Fixed(events_per_second / 1000, 0) +
                    "k events/s delivered over the rounds, " +
                    std::to_string(cut_off) + " watchers cut off";
      }
      if (attached == 0) {
        quiet_p50 = row.p50_ms;
        quiet_p99 = row.p99_ms;
      }
      rows_.push_back(row);
    }
  }
}

}  // namespace muster::bench
