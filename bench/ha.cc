// The ha scenario: musterd's high-availability mode (--store etcd, three
// replicas over a three-member etcd on 127.0.0.1) against the bench's
// single musterd with its RocksDB store, in one run:
//   register  the single node, the replicas round-robin, and raw etcd Txn
//             puts of the bytes one registration writes (the floor of the
//             replicas' writes), at 1, 16 and 64 in flight;
//   lookup    ListInstances of a 10-instance service among N, on the
//             single node and on one replica;
//   watch     send -> event latency of a watcher on replica 2 while the
//             writes go to replica 0, and of a watcher of the single node.
// Each work alternates between its targets in rounds, so that a drift of
// the machine's speed falls on every side; a side's rate is the sum of its
// rounds. The `x baseline` column of an HA row is its rate over the
// single node's at the same concurrency (not over Ping).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench.h"
#include "bench/etcd.h"
#include "store/etcd/etcd_client.h"
#include "store/etcd/proto/rpc.grpc.pb.h"
#include "testkit/etcd_cluster.h"

namespace muster::bench {
namespace {

constexpr int kReplicas = 3;
constexpr int kRounds = 2;
constexpr int kInFlights[] = {1, 16, 64};
// Paced registrations per second while the watch latency is measured.
constexpr int kWatchRate = 100;
// The prefix of the raw etcd puts (muster's keys are under /muster/).
constexpr char kRawPrefix[] = "/bench-raw/";
// What a single-node or HA row's rate is compared with.
constexpr char kSingleNote[] = "single musterd, RocksDB store";

// Register calls spread round-robin over `stubs`.
StartFn<v1::RegisterRequest, v1::RegisterResponse> RoundRobinRegister(
    std::vector<v1::Registry::Stub*> stubs) {
  auto next = std::make_shared<uint64_t>(0);
  return [stubs, next](grpc::ClientContext* ctx, const v1::RegisterRequest& req,
                       grpc::CompletionQueue* cq) {
    return stubs[(*next)++ % stubs.size()]->AsyncRegister(ctx, req, cq);
  };
}

// ListInstances of `service` in `realm` on `stub` once it has applied
// `min_revision`: the number of instances, or an error naming the call.
absl::StatusOr<int> ListAt(v1::Registry::Stub* stub, const std::string& realm,
                           const std::string& service, uint64_t min_revision) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ListInstancesRequest req;
  req.set_realm(realm);
  req.set_service(service);
  req.set_min_revision(min_revision);
  req.set_page_size(1000);
  v1::ListInstancesResponse resp;
  const grpc::Status s = stub->ListInstances(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::UnavailableError(
        "ListInstances " + realm + "/" + service + " at revision " +
        std::to_string(min_revision) + ": " + s.error_message());
  }
  return resp.instances_size();
}

// Registers `req` through `writer` and waits until every one of `readers`
// lists it (ListInstances at the write's revision): the revision.
absl::StatusOr<uint64_t> WriteThenRead(
    v1::Registry::Stub* writer, const std::vector<v1::Registry::Stub*>& readers,
    const v1::RegisterRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::RegisterResponse resp;
  const grpc::Status s = writer->Register(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::UnavailableError("Register " + req.instance().id() + ": " +
                                  s.error_message());
  }
  for (v1::Registry::Stub* reader : readers) {
    absl::StatusOr<int> n =
        ListAt(reader, req.realm(), req.instance().service(), resp.revision());
    if (!n.ok()) return n.status();
    if (*n < 1) {
      return absl::NotFoundError("instance " + req.instance().id() +
                                 " missing at revision " +
                                 std::to_string(resp.revision()));
    }
  }
  return resp.revision();
}

// One watch and the paced writes it sees.
struct WatchRun {
  std::vector<double> latencies_ms;
  uint64_t writes_ok = 0;
  uint64_t write_errors = 0;
  std::string first_write_error;
  uint64_t events = 0;
  bool snapshot = false;   // SNAPSHOT_END came
  bool in_order = true;    // revisions never decreased
  bool duplicate = false;  // an instance's event came twice
  bool unknown = false;    // an event of an instance not written here
  // Events with the revision of the event before them: a replica commits
  // the registrations it groups into one etcd Txn at one revision.
  uint64_t shared_revision = 0;
  double write_seconds = 0;
};

// The client-side send time of each write, by instance id. Thread-safe:
// the writer adds, the watching thread looks up.
struct SendTimes {
  absl::Mutex mu;
  std::unordered_map<std::string, Clock::time_point> sent ABSL_GUARDED_BY(mu);
};

bool WaitFor(const std::function<bool()>& done, double seconds) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  while (!done() && Clock::now() < deadline) SleepSeconds(0.005);
  return done();
}

