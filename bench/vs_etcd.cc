// The etcd scenario: muster against one etcd member (Debian's etcd, or
// --etcd) started with its data dir beside the bench's musterd data dir
// (the same disk), on 127.0.0.1, driven by the same closed-loop client:
//   register   durable Register of new instances vs etcd Put of the same
//              bytes (the serialized instance) to fresh keys;
//   lookup     ListInstances, 10 routable of N instances, vs etcd Range of
//              a 10-key prefix among N keys of the same value size, and
//              Ping beside them;
//   heartbeat  N messages in flight on one HeartbeatStream (one heartbeat
//              each, round-robin over passing TTL instances) vs on one
//              LeaseKeepAlive stream (one lease id each), and the unary
//              Heartbeat for reference.
// Each work alternates between its sides in rounds; a side's rate is the
// sum of its rounds. The server CPU per operation comes from
// /proc/PID/stat of musterd and of etcd.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench.h"
#include "bench/etcd.h"
#include "bench/stream_loop.h"
#include "testkit/etcd_cluster.h"

namespace muster::bench {
namespace {

constexpr int kRounds = 2;
// etcd keys of the put and range works.
constexpr char kPutPrefix[] = "/bench/put/";
constexpr char kRangePrefix[] = "/bench/range/";
// Puts per Txn when preloading the range work's keys (the harness runs
// etcd with --max-txn-ops=1024).
constexpr int kPutsPerTxn = 500;

// One side of a comparison: a server and the work it is given.
struct Side {
  using RunFn = std::function<LoadResult(int in_flight, double seconds,
                                         const std::string& tag)>;
  Side(std::string scenario, std::function<double()> cpu_seconds, RunFn run)
      : scenario(std::move(scenario)),
        cpu_seconds(std::move(cpu_seconds)),
        run(std::move(run)) {}

