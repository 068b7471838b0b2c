#include "bench/bench.h"

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
  if (Selected("heartbeat")) Heartbeat();
  if (Selected("watch")) Watch();
  if (Selected("checker")) Checker();
  if (Selected("scale")) Scale();
}

}  // namespace muster::bench