// One Watch of `realm` on `watched` while `rate` registrations a second
// (made by `make`, instance ids unique) go to `writer` for `seconds`: the
// latency from each write's send to its event on the watch.
WatchRun MeasureWatch(
    v1::Registry::Stub* writer, v1::Registry::Stub* watched,
    const std::string& realm, int rate, double seconds,
    const std::function<void(uint64_t, v1::RegisterRequest*)>& make) {
  WatchRun run;
  SendTimes times;
  std::atomic<bool> snapshot{false};
  std::atomic<uint64_t> events{0};
  grpc::ClientContext watch_ctx;
  std::vector<double> latencies;
  bool in_order = true;
  bool duplicate = false;
  bool unknown = false;
  uint64_t shared_revision = 0;
  std::unordered_set<std::string> seen;
  std::thread watcher([&] {
    v1::WatchRequest req;
    req.set_realm(realm);
    auto reader = watched->Watch(&watch_ctx, req);
    v1::WatchResponse resp;
    uint64_t last_revision = 0;
    while (reader->Read(&resp)) {
      const auto now = Clock::now();
      if (resp.kind() == v1::WatchResponse::SNAPSHOT_END) snapshot = true;
      if (resp.kind() != v1::WatchResponse::EVENTS) continue;
      for (const v1::Event& e : resp.events()) {
        if (e.revision() < last_revision) in_order = false;
        if (e.revision() == last_revision) ++shared_revision;
        last_revision = e.revision();
        if (!seen.insert(e.instance().id()).second) duplicate = true;
        absl::MutexLock lock(&times.mu);
        auto it = times.sent.find(e.instance().id());
        if (it == times.sent.end()) {
          unknown = true;
        } else {
          latencies.push_back(Millis(now - it->second));
        }
      }
      events += resp.events_size();
    }
    reader->Finish();
  });
  run.snapshot = WaitFor([&] { return snapshot.load(); }, 30);

  grpc::CompletionQueue cq;
  struct Write {
    grpc::ClientContext ctx;
    v1::RegisterRequest req;
    v1::RegisterResponse resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RegisterResponse>>
        reader;
  };
  std::atomic<uint64_t> done{0};
  std::thread drainer([&] {
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
      auto* w = static_cast<Write*>(tag);
      if (ok && w->status.ok()) {
        ++run.writes_ok;
      } else if (run.write_errors++ == 0) {
        run.first_write_error = w->status.error_message();
      }
      ++done;
    }
  });
  std::vector<std::unique_ptr<Write>> writes;
  const uint64_t total =
      run.snapshot ? static_cast<uint64_t>(seconds * rate) : 0;
  const auto begin = Clock::now();
  for (uint64_t k = 0; k < total; ++k) {
    std::this_thread::sleep_until(
        begin + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(double(k) / rate)));
    auto w = std::make_unique<Write>();
    make(k, &w->req);
    w->ctx.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
    {
      absl::MutexLock lock(&times.mu);
      times.sent[w->req.instance().id()] = Clock::now();
    }
    w->reader = writer->AsyncRegister(&w->ctx, w->req, &cq);
    w->reader->Finish(&w->resp, &w->status, w.get());
    writes.push_back(std::move(w));
  }
  WaitFor([&] { return done.load() == total; }, 40);
  run.write_seconds = Seconds(Clock::now() - begin);
  cq.Shutdown();
  drainer.join();
  WaitFor([&] { return events.load() >= run.writes_ok; }, 10);
  watch_ctx.TryCancel();
  watcher.join();
  run.latencies_ms = std::move(latencies);
  run.events = events.load();
  run.in_order = in_order;
  run.duplicate = duplicate;
  run.unknown = unknown;
  run.shared_revision = shared_revision;
  return run;
}

