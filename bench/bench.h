#pragma once

// The benchmark: the scenarios against one musterd, what they share
// (the daemon, the stubs, realms, preloading, the Ping baseline) and
// their results. Each scenario is defined in a file of its own.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/clock.h"
#include "bench/closed_loop.h"
#include "bench/daemon.h"
#include "bench/results.h"
#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"

#ifndef MUSTERD_PATH
#define MUSTERD_PATH "musterd"
#endif

namespace muster::bench {

namespace v1 = ::muster::v1;

struct Config {
  std::string musterd = MUSTERD_PATH;
  double duration = 5;
  bool quick = false;
  std::vector<std::string> scenarios;
  std::vector<int> in_flights = {1, 16, 64, 256};
  int lookup_instances = 100000;
  int heartbeat_instances = 100000;
  int checker_targets = 10000;
  int scale_instances = 1000000;
  std::vector<std::pair<int, int>> watch_loads = {{1000, 100}, {100, 1000}};
};

// Runs the scenarios against one musterd and collects their rows and
// failures. Not thread-safe.
class Bench {
 public:
  // `config` and `daemon` must outlive the bench; `daemon` is started.
  Bench(const Config& config, Daemon& daemon);

  // Runs the baseline, then every selected scenario.
  void Run();

  const std::vector<Row>& rows() const { return rows_; }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  bool Selected(const std::string& name) const {
    return config_.scenarios.empty() ||
           std::find(config_.scenarios.begin(), config_.scenarios.end(),
                     name) != config_.scenarios.end();
  }

  void Fail(const std::string& what) {
    std::fprintf(stderr, "muster-bench: FAIL: %s\n", what.c_str());
    failures_.push_back(what);
  }

  void CheckErrors(const std::string& what, const LoadResult& r) {
    if (r.errors > 0) {
      Fail(what + ": " + std::to_string(r.errors) + " of " +
           std::to_string(r.ok + r.errors) +
           " requests failed (first: " + r.first_error + ")");
    }
  }

  // Adds a row from a closed-loop result and the daemon stats around it.
  // `baseline` is the Ping rate measured just before at the same
  // concurrency (0: use the run's first baseline).
  Row& AddRow(const std::string& scenario, int in_flight, const LoadResult& r,
              const DaemonStats& before, const DaemonStats& after,
              double baseline = 0) {
    Row row;
    row.scenario = scenario;
    row.in_flight = in_flight;
    row.ops_per_second = r.ok / std::max(r.wall_seconds, 1e-9);
    FillLatencies(r.latencies_ms, &row);
    row.cpu_share = (after.cpu_seconds - before.cpu_seconds) /
                    std::max(r.wall_seconds, 1e-9);
    row.peak_rss_mib = after.peak_rss_mib;
    if (scenario == "baseline") {
      baseline_[in_flight] = row.ops_per_second;
    } else if (baseline > 0) {
      row.ratio = row.ops_per_second / baseline;
      row.extra.push_back({"baseline_ops_per_second", baseline});
    } else if (baseline_.count(in_flight) && baseline_[in_flight] > 0) {
      row.ratio = row.ops_per_second / baseline_[in_flight];
    }
    CheckErrors(scenario + "@" + std::to_string(in_flight), r);
    rows_.push_back(row);
    return rows_.back();
  }

  void CreateRealm(const std::string& name) {
    grpc::ClientContext ctx;
    v1::CreateRealmRequest req;
    req.set_name(name);
    v1::Realm realm;
    grpc::Status s = realms_->CreateRealm(&ctx, req, &realm);
    if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      Fail("CreateRealm " + name + ": " + s.error_message());
    }
  }

  // The routable instances of a realm, from ListServices.
  uint64_t Routable(const std::string& realm) {
    grpc::ClientContext ctx;
    v1::ListServicesRequest req;
    req.set_realm(realm);
    v1::ListServicesResponse resp;
    if (!registry_->ListServices(&ctx, req, &resp).ok()) return 0;
    uint64_t routable = 0;
    for (const auto& service : resp.services())
      routable += service.routable_count();
    return routable;
  }

  // Removes a scenario's realm and its instances, so that no background
  // work of it (probes, TTL expiry) runs into the next scenario.
  void DeleteRealm(const std::string& name) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(120));
    v1::DeleteRealmRequest req;
    req.set_name(name);
    req.set_force(true);
    v1::DeleteRealmResponse resp;
    grpc::Status s = realms_->DeleteRealm(&ctx, req, &resp);
    if (!s.ok()) Fail("DeleteRealm " + name + ": " + s.error_message());
  }

  StartFn<v1::RegisterRequest, v1::RegisterResponse> RegisterCall() {
    return [this](grpc::ClientContext* ctx, const v1::RegisterRequest& req,
                  grpc::CompletionQueue* cq) {
      return registry_->AsyncRegister(ctx, req, cq);
    };
  }

  // Fills a plain (check-less, so always routable) instance.
  static void FillInstance(const std::string& realm, const std::string& service,
                           const std::string& id, v1::RegisterRequest* req) {
    req->set_realm(realm);
    v1::Instance* instance = req->mutable_instance();
    instance->set_service(service);
    instance->set_id(id);
    instance->set_address("127.0.0.1");
    instance->set_port(8000 + std::hash<std::string>()(id) % 50000);
  }

  // Registers `count` instances built by `make` with 256 in flight.
  LoadResult Preload(
      const std::string& what, uint64_t count,
      const std::function<void(uint64_t, v1::RegisterRequest*)>& make,
      const std::function<void(uint64_t, const v1::RegisterResponse&)>& on_ok =
          nullptr) {
    LoadResult r = RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
        256, 0, count, make, RegisterCall(), on_ok);
    CheckErrors("preload " + what, r);
    std::fprintf(stderr, "muster-bench: preloaded %s: %llu in %.1f s\n",
                 what.c_str(), static_cast<unsigned long long>(r.ok),
                 r.wall_seconds);
    return r;
  }

  // Ping's rate at `in_flight` over about a second, measured right before
  // a scenario's point: this machine's speed drifts within a run, and a
  // ratio to a baseline taken minutes earlier would carry that drift.
  double PingRate(int in_flight) {
    LoadResult r = RunPing(in_flight, std::min(1.0, config_.duration));
    CheckErrors("baseline before a point", r);
    return r.ok / std::max(r.wall_seconds, 1e-9);
  }

  // Closed-loop Ping calls for `seconds`.
  LoadResult RunPing(int in_flight, double seconds) {
    return RunClosedLoop<v1::PingRequest, v1::PingResponse>(
        in_flight, seconds, 0, [](uint64_t, v1::PingRequest*) {},
        [this](grpc::ClientContext* ctx, const v1::PingRequest& req,
               grpc::CompletionQueue* cq) {
          return registry_->AsyncPing(ctx, req, cq);
        });
  }

  // The scenarios, one file each (baseline.cc, lookup.cc, ...).
  void Baseline();
  void Lookup();
  void Register();
  void Heartbeat();
  void Watch();
  // W watchers on a fresh realm while a paced writer registers `rate`
  // new instances per second.
  void WatchOnce(int watchers, int rate);
  void Checker();
  void Scale();

  const Config& config_;
  Daemon& daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Registry::Stub> registry_;
  std::unique_ptr<v1::Realms::Stub> realms_;
  std::map<int, double> baseline_;
  std::vector<Row> rows_;
  std::vector<std::string> failures_;
};

}  // namespace muster::bench
