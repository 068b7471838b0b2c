// The register scenario: durable registrations of new instances.

#include <string>

#include "bench/bench.h"

namespace muster::bench {

void Bench::Register() {
  const std::string realm = "register";
  CreateRealm(realm);
  std::map<int, double> rate;
  for (int inflight : config_.in_flights) {
    const std::string prefix = "r" + std::to_string(inflight) + "-";
    const double baseline = PingRate(inflight);
    const DaemonStats before = daemon_.Stats();
    LoadResult r = RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
        inflight, config_.duration, 0,
        [&](uint64_t i, v1::RegisterRequest* req) {
          FillInstance(realm, "svc-" + std::to_string(i % 100),
                       prefix + std::to_string(i), req);
        },
        RegisterCall());
    Row& row =
        AddRow("register", inflight, r, before, daemon_.Stats(), baseline);
    rate[inflight] = row.ops_per_second;
    row.notes = "durable write";
    if (inflight != 1 && rate.count(1) && rate[1] > 0) {
      row.notes += ", " + Fixed(row.ops_per_second / rate[1], 1) +
                   "x register@1 (group commit)";
    }
  }
}

}  // namespace muster::bench