// The bytes etcd holds for the keys that revision `revision` wrote under
// `prefix` (a registration: its instance record and the log entry).
absl::StatusOr<uint64_t> BytesWrittenAt(etcd::EtcdClient& client,
                                        const std::string& prefix,
                                        uint64_t revision) {
  etcdserverpb::RangeRequest range;
  range.set_key(prefix);
  range.set_range_end(PrefixEnd(prefix));
  range.set_revision(static_cast<int64_t>(revision));
  range.set_min_mod_revision(static_cast<int64_t>(revision));
  range.set_max_mod_revision(static_cast<int64_t>(revision));
  absl::StatusOr<etcdserverpb::RangeResponse> resp = client.Range(range);
  if (!resp.ok()) return resp.status();
  uint64_t bytes = 0;
  for (const auto& kv : resp->kvs()) bytes += kv.value().size();
  return bytes;
}

DaemonStats SumStats(const std::vector<std::unique_ptr<Daemon>>& daemons) {
  DaemonStats sum;
  for (const auto& d : daemons) {
    const DaemonStats s = d->Stats();
    sum.cpu_seconds += s.cpu_seconds;
    sum.peak_rss_mib = std::max(sum.peak_rss_mib, s.peak_rss_mib);
    sum.rss_mib += s.rss_mib;
  }
  return sum;
}

}  // namespace

