// The scale scenario: a million durable registrations on a daemon of its
// own, memory per instance, data dir size, and a restart on the same data.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench/bench.h"

namespace muster::bench {

void Bench::Scale() {
  // A daemon of its own, so that the other scenarios' data does not count.
  Daemon daemon(config_.musterd);
  if (!daemon.Start()) {
    Fail("scale: musterd did not start");
    return;
  }
  auto registry = v1::Registry::NewStub(grpc::CreateChannel(
      daemon.grpc_address(), grpc::InsecureChannelCredentials()));
  const std::string realm = "scale";
  const uint64_t n = config_.scale_instances;
  const DaemonStats idle = daemon.Stats();
  uint64_t payload_bytes = 0;
  LoadResult r = RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
      256, 0, n,
      [&](uint64_t i, v1::RegisterRequest* req) {
        FillInstance(realm, "svc-" + std::to_string(i / 100),
                     "s-" + std::to_string(i), req);
        v1::Instance* instance = req->mutable_instance();
        instance->set_zone(i % 2 == 0 ? "zone-a" : "zone-b");
        instance->add_tags("scale");
        (*instance->mutable_metadata())["build"] = std::to_string(i % 1000);
        payload_bytes += instance->ByteSizeLong();
      },
      [&registry](grpc::ClientContext* ctx, const v1::RegisterRequest& req,
                  grpc::CompletionQueue* cq) {
        return registry->AsyncRegister(ctx, req, cq);
      });
  const DaemonStats loaded = daemon.Stats();
  CheckErrors("scale: register", r);
  const uint64_t data_bytes = daemon.DataBytes();

  // Restart on the same data: time until Ping answers, and until the
  // daemon reports every instance.
  daemon.Stop(/*keep_data=*/true);
  // For profiling start-up by hand: a copy of the loaded data dir.
  if (const char* keep = std::getenv("MUSTER_BENCH_SCALE_DATA_COPY")) {
    std::error_code error;
    std::filesystem::copy(daemon.dir() + "/data", keep,
                          std::filesystem::copy_options::recursive, error);
    if (error) {
      std::fprintf(stderr,
                   "muster-bench: scale: cannot copy the data to %s: %s\n",
                   keep, error.message().c_str());
    }
  }
  const auto restart_begin = Clock::now();
  if (!daemon.Start()) {
    Fail("scale: musterd did not restart on its data");
    return;
  }
  const double to_ping = Seconds(Clock::now() - restart_begin);
  registry = v1::Registry::NewStub(grpc::CreateChannel(
      daemon.grpc_address(), grpc::InsecureChannelCredentials()));
  uint64_t recovered = 0;
  const auto deadline = restart_begin + std::chrono::seconds(120);
  while (Clock::now() < deadline) {
    grpc::ClientContext ctx;
    v1::ServerInfo info;
    if (registry->GetServerInfo(&ctx, v1::GetServerInfoRequest(), &info).ok()) {
      recovered = info.instance_count();
      if (recovered >= r.ok) break;
    }
    SleepSeconds(0.01);
  }
  const double to_serving = Seconds(Clock::now() - restart_begin);
  // CPU time is steadier than wall time on a busy machine.
  const double restart_cpu = daemon.Stats().cpu_seconds;
  if (recovered != r.ok) {
    Fail("scale: after the restart musterd holds " + std::to_string(recovered) +
         " instances, " + std::to_string(r.ok) + " were acknowledged");
  }
  {
    grpc::ClientContext ctx;
    v1::ListInstancesRequest req;
    req.set_realm(realm);
    req.set_service("svc-0");
    req.set_page_size(1000);
    v1::ListInstancesResponse resp;
    const grpc::Status s = registry->ListInstances(&ctx, req, &resp);
    const int want = static_cast<int>(std::min<uint64_t>(n, 100));
    if (!s.ok() || resp.instances_size() != want) {
      Fail("scale: svc-0 lists " + std::to_string(resp.instances_size()) +
           " instances after the restart, want " + std::to_string(want));
    }
  }
  const DaemonStats restarted = daemon.Stats();
  daemon.Stop();

  const double mib = 1024.0 * 1024.0;
  const double count = static_cast<double>(std::max<uint64_t>(r.ok, 1));
  const double payload = payload_bytes / static_cast<double>(std::max(n, 1ul));
  const double per_instance = (loaded.rss_mib - idle.rss_mib) * mib / count;
  const double per_instance_restarted =
      (restarted.rss_mib - idle.rss_mib) * mib / count;
  Row row;
  row.scenario = "scale";
  row.in_flight = 256;
  row.ops_per_second = r.ok / std::max(r.wall_seconds, 1e-9);
  FillLatencies(r.latencies_ms, &row);
  row.cpu_share =
      (loaded.cpu_seconds - idle.cpu_seconds) / std::max(r.wall_seconds, 1e-9);
  row.peak_rss_mib = loaded.peak_rss_mib;
  row.notes =
      std::to_string(r.ok) + " durable registrations in " +
      Fixed(r.wall_seconds, 1) + " s; RSS " + Fixed(loaded.rss_mib, 0) +
      " MiB (" + Fixed(per_instance, 0) + " B/instance over idle, payload " +
      Fixed(payload, 0) + " B); data dir " + Fixed(data_bytes / mib, 0) +
      " MiB; restart: Ping in " + Fixed(to_ping, 2) + " s, all instances in " +
      Fixed(to_serving, 2) + " s (daemon CPU " + Fixed(restart_cpu, 2) +
      " s), RSS then " + Fixed(restarted.rss_mib, 0) + " MiB (" +
      Fixed(per_instance_restarted, 0) + " B/instance)";
  row.extra = {{"instances", static_cast<double>(r.ok)},
               {"idle_rss_mib", idle.rss_mib},
               {"rss_mib", loaded.rss_mib},
               {"rss_bytes_per_instance", per_instance},
               {"payload_bytes_per_instance", payload},
               {"data_dir_mib", data_bytes / mib},
               {"restart_to_ping_s", to_ping},
               {"restart_to_all_instances_s", to_serving},
               {"restart_cpu_s", restart_cpu},
               {"restarted_rss_mib", restarted.rss_mib},
               {"restarted_rss_bytes_per_instance", per_instance_restarted}};
  rows_.push_back(row);
}

}  // namespace muster::bench
