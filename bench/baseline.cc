// The baseline scenario: Ping, a handler that does nothing; every other
// throughput is a ratio to it.

#include <string>

#include "bench/bench.h"

namespace muster::bench {

void Bench::Baseline() {
  for (int n : config_.in_flights) {
    const DaemonStats before = daemon_.Stats();
    LoadResult r = RunPing(n, config_.duration);
    AddRow("baseline", n, r, before, daemon_.Stats()).notes = "Ping";
  }
}

}  // namespace muster::bench
