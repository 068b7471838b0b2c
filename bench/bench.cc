#include "bench/bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace muster::bench {

Bench::Bench(const Config& config, Daemon& daemon)
    : config_(config),
      daemon_(daemon),
      channel_(grpc::CreateChannel(daemon.grpc_address(),
                                   grpc::InsecureChannelCredentials())),
      registry_(v1::Registry::NewStub(channel_)),
      realms_(v1::Realms::NewStub(channel_)) {}

void Bench::Run() {
  // Baseline always runs first: every other row is a ratio to it.
  Baseline();
  if (Selected("lookup")) Lookup();
  if (Selected("register")) Register();
  if (Selected("ack")) Ack();
  if (Selected("heartbeat")) Heartbeat();
  if (Selected("watch")) Watch();
  if (Selected("checker")) Checker();
  if (Selected("scale")) Scale();
  if (Selected("secure")) Secure();
  if (Selected("client")) Client();
  if (Selected("dns")) Dns();
#ifdef MUSTER_BENCH_XDS
  if (Selected("xds")) Xds();
#endif
  if (Selected("etcd")) VsEtcd();
  // ha starts etcd and three replicas and takes minutes: run when named,
  // and by default only in --quick (the test suite's run).
  if (Named("ha") || (config_.scenarios.empty() && config_.quick)) Ha();
}

bool Bench::Named(const std::string& name) const {
  return std::find(config_.scenarios.begin(), config_.scenarios.end(), name) !=
         config_.scenarios.end();
}

bool Bench::Selected(const std::string& name) const {
  return config_.scenarios.empty() ||
         std::find(config_.scenarios.begin(), config_.scenarios.end(), name) !=
             config_.scenarios.end();
}

void Bench::Fail(const std::string& what) {
  std::fprintf(stderr, "muster-bench: FAIL: %s\n", what.c_str());
  failures_.push_back(what);
}

void Bench::CheckErrors(const std::string& what, const LoadResult& r) {
  if (r.errors > 0) {
    Fail(what + ": " + std::to_string(r.errors) + " of " +
         std::to_string(r.ok + r.errors) +
         " requests failed (first: " + r.first_error + ")");
  }
}

Row& Bench::AddRow(const std::string& scenario, int in_flight,
                   const LoadResult& r, const DaemonStats& before,
                   const DaemonStats& after, double baseline) {
  Row row;
  row.scenario = scenario;
  row.in_flight = in_flight;
  row.ops_per_second = r.ok / std::max(r.wall_seconds, 1e-9);
  FillLatencies(r.latencies_ms, &row);
  // The CPU measured around the run covers the noise guard's discarded
  // attempts too.
  row.cpu_share = (after.cpu_seconds - before.cpu_seconds) /
                  std::max(MeasuredSeconds(r), 1e-9);
  row.peak_rss_mib = after.peak_rss_mib;
  FillNoise(r, &row);
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

void Bench::CreateRealm(const std::string& name) {
  grpc::ClientContext ctx;
  v1::CreateRealmRequest req;
  req.set_name(name);
  v1::Realm realm;
  grpc::Status s = realms_->CreateRealm(&ctx, req, &realm);
  if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
    Fail("CreateRealm " + name + ": " + s.error_message());
  }
}

uint64_t Bench::Routable(const std::string& realm) {
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

void Bench::DeleteRealm(const std::string& name) {
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

StartFn<v1::RegisterRequest, v1::RegisterResponse> Bench::RegisterCall() {
  return [this](grpc::ClientContext* ctx, const v1::RegisterRequest& req,
                grpc::CompletionQueue* cq) {
    return registry_->AsyncRegister(ctx, req, cq);
  };
}

void Bench::FillInstance(const std::string& realm, const std::string& service,
                         const std::string& id, v1::RegisterRequest* req) {
  req->set_realm(realm);
  v1::Instance* instance = req->mutable_instance();
  instance->set_service(service);
  instance->set_id(id);
  instance->set_address("127.0.0.1");
  instance->set_port(8000 + std::hash<std::string>()(id) % 50000);
}

LoadResult Bench::Preload(
    const std::string& what, uint64_t count,
    const std::function<void(uint64_t, v1::RegisterRequest*)>& make,
    const std::function<void(uint64_t, const v1::RegisterResponse&)>& on_ok) {
  LoadResult r = RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
      256, 0, count, make, RegisterCall(), on_ok);
  CheckErrors("preload " + what, r);
  std::fprintf(stderr, "muster-bench: preloaded %s: %llu in %.1f s\n",
               what.c_str(), static_cast<unsigned long long>(r.ok),
               r.wall_seconds);
  return r;
}

double Bench::PingRate(int in_flight) {
  LoadResult r = RunPing(in_flight, std::min(1.0, config_.duration));
  CheckErrors("baseline before a point", r);
  return r.ok / std::max(r.wall_seconds, 1e-9);
}

LoadResult Bench::RunPing(int in_flight, double seconds) {
  return RunClosedLoop<v1::PingRequest, v1::PingResponse>(
      in_flight, seconds, 0, [](uint64_t, v1::PingRequest*) {},
      [this](grpc::ClientContext* ctx, const v1::PingRequest& req,
             grpc::CompletionQueue* cq) {
        return registry_->AsyncPing(ctx, req, cq);
      });
}

}  // namespace muster::bench
