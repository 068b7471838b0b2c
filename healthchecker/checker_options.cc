#include "healthchecker/checker_options.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "healthchecker/grpc_prober.h"
#include "healthchecker/http_prober.h"
#include "healthchecker/tcp_prober.h"

namespace muster::healthchecker {

absl::Status ValidateOptions(const HealthCheckerOptions& options) {
  if (options.max_in_flight < 1) {
    return absl::InvalidArgumentError("max_in_flight: must be at least 1");
  }
  if (options.max_in_flight_per_host < 1) {
    return absl::InvalidArgumentError(
        "max_in_flight_per_host: must be at least 1");
  }
  if (!(options.eviction_protection_share > 0 &&
        options.eviction_protection_share <= 1)) {
    return absl::InvalidArgumentError(
        "eviction_protection_share: must be greater than 0 and at most 1");
  }
  if (!(options.jitter >= 0 && options.jitter <= 0.5)) {
    return absl::InvalidArgumentError("jitter: must be between 0 and 0.5");
  }
  if (options.eviction_sweep_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "eviction_sweep_interval: must be positive");
  }
  if (options.stall_threshold <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("stall_threshold: must be positive");
  }
  if (!options.probe_ca_file.empty()) {
    if (absl::Status read = ReadCaFile(options.probe_ca_file).status();
        !read.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("probe_ca_file: ", read.message()));
    }
  }
  return NetworkPolicy::Create(NetworkPolicyOptions(options)).status();
}

NetworkPolicy::Options NetworkPolicyOptions(
    const HealthCheckerOptions& options) {
  NetworkPolicy::Options policy;
  policy.allow = options.allow_networks;
  policy.deny = options.deny_networks;
  return policy;
}

Scheduler::Options SchedulerOptions(const HealthCheckerOptions& options) {
  Scheduler::Options scheduler;
  scheduler.max_in_flight = options.max_in_flight;
  scheduler.max_in_flight_per_host = options.max_in_flight_per_host;
  scheduler.jitter = options.jitter;
  scheduler.random_seed = options.random_seed;
  scheduler.stall_threshold = options.stall_threshold;
  return scheduler;
}

absl::StatusOr<ProberSet> MakeProbers(const NetworkPolicy& policy,
                                      const ProbeTrust& trust) {
  ProberSet probers;
  absl::StatusOr<std::unique_ptr<HttpProber>> http =
      HttpProber::Create(policy, trust);
  if (!http.ok()) return http.status();
  probers.http = *std::move(http);
  absl::StatusOr<std::unique_ptr<TcpProber>> tcp = TcpProber::Create(policy);
  if (!tcp.ok()) return tcp.status();
  probers.tcp = *std::move(tcp);
  GrpcProber::Options grpc_options;
  grpc_options.trust = trust;
  absl::StatusOr<std::unique_ptr<GrpcProber>> grpc =
      GrpcProber::Create(policy, grpc_options);
  if (!grpc.ok()) return grpc.status();
  probers.grpc = *std::move(grpc);
  return probers;
}

}  // namespace muster::healthchecker