  std::string scenario;  // its rows' name
  // The CPU time of the server doing the work.
  std::function<double()> cpu_seconds;
  // One round: `seconds` at `in_flight`; `tag` is unique per round (for
  // fresh keys and ids). May set `status` (a stream's end).
  RunFn run;
  // Set when the work cannot be measured (the RPC is unimplemented).
  std::string skipped;
  grpc::Status status;
  // Per concurrency: the rounds summed and the server CPU over them.
  LoadResult total;
  double cpu = 0;
};

// Runs every side (not skipped) in kRounds rounds of `seconds` / kRounds,
// alternating, after resetting their totals.
void Alternate(const std::vector<Side*>& sides, int in_flight, double seconds) {
  for (Side* side : sides) {
    side->total = LoadResult();
    side->cpu = 0;
  }
  for (int round = 0; round < kRounds; ++round) {
    const std::string tag =
        std::to_string(in_flight) + "-" + std::to_string(round);
    for (Side* side : sides) {
      if (!side->skipped.empty()) continue;
      side->status = grpc::Status::OK;
      const double before = side->cpu_seconds();
      LoadResult r = side->run(in_flight, seconds / kRounds, tag);
      if (side->status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        side->skipped = "the server answers UNIMPLEMENTED";
        side->total = LoadResult();
        continue;
      }
      side->cpu += side->cpu_seconds() - before;
      Accumulate(r, &side->total);
    }
  }
}

// Server CPU µs per answered call, over every attempt the CPU covered.
double CpuUsPerOp(const Side& side) {
  const uint64_t ops = side.total.ok + side.total.discarded_ok;
  return ops > 0 ? side.cpu * 1e6 / static_cast<double>(ops) : 0;
}

}  // namespace

void Bench::VsEtcd() {
  if (access(config_.etcd.c_str(), X_OK) != 0) {
    std::fprintf(stderr,
                 "muster-bench: etcd: skipped: %s is not an executable etcd "
                 "(install etcd-server, or pass --etcd)\n",
                 config_.etcd.c_str());
    return;
  }
  const auto scenario_begin = Clock::now();
  // Beside musterd's data dir: the same disk.
  const std::string dir = daemon_.dir() + "/etcd";
  std::error_code mkdir_error;
  std::filesystem::create_directories(dir, mkdir_error);
  testing::EtcdClusterOptions options;
  options.binary = config_.etcd;
  // The harness's 256 MiB quota is too small for a full run's puts, which
  // are never compacted (a later flag wins).
  options.extra_args = {"--quota-backend-bytes=8589934592"};
  absl::StatusOr<std::unique_ptr<testing::EtcdCluster>> cluster =
      testing::EtcdCluster::Start(1, dir, options);
  if (!cluster.ok()) {
    Fail("etcd: etcd did not start: " + cluster.status().ToString());
    return;
  }
  const pid_t etcd_pid = (*cluster)->pid(0);
  ScopedWatch watch_etcd({etcd_pid});
  auto etcd_channel = grpc::CreateChannel((*cluster)->endpoint(0),
                                          grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(etcd_channel);
  auto lease = etcdserverpb::Lease::NewStub(etcd_channel);
  auto daemon_cpu = [this] { return daemon_.Stats().cpu_seconds; };
  auto etcd_cpu = [etcd_pid] { return Daemon::StatsOf(etcd_pid).cpu_seconds; };
  std::fprintf(stderr, "muster-bench: etcd: one member at %s, data in %s\n",
               (*cluster)->endpoint(0).c_str(), dir.c_str());

  // Adds a side's row (server CPU over the rounds) and returns its index.
  auto add_row = [&](const Side& side, int in_flight, bool is_etcd) {
    DaemonStats none, after;
    after.cpu_seconds = side.cpu;
    after.peak_rss_mib = is_etcd ? Daemon::StatsOf(etcd_pid).peak_rss_mib
                                 : daemon_.Stats().peak_rss_mib;
    Row& row = AddRow(side.scenario, in_flight, side.total, none, after);
    row.ratio = 0;
    row.extra.push_back({"cpu_us_per_op", CpuUsPerOp(side)});
    if (is_etcd) row.notes = "etcd 1 member; daemon CPU: etcd's; ";
    return rows_.size() - 1;
  };
  // Compares muster's row `m` with etcd's row `e` (side `ms` and `es`):
  // the ratio on muster's row and a line of the summary.
  auto compare = [&](const std::string& work, int in_flight, const Side& ms,
                     size_t m, const Side& es, size_t e) {
    Comparison c;
    c.work = work;
    c.in_flight = in_flight;
    c.etcd = rows_[e];
    c.etcd_cpu_us_per_op = CpuUsPerOp(es);
    if (!ms.skipped.empty()) {
      c.skipped = ms.scenario + ": " + ms.skipped;
    } else {
      Row& row = rows_[m];
      row.ratio = c.etcd.ops_per_second > 0
                      ? row.ops_per_second / c.etcd.ops_per_second
                      : 0;
      row.extra.push_back({"ratio_to_etcd", row.ratio});
      row.notes += "x baseline: ratio to " + es.scenario;
      c.muster = row;
      c.muster_cpu_us_per_op = CpuUsPerOp(ms);
    }
    comparisons_.push_back(c);
  };
  // A row saying why a side was not measured.
  auto skipped_row = [&](const Side& side, int in_flight) {
    Row row;
    row.scenario = side.scenario;
    row.in_flight = in_flight;
    row.notes = "skipped: " + side.skipped;
    rows_.push_back(row);
    return rows_.size() - 1;
  };

  // The stored form of an instance: what a registration answers, with
  // the revisions and health musterd sets.
  const std::string register_realm = "vs-etcd-register";
  CreateRealm(register_realm);
  v1::Instance stored;
  {
    grpc::ClientContext ctx;
    v1::RegisterRequest req;
    FillInstance(register_realm, "svc-0", "sample", &req);
    v1::RegisterResponse resp;
    const grpc::Status s = registry_->Register(&ctx, req, &resp);
    if (!s.ok()) {
      Fail("etcd: register a sample instance: " + s.error_message());
      return;
    }
    stored = resp.instance();
  }
  // The value etcd is given for instance `id` of `service`.
  auto value_of = [&stored](const std::string& service, const std::string& id) {
    v1::Instance instance = stored;
    instance.set_service(service);
    instance.set_id(id);
    instance.set_port(8000 + std::hash<std::string>()(id) % 50000);
    return instance.SerializeAsString();
  };

  // --- register vs put ---
  Side reg{"muster-register", daemon_cpu,
           [&](int in_flight, double seconds, const std::string& tag) {
             return RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
                 in_flight, seconds, 0,
                 [&](uint64_t i, v1::RegisterRequest* req) {
                   FillInstance(register_realm,
                                "svc-" + std::to_string(i % 100),
                                "e" + tag + "-" + std::to_string(i), req);
                 },
                 RegisterCall());
           }};
  uint64_t puts_ok = 0;
  Side put{
      "etcd-put", etcd_cpu,
      [&](int in_flight, double seconds, const std::string& tag) {
        LoadResult r =
            RunClosedLoop<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
                in_flight, seconds, 0,
                [&](uint64_t i, etcdserverpb::PutRequest* req) {
                  const std::string id = "e" + tag + "-" + std::to_string(i);
                  req->set_key(kPutPrefix + id);
                  req->set_value(
                      value_of("svc-" + std::to_string(i % 100), id));
                },
                EtcdPutCall(etcd_channel));
        puts_ok += r.ok + r.discarded_ok;
        return r;
      }};
  for (int in_flight : config_.etcd_in_flights) {
    Alternate({&reg, &put}, in_flight, config_.duration);
    const size_t m = add_row(reg, in_flight, false);
    rows_[m].notes = "durable register of new instances; ";
    const size_t e = add_row(put, in_flight, true);
    rows_[e].notes += "Put of the serialized instance (" +
                      std::to_string(value_of("svc-0", "e0-0-0").size()) +
                      " B) to a fresh key";
    compare("durable register vs put", in_flight, reg, m, put, e);
  }
  {
    // Every acknowledged put is there.
    grpc::ClientContext ctx;
    etcdserverpb::RangeRequest count;
    count.set_key(kPutPrefix);
    count.set_range_end(PrefixEnd(kPutPrefix));
    count.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    const grpc::Status s = kv->Range(&ctx, count, &resp);
    if (!s.ok() || static_cast<uint64_t>(resp.count()) != puts_ok) {
      Fail("etcd: etcd holds " +
           (s.ok() ? std::to_string(resp.count()) : s.error_message()) +
           " put keys, " + std::to_string(puts_ok) + " were acknowledged");
    }
  }

