// The xds scenario: N raw ADS streams (envoy.service.discovery.v3
// AggregatedDiscoveryService, state of the world) each subscribed by EDS
// to `bench.xds` (service bench, realm xds) and ACKing every response, as
// a proxyless gRPC client does once it has walked LDS and CDS. Then rounds
// of commits, alternately the registration of a new instance and its
// drain; the push latency is the time from the commit call's start to each
// stream's first EDS response that reflects it (the new endpoint HEALTHY,
// or the drained one no longer HEALTHY). The baseline is the same change
// seen by a plain muster Watch stream of the same service in the same run.
// Built only with MUSTER_XDS (it needs the generated Envoy API).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench.h"
// The generated Envoy API names deprecated enum values in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include "envoy/config/core/v3/health_check.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/endpoint/v3/endpoint_components.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#pragma GCC diagnostic pop

namespace muster::bench {
namespace {

namespace ads = ::envoy::service::discovery::v3;
namespace endpoint = ::envoy::config::endpoint::v3;
namespace core = ::envoy::config::core::v3;

constexpr char kEdsType[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
constexpr char kRealm[] = "xds";
constexpr char kService[] = "bench";
constexpr char kResource[] = "bench.xds";
constexpr int kPreloaded = 3;
constexpr int kFirstRoundPort = 30000;

// The change being measured: the endpoint on `port` is to show up as
// HEALTHY (a registration) or to stop being HEALTHY (its drain).
// Thread-safe: the commit thread starts rounds, the stream callbacks and
// the watch thread report what they see.
class Rounds {
 public:
  explicit Rounds(int streams)
      : seen_(streams, false), subscribed_(streams, false) {}

  void Start(int port, bool drain) {
    absl::MutexLock lock(&mu_);
    port_ = port;
    drain_ = drain;
    start_ = Clock::now();
    std::fill(seen_.begin(), seen_.end(), false);
    seen_count_ = 0;
    watch_seen_ = false;
  }

  // Stream `i` received `cla` at `at`.
  void OnAssignment(int i, const endpoint::ClusterLoadAssignment& cla,
                    Clock::time_point at) {
    // Routable endpoints (what a gRPC client sends calls to).
    std::vector<uint32_t> healthy_ports;
    for (const auto& locality : cla.endpoints()) {
      for (const auto& lb : locality.lb_endpoints()) {
        if (lb.health_status() == core::HEALTHY ||
            lb.health_status() == core::UNKNOWN) {
          healthy_ports.push_back(
              lb.endpoint().address().socket_address().port_value());
        }
      }
    }
    const int healthy_count = static_cast<int>(healthy_ports.size());
    absl::MutexLock lock(&mu_);
    const bool healthy =
        std::find(healthy_ports.begin(), healthy_ports.end(),
                  static_cast<uint32_t>(port_)) != healthy_ports.end();
    if (!subscribed_[i]) {
      subscribed_[i] = true;
      ++subscribed_count_;
      if (healthy_count != kPreloaded) ++bad_first_;
    }
    if (port_ == 0 || seen_[i] || healthy == drain_) return;
    seen_[i] = true;
    ++seen_count_;
    xds_ms_.push_back(Millis(at - start_));
  }

  // The Watch stream saw `instance` at `at`.
  void OnWatchEvent(const v1::Event& event, Clock::time_point at) {
    const v1::Instance& instance = event.instance();
    absl::MutexLock lock(&mu_);
    if (port_ == 0 || watch_seen_ ||
        instance.port() != static_cast<uint32_t>(port_)) {
      return;
    }
    const bool drained = event.type() == v1::Event::DELETE ||
                         instance.admin_state() == v1::ADMIN_STATE_DRAINING;
    if (drained != drain_) return;
    watch_seen_ = true;
    watch_ms_.push_back(Millis(at - start_));
  }

  int seen_count() {
    absl::MutexLock lock(&mu_);
    return seen_count_;
  }
  bool watch_seen() {
    absl::MutexLock lock(&mu_);
    return watch_seen_;
  }
  int subscribed_count() {
    absl::MutexLock lock(&mu_);
    return subscribed_count_;
  }
  int bad_first() {
    absl::MutexLock lock(&mu_);
    return bad_first_;
  }
  std::vector<double> xds_ms() {
    absl::MutexLock lock(&mu_);
    return xds_ms_;
  }
  std::vector<double> watch_ms() {
    absl::MutexLock lock(&mu_);
    return watch_ms_;
  }

 private:
  absl::Mutex mu_;
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  bool drain_ ABSL_GUARDED_BY(mu_) = false;
  Clock::time_point start_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> seen_ ABSL_GUARDED_BY(mu_);
  int seen_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool watch_seen_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<bool> subscribed_ ABSL_GUARDED_BY(mu_);
  int subscribed_count_ ABSL_GUARDED_BY(mu_) = 0;
  int bad_first_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<double> xds_ms_ ABSL_GUARDED_BY(mu_);
  std::vector<double> watch_ms_ ABSL_GUARDED_BY(mu_);
};

// One ADS stream (callback API): subscribes to kResource by EDS, ACKs
// every response and reports each assignment to `rounds`. Thread-safe;
// lives until OnDone.
class AdsStream : public grpc::ClientBidiReactor<ads::DiscoveryRequest,
                                                 ads::DiscoveryResponse> {
 public:
  AdsStream(int index, ads::AggregatedDiscoveryService::Stub* stub,
            Rounds* rounds)
      : index_(index), rounds_(rounds) {
    stub->async()->StreamAggregatedResources(&ctx_, this);
    ads::DiscoveryRequest req;
    req.mutable_node()->set_id("muster-bench-" + std::to_string(index));
    req.set_type_url(kEdsType);
    req.add_resource_names(kResource);
    Send(std::move(req));
    StartRead(&resp_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows.
    const Clock::time_point at = Clock::now();
    responses_.fetch_add(1);
    if (resp_.type_url() == kEdsType) {
      for (const auto& any : resp_.resources()) {
        endpoint::ClusterLoadAssignment cla;
        if (any.UnpackTo(&cla) && cla.cluster_name() == kResource) {
          rounds_->OnAssignment(index_, cla, at);
        }
      }
    }
    ads::DiscoveryRequest ack;
    ack.set_type_url(resp_.type_url());
    ack.set_version_info(resp_.version_info());
    ack.set_response_nonce(resp_.nonce());
    ack.add_resource_names(kResource);
    Send(std::move(ack));
    StartRead(&resp_);
  }

  void OnWriteDone(bool ok) override {
    const ads::DiscoveryRequest* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      pending_.pop_front();
      if (ok && !pending_.empty()) next = &pending_.front();
    }
    // Not under mu_: a reaction may run inline from StartWrite.
    if (next != nullptr) StartWrite(next);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  void Cancel() { ctx_.TryCancel(); }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  // The stream's end status; only once done().
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  // Queues `req`; one write is in flight at a time.
  // Only the caller that makes the queue non-empty, or OnWriteDone,
  // starts a write; the front stays put until its write is done.
  void Send(ads::DiscoveryRequest req) {
    const ads::DiscoveryRequest* first = nullptr;
    {
      absl::MutexLock lock(&mu_);
      pending_.push_back(std::move(req));
      if (pending_.size() == 1) first = &pending_.front();
    }
    if (first != nullptr) StartWrite(first);
  }

  const int index_;
  Rounds* const rounds_;
  grpc::ClientContext ctx_;
  ads::DiscoveryResponse resp_;  // Only touched by the read chain.
  std::atomic<uint64_t> responses_{0};
  absl::Mutex mu_;
  // References stay valid in a deque when another is pushed at the back.
  std::deque<ads::DiscoveryRequest> pending_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

bool WaitFor(const std::function<bool()>& done, double seconds) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  while (!done() && Clock::now() < deadline) SleepSeconds(0.002);
  return done();
}

}  // namespace

void Bench::Xds() {
  const std::vector<int> stream_counts =
      config_.quick ? std::vector<int>{10} : std::vector<int>{100, 1000};
  const int rounds_per_point = config_.quick ? 2 : 10;
  for (int streams : stream_counts) {
    CreateRealm(kRealm);
    Preload(std::to_string(kPreloaded) + " xds endpoints", kPreloaded,
            [](uint64_t i, v1::RegisterRequest* req) {
              FillInstance(kRealm, kService, "pre-" + std::to_string(i), req);
              // Below the rounds' ports.
              req->mutable_instance()->set_port(kFirstRoundPort - 1000 + i);
            });

    // Leaked, with the streams, if they do not end after cancellation.
    auto rounds_owner = std::make_unique<Rounds>(streams);
    Rounds& rounds = *rounds_owner;

    // The Watch baseline: one plain stream of the same service.
    grpc::ClientContext watch_ctx;
    v1::WatchRequest watch_req;
    watch_req.set_realm(kRealm);
    watch_req.set_service(kService);
    std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> watch =
        registry_->Watch(&watch_ctx, watch_req);
    std::atomic<bool> watch_synced{false};
    std::thread watcher([&] {
      v1::WatchResponse resp;
      while (watch->Read(&resp)) {
        const Clock::time_point at = Clock::now();
        if (resp.kind() == v1::WatchResponse::SNAPSHOT_END) watch_synced = true;
        if (resp.kind() != v1::WatchResponse::EVENTS) continue;
        for (const v1::Event& e : resp.events()) rounds.OnWatchEvent(e, at);
      }
      watch->Finish();
    });

    // The ADS streams, over one connection per 100 streams.
    std::vector<std::unique_ptr<ads::AggregatedDiscoveryService::Stub>> stubs;
    for (int c = 0; c < std::max(1, streams / 100); ++c) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("muster.bench.channel", c);
      stubs.push_back(ads::AggregatedDiscoveryService::NewStub(
          grpc::CreateCustomChannel(daemon_.grpc_address(),
                                    grpc::InsecureChannelCredentials(), args)));
    }
    const DaemonStats before = daemon_.Stats();
    const Clock::time_point subscribe_start = Clock::now();
    std::vector<std::unique_ptr<AdsStream>> all;
    for (int i = 0; i < streams; ++i) {
      all.push_back(std::make_unique<AdsStream>(
          i, stubs[i % stubs.size()].get(), &rounds));
    }
    auto all_done = [&] {
      return std::all_of(all.begin(), all.end(),
                         [](const auto& s) { return s->done(); });
    };
    WaitFor([&] { return rounds.subscribed_count() == streams || all_done(); },
            60);
    const bool subscribed = rounds.subscribed_count() == streams;
    const double subscribe_seconds = Seconds(Clock::now() - subscribe_start);
    const std::string point = "xds " + std::to_string(streams);
    bool ok = true;
    if (!subscribed) {
      Fail(point + ": only " + std::to_string(rounds.subscribed_count()) +
           " of " + std::to_string(streams) +
           " ADS streams got their first EDS response");
      ok = false;
    } else if (rounds.bad_first() > 0) {
      Fail(point + ": " + std::to_string(rounds.bad_first()) +
           " streams' first assignment did not hold the " +
           std::to_string(kPreloaded) + " registered endpoints as HEALTHY");
      ok = false;
    }
    if (!WaitFor([&] { return watch_synced.load(); }, 30)) {
      Fail(point + ": the baseline Watch got no snapshot");
      ok = false;
    }

    // Rounds: register r<k> on a fresh port, then drain it.
    std::vector<double> commit_ms;
    for (int r = 0; ok && r < rounds_per_point; ++r) {
      const bool drain = r % 2 == 1;
      const int k = r / 2;
      const std::string id = "r" + std::to_string(k);
      const int port = kFirstRoundPort + k;
      rounds.Start(port, drain);
      const Clock::time_point start = Clock::now();
      grpc::ClientContext ctx;
      grpc::Status s;
      if (drain) {
        v1::SetAdminStateRequest req;
        req.set_realm(kRealm);
        req.set_service(kService);
        req.set_id(id);
        req.set_admin_state(v1::ADMIN_STATE_DRAINING);
        v1::Instance resp;
        s = registry_->SetAdminState(&ctx, req, &resp);
      } else {
        v1::RegisterRequest req;
        FillInstance(kRealm, kService, id, &req);
        req.mutable_instance()->set_port(port);
        v1::RegisterResponse resp;
        s = registry_->Register(&ctx, req, &resp);
      }
      commit_ms.push_back(Millis(Clock::now() - start));
      if (!s.ok()) {
        Fail(point + ": round " + std::to_string(r) + ": " + s.error_message());
        ok = false;
        break;
      }
      if (!WaitFor(
              [&] {
                return rounds.seen_count() == streams && rounds.watch_seen();
              },
              30)) {
        Fail(point + ": round " + std::to_string(r) + " (" +
             (drain ? "drain" : "register") +
             "): " + std::to_string(rounds.seen_count()) + " of " +
             std::to_string(streams) + " ADS streams saw it" +
             (rounds.watch_seen() ? "" : ", the Watch did not"));
        ok = false;
      }
    }
    const DaemonStats after = daemon_.Stats();
    const double wall = Seconds(Clock::now() - subscribe_start);

    for (auto& stream : all) stream->Cancel();
    watch_ctx.TryCancel();
    if (!WaitFor(all_done, 30)) {
      // The reactors must outlive their streams: leak them rather than
      // free them under gRPC.
      Fail(point + ": ADS streams did not end after cancellation");
      for (auto& stream : all) static_cast<void>(stream.release());
      static_cast<void>(rounds_owner.release());
    }
    int broken = 0;
    std::string first_error;
    for (auto& stream : all) {
      if (stream == nullptr) continue;
      const grpc::Status s = stream->status();
      if (s.error_code() != grpc::StatusCode::CANCELLED) {
        if (broken++ == 0) {
          first_error = "code " + std::to_string(s.error_code()) + " " +
                        s.error_message();
        }
      }
    }
    if (broken > 0) {
      Fail(point + ": " + std::to_string(broken) +
           " ADS streams ended before they were cancelled (first: " +
           first_error + ")");
    }
    watcher.join();
    DeleteRealm(kRealm);

    const std::vector<double> xds_ms = rounds.xds_ms();
    const std::vector<double> watch_ms = rounds.watch_ms();
    Row watch_row;
    watch_row.scenario = "xds-watch";
    watch_row.in_flight = 1;
    FillLatencies(watch_ms, &watch_row);
    watch_row.notes = "baseline of xds " + std::to_string(streams) +
                      ": one muster Watch seeing the same " +
                      std::to_string(watch_ms.size()) + " commits";

    Row row;
    row.scenario = "xds";
    row.in_flight = streams;
    FillLatencies(xds_ms, &row);
    row.ratio = watch_row.p50_ms > 0 ? row.p50_ms / watch_row.p50_ms : 0;
    row.cpu_share = (after.cpu_seconds - before.cpu_seconds) / wall;
    row.peak_rss_mib = after.peak_rss_mib;
    std::vector<double> sorted_commits = commit_ms;
    std::sort(sorted_commits.begin(), sorted_commits.end());
    const double commit_p50 =
        sorted_commits.empty() ? 0 : sorted_commits[sorted_commits.size() / 2];
    row.notes = std::to_string(streams) +
                " ADS streams (EDS), push latency over " +
                std::to_string(commit_ms.size()) +
                " register/drain commits; x baseline = p50 over the Watch's "
                "p50; all subscribed in " +
                Fixed(subscribe_seconds, 2) + " s";
    row.extra.emplace_back("watch_p50_ms", watch_row.p50_ms);
    row.extra.emplace_back("watch_p90_ms", watch_row.p90_ms);
    row.extra.emplace_back("watch_max_ms", watch_row.max_ms);
    row.extra.emplace_back("subscribe_seconds", subscribe_seconds);
    row.extra.emplace_back("commit_p50_ms", commit_p50);
    row.extra.emplace_back("updates_seen", static_cast<double>(xds_ms.size()));
    rows_.push_back(std::move(row));
    rows_.push_back(std::move(watch_row));
  }
}

}  // namespace muster::bench
