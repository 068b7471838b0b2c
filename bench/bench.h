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
#include "bench/noise.h"
#include "bench/results.h"
#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"

#ifndef MUSTERD_PATH
#define MUSTERD_PATH "musterd"
#endif

namespace muster::bench {

namespace v1 = ::muster::v1;

// Copies the noise guard's figures of `r` to `row`.
inline void FillNoise(const LoadResult& r, Row* row) {
  row->other_cpu_cores = OtherCores(r);
  row->noisy = r.noisy;
  row->retries = r.retries;
}

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
  // The ha and etcd scenarios: the etcd binary; the instances of ha's
  // lookup; the concurrencies of the etcd scenario.
  std::string etcd = "/usr/bin/etcd";
  int ha_lookup_instances = 20000;
  std::vector<int> etcd_in_flights = {1, 16, 64, 256};
  int etcd_heartbeat_instances = 10000;
  // The noise guard (bench/noise.h).
  NoisePolicy noise;
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
  const std::vector<Comparison>& comparisons() const { return comparisons_; }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  // Whether --scenarios names `name` (or is empty).
  bool Selected(const std::string& name) const;
  // Whether --scenarios names `name`.
  bool Named(const std::string& name) const;
  // Records a failure (the exit code becomes 1) and prints it.
  void Fail(const std::string& what);
  // Fails when `r` had a request that was not answered OK.
  void CheckErrors(const std::string& what, const LoadResult& r);

  // Adds a row from a closed-loop result and the daemon stats around it.
  // `baseline` is the Ping rate measured just before at the same
  // concurrency (0: use the run's first baseline).
  Row& AddRow(const std::string& scenario, int in_flight, const LoadResult& r,
              const DaemonStats& before, const DaemonStats& after,
              double baseline = 0);

  // Creates realm `name` (an existing one is fine).
  void CreateRealm(const std::string& name);

  // The routable instances of a realm, from ListServices.
  uint64_t Routable(const std::string& realm);

  // Removes a scenario's realm and its instances, so that no background
  // work of it (probes, TTL expiry) runs into the next scenario.
  void DeleteRealm(const std::string& name);

  // Starts an async Register on the bench's channel.
  StartFn<v1::RegisterRequest, v1::RegisterResponse> RegisterCall();

  // Fills a plain (check-less, so always routable) instance.
  static void FillInstance(const std::string& realm, const std::string& service,
                           const std::string& id, v1::RegisterRequest* req);

  // The TTL instances of the heartbeat scenarios (heartbeat, etcd):
  // instance i is "h-<i>" of service "svc-<i / 100>".
  static std::string TtlId(uint64_t i);
  static std::string TtlService(uint64_t i);
  // The heartbeat of TTL instance `i` of `realm`.
  static void FillHeartbeat(const std::string& realm, uint64_t i,
                            const std::vector<uint64_t>& incarnations,
                            v1::HeartbeatRequest* req);
  // Starts an async Heartbeat on the bench's channel.
  StartFn<v1::HeartbeatRequest, v1::HeartbeatResponse> HeartbeatCall();
  // Creates `realm` with `n` TTL instances (TTL 1 h) and heartbeats them
  // until every one is passing (the first heartbeats of an instance
  // commit its health change); their incarnations, by i.
  std::vector<uint64_t> PreparePassing(const std::string& realm, int n);

  // Registers `count` instances built by `make` with 256 in flight.
  LoadResult Preload(
      const std::string& what, uint64_t count,
      const std::function<void(uint64_t, v1::RegisterRequest*)>& make,
      const std::function<void(uint64_t, const v1::RegisterResponse&)>& on_ok =
          nullptr);

  // Ping's rate at `in_flight` over about a second, measured right before
  // a scenario's point: this machine's speed drifts within a run, and a
  // ratio to a baseline taken minutes earlier would carry that drift.
  double PingRate(int in_flight);

  // Closed-loop Ping calls for `seconds`.
  LoadResult RunPing(int in_flight, double seconds);

  // The scenarios, one file each (baseline.cc, lookup.cc, ...).
  void Baseline();
  void Lookup();
  void Register();
  void Ack();  // register latency, no watcher vs 1,000 on the realm
  void Heartbeat();
  void Watch();
  // W watchers on a fresh realm while a paced writer registers `rate`
  // new instances per second.
  void WatchOnce(int watchers, int rate);
  void Checker();
  void Scale();
  // Lookup and register with TLS and tokens against plaintext without,
  // on two daemons of its own.
  void Secure();
  // The client library: pick cost, HTTP call overhead, and how fast
  // traffic leaves a drained or failing instance.
  void Client();
  // DNS queries/s beside gRPC ListInstances, on a daemon of its own.
  void Dns();
  // The xDS (ADS) control plane, with MUSTER_XDS: how long an EDS push
  // takes to reach N subscribed ADS streams, against a plain Watch.
  void Xds();
  // musterd's HA mode (3 replicas over a 3-member etcd) against the single
  // node and against raw etcd puts: register, lookup, cross-replica watch.
  void Ha();
  // muster against one etcd member on the same disk, alternating in one
  // run: durable register vs put, lookup vs range (and Ping), heartbeat
  // streams vs lease keep-alive streams (vs_etcd.cc).
  void VsEtcd();

  const Config& config_;
  Daemon& daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Registry::Stub> registry_;
  std::unique_ptr<v1::Realms::Stub> realms_;
  std::map<int, double> baseline_;
  std::vector<Row> rows_;
  std::vector<Comparison> comparisons_;
  std::vector<std::string> failures_;
};

}  // namespace muster::bench
