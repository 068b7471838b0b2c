// The heartbeat scenario: TTL heartbeats over passing instances.

#include <string>

#include "bench/bench.h"

namespace muster::bench {

void Bench::Heartbeat() {
  const std::string realm = "heartbeat";
  CreateRealm(realm);
  const int n = config_.heartbeat_instances;
  std::vector<uint64_t> incarnation(n);
  auto id_of = [](uint64_t i) { return "h-" + std::to_string(i); };
  auto service_of = [](uint64_t i) { return "svc-" + std::to_string(i / 100); };
  Preload(
      std::to_string(n) + " TTL instances", n,
      [&](uint64_t i, v1::RegisterRequest* req) {
        FillInstance(realm, service_of(i), id_of(i), req);
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
    const uint64_t i = seq % n;
    req->set_realm(realm);
    req->set_service(service_of(i));
    req->set_id(id_of(i));
    req->set_incarnation(incarnation[i]);
  };
  StartFn<v1::HeartbeatRequest, v1::HeartbeatResponse> start =
      [this](grpc::ClientContext* ctx, const v1::HeartbeatRequest& req,
             grpc::CompletionQueue* cq) {
        return registry_->AsyncHeartbeat(ctx, req, cq);
      };
  // Warm-up: the first heartbeats of an instance move it from STARTING
  // to PASSING, a committed (durable) health change each. Heartbeat
  // every instance until all are routable, so that the measured ones
  // are steady-state heartbeats, which touch memory only.
  uint64_t routable = 0;
  for (int round = 0; round < 5 && routable < uint64_t(n); ++round) {
    CheckErrors("heartbeat warm-up",
                RunClosedLoop<v1::HeartbeatRequest, v1::HeartbeatResponse>(
                    256, 0, n, make, start));
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
  for (int inflight : config_.in_flights) {
    const double baseline = PingRate(inflight);
    const DaemonStats before = daemon_.Stats();
    LoadResult r = RunClosedLoop<v1::HeartbeatRequest, v1::HeartbeatResponse>(
        inflight, config_.duration, 0, make, start);
    AddRow("heartbeat", inflight, r, before, daemon_.Stats(), baseline).notes =
        "round-robin over " + std::to_string(n) +
        " passing TTL instances (after a warm-up)";
  }
  DeleteRealm(realm);
}

}  // namespace muster::bench