  // --- lookup vs range (and Ping) ---
  const std::string lookup_realm = "vs-etcd-lookup";
  const int n = config_.lookup_instances;
  CreateRealm(lookup_realm);
  auto lookup_service = [](uint64_t i) {
    return i < 10 ? std::string("target") : "svc-" + std::to_string(i / 100);
  };
  auto lookup_id = [](uint64_t i) {
    return (i < 10 ? "t-" : "i-") + std::to_string(i);
  };
  Preload(std::to_string(n + 10) + " instances (etcd lookup)", n + 10,
          [&](uint64_t i, v1::RegisterRequest* req) {
            FillInstance(lookup_realm, lookup_service(i), lookup_id(i), req);
          });
  {
    uint64_t not_succeeded = 0;
    const uint64_t txns = (n + 10 + kPutsPerTxn - 1) / kPutsPerTxn;
    const LoadResult loaded =
        RunClosedLoop<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
            16, 0, txns,
            [&](uint64_t t, etcdserverpb::TxnRequest* req) {
              for (uint64_t i = t * kPutsPerTxn;
                   i < std::min<uint64_t>((t + 1) * kPutsPerTxn, n + 10); ++i) {
                etcdserverpb::PutRequest* p =
                    req->add_success()->mutable_request_put();
                p->set_key(kRangePrefix + lookup_service(i) + "/" +
                           lookup_id(i));
                p->set_value(value_of(lookup_service(i), lookup_id(i)));
              }
            },
            EtcdTxnCall(kv.get()),
            [&](uint64_t, const etcdserverpb::TxnResponse& resp) {
              if (!resp.succeeded()) ++not_succeeded;
            });
    CheckErrors("etcd: preload range keys", loaded);
    if (not_succeeded > 0) Fail("etcd: a preload Txn did not succeed");
    std::fprintf(stderr, "muster-bench: preloaded %d etcd keys in %.1f s\n",
                 n + 10, loaded.wall_seconds);
  }
  const std::string target_prefix = std::string(kRangePrefix) + "target/";
  uint64_t wrong_size = 0;
  Side lookup{"muster-lookup", daemon_cpu,
              [&](int in_flight, double seconds, const std::string&) {
                return RunClosedLoop<v1::ListInstancesRequest,
                                     v1::ListInstancesResponse>(
                    in_flight, seconds, 0,
                    [&](uint64_t, v1::ListInstancesRequest* req) {
                      req->set_realm(lookup_realm);
                      req->set_service("target");
                      req->set_routable_only(true);
                    },
                    [this](grpc::ClientContext* ctx,
                           const v1::ListInstancesRequest& req,
                           grpc::CompletionQueue* cq) {
                      return registry_->AsyncListInstances(ctx, req, cq);
                    },
                    [&](uint64_t, const v1::ListInstancesResponse& resp) {
                      if (resp.instances_size() != 10) ++wrong_size;
                    });
              }};
  Side range{"etcd-range", etcd_cpu,
             [&](int in_flight, double seconds, const std::string&) {
               return RunClosedLoop<etcdserverpb::RangeRequest,
                                    etcdserverpb::RangeResponse>(
                   in_flight, seconds, 0,
                   [&](uint64_t, etcdserverpb::RangeRequest* req) {
                     req->set_key(target_prefix);
                     req->set_range_end(PrefixEnd(target_prefix));
                   },
                   EtcdRangeCall(kv.get()),
                   [&](uint64_t, const etcdserverpb::RangeResponse& resp) {
                     if (resp.kvs_size() != 10) ++wrong_size;
                   });
             }};
  // The same Range answered from the member's own state, without the
  // linearizable read's round through raft (what a muster replica's
  // lookup is to its etcd).
  Side serializable{
      "etcd-range-serializable", etcd_cpu,
      [&](int in_flight, double seconds, const std::string&) {
        return RunClosedLoop<etcdserverpb::RangeRequest,
                             etcdserverpb::RangeResponse>(
            in_flight, seconds, 0,
            [&](uint64_t, etcdserverpb::RangeRequest* req) {
              req->set_key(target_prefix);
              req->set_range_end(PrefixEnd(target_prefix));
              req->set_serializable(true);
            },
            EtcdRangeCall(kv.get()),
            [&](uint64_t, const etcdserverpb::RangeResponse& resp) {
              if (resp.kvs_size() != 10) ++wrong_size;
            });
      }};
  Side ping{"muster-ping", daemon_cpu,
            [&](int in_flight, double seconds, const std::string&) {
              return RunPing(in_flight, seconds);
            }};
  for (int in_flight : config_.etcd_in_flights) {
    Alternate({&lookup, &range, &serializable, &ping}, in_flight,
              config_.duration);
    const size_t m = add_row(lookup, in_flight, false);
    rows_[m].notes = "ListInstances, 10 routable of " + std::to_string(n + 10) +
                     " instances in " + std::to_string(n / 100 + 1) +
                     " services; ";
    const size_t e = add_row(range, in_flight, true);
    rows_[e].notes +=
        "Range (linearizable, etcd's default) of a 10-key prefix among " +
        std::to_string(n + 10) + " keys of the same value size";
    const size_t sr = add_row(serializable, in_flight, true);
    rows_[sr].notes += "the same Range, serializable (from the member's state)";
    const size_t p = add_row(ping, in_flight, false);
    rows_[p].notes = "Ping, alternating with the lookups";
    compare("lookup vs range", in_flight, lookup, m, range, e);
    const Row& ping_row = rows_[p];
    Row& lookup_row = rows_[m];
    const double to_ping =
        ping_row.ops_per_second > 0
            ? lookup_row.ops_per_second / ping_row.ops_per_second
            : 0;
    const double p99_over = lookup_row.p99_ms - ping_row.p99_ms;
    lookup_row.extra.push_back({"ratio_to_ping", to_ping});
    lookup_row.extra.push_back({"p99_minus_ping_ms", p99_over});
    const std::string vs_ping = Fixed(to_ping, 2) + "x its Ping, p99 " +
                                (p99_over >= 0 ? "+" : "") +
                                Fixed(p99_over, 2) + " ms on Ping's";
    lookup_row.notes += "; " + vs_ping;
    comparisons_.back().note = "muster lookup " + vs_ping;
    Comparison c;
    c.work = "lookup vs serializable range";
    c.in_flight = in_flight;
    c.muster = lookup_row;
    c.etcd = rows_[sr];
    c.muster_cpu_us_per_op = CpuUsPerOp(lookup);
    c.etcd_cpu_us_per_op = CpuUsPerOp(serializable);
    const double to_serializable =
        c.etcd.ops_per_second > 0
            ? lookup_row.ops_per_second / c.etcd.ops_per_second
            : 0;
    lookup_row.extra.push_back({"ratio_to_etcd_serializable", to_serializable});
    comparisons_.push_back(c);
  }
  if (wrong_size > 0) {
    Fail("etcd: " + std::to_string(wrong_size) +
         " lookups or ranges without exactly 10 instances or keys");
  }

  // --- heartbeat streams vs lease keep-alive ---
  const std::string heartbeat_realm = "vs-etcd-heartbeat";
  // etcd grants about a thousand leases a second here: fewer than the
  // heartbeat scenario's instances, the same number on both sides.
  const int leases = config_.etcd_heartbeat_instances;
  const std::vector<uint64_t> incarnations =
      PreparePassing(heartbeat_realm, leases);
  std::vector<int64_t> lease_ids(leases);
  {
    uint64_t refused = 0;
    const LoadResult granted = RunClosedLoop<etcdserverpb::LeaseGrantRequest,
                                             etcdserverpb::LeaseGrantResponse>(
        256, 0, leases,
        [](uint64_t, etcdserverpb::LeaseGrantRequest* req) {
          req->set_ttl(3600);
        },
        EtcdLeaseGrantCall(lease.get()),
        [&](uint64_t i, const etcdserverpb::LeaseGrantResponse& resp) {
          if (!resp.error().empty() || resp.id() == 0) ++refused;
          lease_ids[i] = resp.id();
        });
    CheckErrors("etcd: grant leases", granted);
    if (refused > 0) {
      Fail("etcd: " + std::to_string(refused) + " lease grants refused");
    }
    std::fprintf(stderr, "muster-bench: granted %d etcd leases in %.1f s\n",
                 leases, granted.wall_seconds);
  }
  Side stream{
      "muster-heartbeat-stream", daemon_cpu,
      [&](int in_flight, double seconds, const std::string&) {
        StreamCalls<v1::HeartbeatStreamRequest, v1::HeartbeatStreamResponse>
            calls;
        calls.open = [this](grpc::ClientContext* ctx, grpc::CompletionQueue* cq,
                            void* tag) {
          return registry_->AsyncHeartbeatStream(ctx, cq, tag);
        };
        calls.make = [&](uint64_t seq, v1::HeartbeatStreamRequest* req) {
          req->set_sequence(seq);
          FillHeartbeat(heartbeat_realm, seq % leases, incarnations,
                        req->add_heartbeats());
        };
        calls.key_of_request = [](const v1::HeartbeatStreamRequest& req) {
          return req.sequence();
        };
        calls.answer = [](const v1::HeartbeatStreamResponse& resp,
                          std::string* error) {
          if (resp.results_size() != 1) {
            *error = std::to_string(resp.results_size()) +
                     " results for one heartbeat";
          } else if (resp.results(0).code() != 0) {
            *error = std::to_string(resp.results(0).code()) + " " +
                     resp.results(0).message();
          }
          return resp.sequence();
        };
        return RunStreamLoop(in_flight, seconds, calls, &stream.status);
      }};
  Side keepalive{
      "etcd-keepalive", etcd_cpu,
      [&](int in_flight, double seconds, const std::string&) {
        StreamCalls<etcdserverpb::LeaseKeepAliveRequest,
                    etcdserverpb::LeaseKeepAliveResponse>
            calls;
        calls.open = [&](grpc::ClientContext* ctx, grpc::CompletionQueue* cq,
                         void* tag) {
          ctx->AddMetadata("hasleader", "true");
          return lease->AsyncLeaseKeepAlive(ctx, cq, tag);
        };
        calls.make = [&](uint64_t seq,
                         etcdserverpb::LeaseKeepAliveRequest* req) {
          req->set_id(lease_ids[seq % leases]);
        };
        calls.key_of_request =
            [](const etcdserverpb::LeaseKeepAliveRequest& req) {
              return static_cast<uint64_t>(req.id());
            };
        calls.answer = [](const etcdserverpb::LeaseKeepAliveResponse& resp,
                          std::string* error) {
          if (resp.ttl() <= 0) {
            *error = "lease " + std::to_string(resp.id()) + " not found";
          }
          return static_cast<uint64_t>(resp.id());
        };
        return RunStreamLoop(in_flight, seconds, calls, &keepalive.status);
      }};
  Side unary{
      "muster-heartbeat", daemon_cpu,
      [&](int in_flight, double seconds, const std::string&) {
        return RunClosedLoop<v1::HeartbeatRequest, v1::HeartbeatResponse>(
            in_flight, seconds, 0,
            [&](uint64_t seq, v1::HeartbeatRequest* req) {
              FillHeartbeat(heartbeat_realm, seq % leases, incarnations, req);
            },
            HeartbeatCall());
      }};
  const std::string over = " over " + std::to_string(leases);
  for (int in_flight : config_.etcd_in_flights) {
    Alternate({&stream, &keepalive, &unary}, in_flight, config_.duration);
    const size_t m = stream.skipped.empty() ? add_row(stream, in_flight, false)
                                            : skipped_row(stream, in_flight);
    const std::string what = "one HeartbeatStream, one heartbeat a message," +
                             over + " passing TTL instances";
    rows_[m].notes =
        stream.skipped.empty() ? what + "; " : rows_[m].notes + "; " + what;
    const size_t e = add_row(keepalive, in_flight, true);
    rows_[e].notes +=
        "one LeaseKeepAlive stream, one lease a message," + over + " leases";
    const size_t u = add_row(unary, in_flight, false);
    rows_[u].notes = "unary Heartbeat (reference)," + over + " instances; ";
    compare("heartbeat stream vs keep-alive stream", in_flight, stream, m,
            keepalive, e);
    compare("unary heartbeat vs keep-alive stream", in_flight, unary, u,
            keepalive, e);
  }

  std::string summary;
  for (const Comparison& c : comparisons_) {
    summary +=
        "\n  " + c.work + " @" + std::to_string(c.in_flight) + ": " +
        (c.skipped.empty()
             ? Fixed(c.etcd.ops_per_second > 0
                         ? c.muster.ops_per_second / c.etcd.ops_per_second
                         : 0,
                     2) +
                   "x"
             : "skipped (" + c.skipped + ")");
  }
  std::fprintf(stderr,
               "muster-bench: etcd ratios:%s\nmuster-bench: etcd took %.0f s\n",
               summary.c_str(), Seconds(Clock::now() - scenario_begin));
  for (const std::string& realm :
       {register_realm, lookup_realm, heartbeat_realm}) {
    DeleteRealm(realm);
  }
  kv.reset();
  lease.reset();
  cluster->reset();
}

}  // namespace muster::bench
