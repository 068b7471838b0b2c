// The heartbeat scenario: TTL heartbeats over passing instances.

#include <string>

#include "bench/bench.h"

namespace muster::bench {

std::string Bench::TtlId(uint64_t i) { return "h-" + std::to_string(i); }

std::string Bench::TtlService(uint64_t i) {
  return "svc-" + std::to_string(i / 100);
}

void Bench::FillHeartbeat(const std::string& realm, uint64_t i,
                          const std::vector<uint64_t>& incarnations,
                          v1::HeartbeatRequest* req) {
  req->set_realm(realm);
  req->set_service(TtlService(i));
  req->set_id(TtlId(i));
  req->set_incarnation(incarnations[i]);
}

StartFn<v1::HeartbeatRequest, v1::HeartbeatResponse> Bench::HeartbeatCall() {
  return [this](grpc::ClientContext* ctx, const v1::HeartbeatRequest& req,
                grpc::CompletionQueue* cq) {
    return registry_->AsyncHeartbeat(ctx, req, cq);
  };
}

std::vector<uint64_t> Bench::PreparePassing(const std::string& realm, int n) {
  CreateRealm(realm);
  std::vector<uint64_t> incarnation(n);
  Preload(
      std::to_string(n) + " TTL instances", n,
      [&](uint64_t i, v1::RegisterRequest* req) {
        FillInstance(realm, TtlService(i), TtlId(i), req);
        v1::CheckSpec* check = req->mutable_instance()->mutable_check();
        check->set_kind(v1::CHECK_KIND_TTL);
        // Longer than the whole run: no expiry (a burst of 100,000
        // health changes) lands in a later scenario.
        check->mutable_ttl()->set_seconds(3600);
      },
      [&](uint64_t i, const v1::RegisterResponse& resp) {
        incarnation[i] = resp.instance().create_revision();
      });
  auto make = [&](uint64_t seq, v1::HeartbeatRequest* req) {
    FillHeartbeat(realm, seq % n, incarnation, req);
  };
  // Warm-up: the first heartbeats of an instance move it from STARTING
  // to PASSING, a committed (durable) health change each. Heartbeat
  // every instance until all are routable, so that the measured ones
  // are steady-state heartbeats, which touch memory only.
  uint64_t routable = 0;
  for (int round = 0; round < 5 && routable < uint64_t(n); ++round) {
    CheckErrors("heartbeat warm-up",
                RunClosedLoop<v1::HeartbeatRequest, v1::HeartbeatResponse>(
                    256, 0, n, make, HeartbeatCall()));
    // Each first heartbeat commits its health change before it answers;
    // the count is read back to be sure every instance is passing.
    for (int poll = 0; poll < 100; ++poll) {
      routable = Routable(realm);
      if (routable >= uint64_t(n)) break;
      SleepSeconds(0.05);
    }
  }
  if (routable < uint64_t(n)) {
    Fail("heartbeat: after the warm-up " + std::to_string(routable) + " of " +
         std::to_string(n) + " instances are passing");
  }
  return incarnation;
}

void Bench::Heartbeat() {
  const std::string realm = "heartbeat";
  const int n = config_.heartbeat_instances;
  const std::vector<uint64_t> incarnation = PreparePassing(realm, n);
  auto make = [&](uint64_t seq, v1::HeartbeatRequest* req) {
    FillHeartbeat(realm, seq % n, incarnation, req);
  };
  for (int inflight : config_.in_flights) {
    const double baseline = PingRate(inflight);
    const DaemonStats before = daemon_.Stats();
    LoadResult r = RunClosedLoop<v1::HeartbeatRequest, v1::HeartbeatResponse>(
        inflight, config_.duration, 0, make, HeartbeatCall());
    AddRow("heartbeat", inflight, r, before, daemon_.Stats(), baseline).notes =
        "round-robin over " + std::to_string(n) +
        " passing TTL instances (after a warm-up)";
  }
  DeleteRealm(realm);
}

}  // namespace muster::bench