void Bench::Ha() {
  const auto scenario_begin = Clock::now();
  if (access(config_.etcd.c_str(), X_OK) != 0) {
    Fail("ha: --etcd " + config_.etcd +
         " is not an executable etcd (install etcd-server, or pass --etcd)");
    return;
  }
  char dir_template[] = "/tmp/muster-bench-ha-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    Fail("ha: mkdtemp failed");
    return;
  }
  const std::string dir = dir_template;
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } remove_dir{dir};

  // etcd: three members on 127.0.0.1, data in /tmp like the single node's.
  std::error_code mkdir_error;
  std::filesystem::create_directories(dir + "/etcd", mkdir_error);
  testing::EtcdClusterOptions etcd_options;
  etcd_options.binary = config_.etcd;
  absl::StatusOr<std::unique_ptr<testing::EtcdCluster>> cluster =
      testing::EtcdCluster::Start(kReplicas, dir + "/etcd", etcd_options);
  if (!cluster.ok()) {
    Fail("ha: etcd did not start: " + cluster.status().ToString());
    return;
  }
  std::vector<pid_t> etcd_pids;
  for (int i = 0; i < (*cluster)->size(); ++i) {
    etcd_pids.push_back((*cluster)->pid(i));
  }
  // etcd's CPU is part of the work measured, not noise.
  ScopedWatch watch_etcd(etcd_pids);
  const std::vector<std::string> endpoints = (*cluster)->endpoints();
  const std::string endpoint_list = absl::StrJoin(endpoints, ",");
  absl::StatusOr<int> leader = (*cluster)->LeaderIndex();
  etcd::EtcdClientOptions client_options;
  client_options.endpoints = endpoints;
  absl::StatusOr<std::unique_ptr<etcd::EtcdClient>> etcd_client =
      etcd::EtcdClient::Create(client_options);
  if (!etcd_client.ok()) {
    Fail("ha: etcd client: " + etcd_client.status().ToString());
    return;
  }

  // The replicas. --advertise-addr defaults to their --listen address,
  // 127.0.0.1:<port>, which the harness picks when it spawns them.
  std::vector<std::unique_ptr<Daemon>> replicas;
  std::vector<std::unique_ptr<v1::Registry::Stub>> stubs;
  std::vector<v1::Registry::Stub*> all;
  for (int i = 0; i < kReplicas; ++i) {
    replicas.push_back(std::make_unique<Daemon>(
        config_.musterd,
        std::vector<std::string>{"--store", "etcd", "--etcd-endpoints",
                                 endpoint_list, "--replica-id",
                                 "r" + std::to_string(i)},
        nullptr));
    if (!replicas.back()->Start()) {
      Fail("ha: replica r" + std::to_string(i) + " did not start");
      return;
    }
    stubs.push_back(v1::Registry::NewStub(grpc::CreateChannel(
        replicas.back()->grpc_address(), grpc::InsecureChannelCredentials())));
    all.push_back(stubs.back().get());
  }
  // Ready: a write on r0 is listed by every replica at its revision.
  auto prime = [&](const std::string& realm) -> absl::StatusOr<uint64_t> {
    v1::RegisterRequest req;
    FillInstance(realm, "marker", "marker", &req);
    return WriteThenRead(all[0], all, req);
  };
  absl::StatusOr<uint64_t> ready_revision = prime("ha-register");
  if (!ready_revision.ok()) {
    Fail("ha: replicas not ready: " + ready_revision.status().ToString());
    return;
  }
  absl::StatusOr<uint64_t> record_bytes =
      BytesWrittenAt(**etcd_client, "/muster/", *ready_revision);
  if (!record_bytes.ok() || *record_bytes == 0) {
    Fail("ha: cannot read the registration's keys from etcd: " +
         (record_bytes.ok() ? std::string("none at its revision")
                            : record_bytes.status().ToString()));
    return;
  }
  std::fprintf(stderr,
               "muster-bench: ha: etcd at %s (leader: member %d), 3 replicas "
               "ready in %.1f s; a registration writes %llu bytes to etcd\n",
               endpoint_list.c_str(), leader.ok() ? *leader : -1,
               Seconds(Clock::now() - scenario_begin),
               static_cast<unsigned long long>(*record_bytes));
  CreateRealm("ha-register");

  // Raw etcd puts, on the same closed-loop machinery: etcd's KV service
  // on member 0, where each replica's etcd client sends its calls (the
  // first of --etcd-endpoints), with the "hasleader" metadata it sends.
  auto kv = etcdserverpb::KV::NewStub(
      grpc::CreateChannel(endpoints[0], grpc::InsecureChannelCredentials()));
  const std::string value(*record_bytes, 'v');
  uint64_t raw_not_succeeded = 0;
  uint64_t raw_ok_total = 0;

  // --- register ---
  std::map<int, double> single_register, ha_register, raw_register;
  std::map<int, double> lookup_ratio;
  for (int inflight : kInFlights) {
    LoadResult single, ha, raw;
    double single_cpu = 0, ha_cpu = 0;
    for (int round = 0; round < kRounds; ++round) {
      const double seconds = config_.duration / kRounds;
      const std::string prefix =
          std::to_string(inflight) + "-" + std::to_string(round) + "-";
      auto make = [&](uint64_t i, v1::RegisterRequest* req) {
        FillInstance("ha-register", "svc-" + std::to_string(i % 100),
                     prefix + std::to_string(i), req);
      };
      DaemonStats before = daemon_.Stats();
      Accumulate(RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
                     inflight, seconds, 0, make, RegisterCall()),
                 &single);
      single_cpu += daemon_.Stats().cpu_seconds - before.cpu_seconds;

      before = SumStats(replicas);
      Accumulate(RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
                     inflight, seconds, 0, make, RoundRobinRegister(all)),
                 &ha);
      ha_cpu += SumStats(replicas).cpu_seconds - before.cpu_seconds;

      const LoadResult r =
          RunClosedLoop<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
              inflight, seconds, 0,
              [&](uint64_t i, etcdserverpb::TxnRequest* req) {
                etcdserverpb::PutRequest* put =
                    req->add_success()->mutable_request_put();
                put->set_key(kRawPrefix + prefix + std::to_string(i));
                put->set_value(value);
              },
              EtcdTxnCall(kv.get()),
              [&](uint64_t, const etcdserverpb::TxnResponse& resp) {
                if (!resp.succeeded()) ++raw_not_succeeded;
              });
      // The noise guard's discarded attempts wrote keys too.
      raw_ok_total += r.ok + r.discarded_ok;
      Accumulate(r, &raw);
    }
    const DaemonStats none;
    DaemonStats after;
    after.cpu_seconds = single_cpu;
    after.peak_rss_mib = daemon_.Stats().peak_rss_mib;
    Row& s = AddRow("ha-register-single", inflight, single, none, after);
    s.ratio = 0;
    s.notes = std::string(kSingleNote) + ", durable write";
    single_register[inflight] = s.ops_per_second;

    after.cpu_seconds = ha_cpu;
    after.peak_rss_mib = SumStats(replicas).peak_rss_mib;
    Row& h = AddRow("ha-register", inflight, ha, none, after,
                    single_register[inflight]);
    ha_register[inflight] = h.ops_per_second;
    const size_t ha_index = rows_.size() - 1;

    after = DaemonStats();
    Row& e = AddRow("ha-etcd-put", inflight, raw, none, after,
                    single_register[inflight]);
    raw_register[inflight] = e.ops_per_second;
    e.cpu_share = 0;
    e.notes = "raw etcd Txn put of " + std::to_string(value.size()) +
              " B (what one registration writes) to member 0; daemon CPU "
              "not measured";

    Row& hr = rows_[ha_index];
    const double to_raw = raw_register[inflight] > 0
                              ? ha_register[inflight] / raw_register[inflight]
                              : 0;
    hr.notes = "3 replicas round-robin, 3-member etcd; x single node, " +
               Fixed(to_raw, 2) + "x raw etcd put; CPU: 3 replicas";
    hr.extra.push_back({"ratio_to_single", hr.ratio});
    hr.extra.push_back({"ratio_to_etcd_put", to_raw});
  }
  if (raw_not_succeeded > 0) {
    Fail("ha: " + std::to_string(raw_not_succeeded) +
         " raw etcd Txns did not succeed");
  }
  {
    etcdserverpb::RangeRequest count;
    count.set_key(kRawPrefix);
    count.set_range_end(PrefixEnd(kRawPrefix));
    count.set_count_only(true);
    absl::StatusOr<etcdserverpb::RangeResponse> resp =
        (*etcd_client)->Range(count);
    if (!resp.ok() || static_cast<uint64_t>(resp->count()) != raw_ok_total) {
      Fail("ha: etcd holds " +
           (resp.ok() ? std::to_string(resp->count())
                      : resp.status().ToString()) +
           " raw keys, " + std::to_string(raw_ok_total) + " were acknowledged");
    }
  }

  // --- lookup: the same data on the single node and on the replicas ---
  const std::string lookup_realm = "ha-lookup";
  const int n = config_.ha_lookup_instances;
  auto make_lookup = [&](uint64_t i, v1::RegisterRequest* req) {
    if (i < 10) {
      FillInstance(lookup_realm, "target", "t-" + std::to_string(i), req);
    } else {
      FillInstance(lookup_realm, "svc-" + std::to_string(i / 100),
                   "i-" + std::to_string(i), req);
    }
  };
  CreateRealm(lookup_realm);
  Preload(std::to_string(n + 10) + " ha lookup instances (single node)", n + 10,
          make_lookup);
  if (absl::StatusOr<uint64_t> p = prime(lookup_realm); !p.ok()) {
    Fail("ha: lookup realm: " + p.status().ToString());
  }
  uint64_t max_revision = 0;
  const LoadResult preload =
      RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
          256, 0, n + 10, make_lookup, RoundRobinRegister(all),
          [&](uint64_t, const v1::RegisterResponse& resp) {
            max_revision = std::max(max_revision, resp.revision());
          });
  CheckErrors("ha: preload lookup instances on the replicas", preload);
  std::fprintf(stderr,
               "muster-bench: preloaded %d ha lookup instances (3 replicas): "
               "%llu in %.1f s\n",
               n + 10, static_cast<unsigned long long>(preload.ok),
               preload.wall_seconds);
  // The lookups go to replica 1; it must have applied every preload write.
  v1::Registry::Stub* lookup_replica = all[1];
  if (absl::StatusOr<int> t =
          ListAt(lookup_replica, lookup_realm, "target", max_revision);
      !t.ok() || *t != 10) {
    Fail("ha: replica r1 lists " +
         (t.ok() ? std::to_string(*t) : t.status().ToString()) +
         " target instances at the preload's last revision, not 10");
  }
  auto lookup_make = [&](uint64_t, v1::ListInstancesRequest* req) {
    req->set_realm(lookup_realm);
    req->set_service("target");
    req->set_routable_only(true);
  };
  uint64_t wrong_size = 0;
  auto check_size = [&](uint64_t, const v1::ListInstancesResponse& resp) {
    if (resp.instances_size() != 10) ++wrong_size;
  };
  for (int inflight : kInFlights) {
    LoadResult single, ha;
    double single_cpu = 0, ha_cpu = 0;
    for (int round = 0; round < kRounds; ++round) {
      const double seconds = config_.duration / kRounds;
      DaemonStats before = daemon_.Stats();
      Accumulate(
          RunClosedLoop<v1::ListInstancesRequest, v1::ListInstancesResponse>(
              inflight, seconds, 0, lookup_make,
              [this](grpc::ClientContext* ctx,
                     const v1::ListInstancesRequest& req,
                     grpc::CompletionQueue* cq) {
                return registry_->AsyncListInstances(ctx, req, cq);
              },
              check_size),
          &single);
      single_cpu += daemon_.Stats().cpu_seconds - before.cpu_seconds;
      before = replicas[1]->Stats();
      Accumulate(
          RunClosedLoop<v1::ListInstancesRequest, v1::ListInstancesResponse>(
              inflight, seconds, 0, lookup_make,
              [&](grpc::ClientContext* ctx, const v1::ListInstancesRequest& req,
                  grpc::CompletionQueue* cq) {
                return lookup_replica->AsyncListInstances(ctx, req, cq);
              },
              check_size),
          &ha);
      ha_cpu += replicas[1]->Stats().cpu_seconds - before.cpu_seconds;
    }
    const DaemonStats none;
    DaemonStats after;
    after.cpu_seconds = single_cpu;
    after.peak_rss_mib = daemon_.Stats().peak_rss_mib;
    Row& s = AddRow("ha-lookup-single", inflight, single, none, after);
    s.ratio = 0;
    s.notes = std::string(kSingleNote) + ", 10 of " + std::to_string(n + 10) +
              " instances";
    const double single_rate = s.ops_per_second;
    after.cpu_seconds = ha_cpu;
    after.peak_rss_mib = replicas[1]->Stats().peak_rss_mib;
    Row& h = AddRow("ha-lookup", inflight, ha, none, after, single_rate);
    h.notes = "replica r1, 10 of " + std::to_string(n + 10) +
              " instances; x single node";
    h.extra.push_back({"ratio_to_single", h.ratio});
    lookup_ratio[inflight] = h.ratio;
  }
  if (wrong_size > 0) {
    Fail("ha: " + std::to_string(wrong_size) +
         " lookups without exactly 10 instances");
  }

  // --- watch: cross-replica against the single node ---
  double single_p50 = 0, single_p99 = 0;
  double watch_p50_ratio = 0, watch_p99_ratio = 0;
  for (int side = 0; side < 2; ++side) {
    const bool is_ha = side == 1;
    const std::string realm = is_ha ? "ha-watch" : "ha-watch-single";
    v1::Registry::Stub* writer = is_ha ? all[0] : registry_.get();
    v1::Registry::Stub* watched = is_ha ? all[2] : registry_.get();
    if (is_ha) {
      if (absl::StatusOr<uint64_t> p = prime(realm); !p.ok()) {
        Fail("ha: watch realm: " + p.status().ToString());
        continue;
      }
    } else {
      CreateRealm(realm);
    }
    const DaemonStats before = is_ha ? SumStats(replicas) : daemon_.Stats();
    const WatchRun run = MeasureWatch(
        writer, watched, realm, kWatchRate, config_.duration,
        [&](uint64_t k, v1::RegisterRequest* req) {
          FillInstance(realm, "svc", "w-" + std::to_string(k), req);
        });
    const DaemonStats after = is_ha ? SumStats(replicas) : daemon_.Stats();
    const bool complete = run.snapshot && run.write_errors == 0 &&
                          run.in_order && !run.duplicate && !run.unknown &&
                          run.events == run.writes_ok && run.writes_ok > 0;
    Row row;
    row.scenario = is_ha ? "ha-watch" : "ha-watch-single";
    row.in_flight = 1;
    row.ops_per_second = run.events / std::max(run.write_seconds, 1e-9);
    FillLatencies(run.latencies_ms, &row);
    row.cpu_share = (after.cpu_seconds - before.cpu_seconds) /
                    std::max(run.write_seconds, 1e-9);
    row.peak_rss_mib = after.peak_rss_mib;
    if (!is_ha) {
      single_p50 = row.p50_ms;
      single_p99 = row.p99_ms;
      row.notes =
          std::string(kSingleNote) + ", 1 watcher @ " +
          std::to_string(kWatchRate) +
          " writes/s, send -> event; complete: " + (complete ? "yes" : "no");
    } else {
      const double p50_ratio = single_p50 > 0 ? row.p50_ms / single_p50 : 0;
      const double p99_ratio = single_p99 > 0 ? row.p99_ms / single_p99 : 0;
      row.notes = "watcher on r2, writes to r0 @ " +
                  std::to_string(kWatchRate) + "/s, send -> event; latency " +
                  Fixed(p50_ratio, 2) + "x single node at p50, " +
                  Fixed(p99_ratio, 2) +
                  "x at p99; complete: " + (complete ? "yes" : "no");
      row.extra.push_back({"p50_ratio_to_single", p50_ratio});
      row.extra.push_back({"p99_ratio_to_single", p99_ratio});
      watch_p50_ratio = p50_ratio;
      watch_p99_ratio = p99_ratio;
    }
    row.notes += "; " + std::to_string(run.shared_revision) +
                 " events at the revision of the one before";
    row.extra.push_back(
        {"events_sharing_a_revision", double(run.shared_revision)});
    rows_.push_back(row);
    if (!complete) {
      Fail("ha: " + row.scenario + ": " +
           (run.snapshot ? "" : "no snapshot; ") + std::to_string(run.events) +
           " events for " + std::to_string(run.writes_ok) + " writes (" +
           std::to_string(run.write_errors) + " failed" +
           (run.first_write_error.empty() ? "" : ": " + run.first_write_error) +
           ")" + (run.in_order ? "" : ", out of order") +
           (run.duplicate ? ", duplicated" : "") +
           (run.unknown ? ", unknown events" : ""));
    }
  }

  std::string summary;
  for (int inflight : kInFlights) {
    summary += "\n  @" + std::to_string(inflight) + ": HA register / single " +
               Fixed(single_register[inflight] > 0
                         ? ha_register[inflight] / single_register[inflight]
                         : 0,
                     2) +
               ", HA register / raw etcd put " +
               Fixed(raw_register[inflight] > 0
                         ? ha_register[inflight] / raw_register[inflight]
                         : 0,
                     2) +
               ", HA lookup / single " + Fixed(lookup_ratio[inflight], 2);
  }
  summary += "\n  watch latency, HA (r0 -> r2) / single: p50 " +
             Fixed(watch_p50_ratio, 2) + ", p99 " + Fixed(watch_p99_ratio, 2);
  std::fprintf(stderr,
               "muster-bench: ha ratios:%s\nmuster-bench: ha took %.0f s\n",
               summary.c_str(), Seconds(Clock::now() - scenario_begin));

  // Our channels first: a musterd that a client is still connected to
  // waits out its 5 s shutdown grace. Then the replicas, which leave etcd
  // (revoke their leases) as they stop; etcd last.
  const auto stop_begin = Clock::now();
  all.clear();
  stubs.clear();
  kv.reset();
  for (auto& r : replicas) r->Stop();
  replicas.clear();
  cluster->reset();
  std::fprintf(stderr, "muster-bench: ha: stopped in %.1f s\n",
               Seconds(Clock::now() - stop_begin));
}

}  // namespace muster::bench
