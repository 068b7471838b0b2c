// The lookup scenario: ListInstances routable-only of a 10-instance
// service in a realm of many instances.

#include <string>

#include "bench/bench.h"

namespace muster::bench {

void Bench::Lookup() {
  const std::string realm = "lookup";
  CreateRealm(realm);
  const int n = config_.lookup_instances;
  Preload(std::to_string(n) + " lookup instances", n,
          [&](uint64_t i, v1::RegisterRequest* req) {
            FillInstance(realm, "svc-" + std::to_string(i / 100),
                         "i-" + std::to_string(i), req);
          });
  Preload("10 target instances", 10, [&](uint64_t i, v1::RegisterRequest* req) {
    FillInstance(realm, "target", "t-" + std::to_string(i), req);
  });
  for (int inflight : config_.in_flights) {
    uint64_t wrong_size = 0;
    const double baseline = PingRate(inflight);
    const DaemonStats before = daemon_.Stats();
    LoadResult r =
        RunClosedLoop<v1::ListInstancesRequest, v1::ListInstancesResponse>(
            inflight, config_.duration, 0,
            [&](uint64_t, v1::ListInstancesRequest* req) {
              req->set_realm(realm);
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
    AddRow("lookup", inflight, r, before, daemon_.Stats(), baseline).notes =
        "10 of " + std::to_string(n) + " instances, routable only";
    if (wrong_size > 0) {
      Fail("lookup: " + std::to_string(wrong_size) +
           " responses without exactly 10 instances");
    }
  }
}

}  // namespace muster::bench
