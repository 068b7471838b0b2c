#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "healthchecker/network_policy.h"
#include "healthchecker/prober.h"
#include "healthchecker/scheduler.h"

namespace muster::healthchecker {

// HealthChecker::Options: plain values with their defaults. musterd maps
// its --checker-* flags onto them.
struct HealthCheckerOptions {
  enum class SchedulerThread {
    kRun,     // Start() starts the scheduler's thread
    kManual,  // tests drive time with HealthChecker::TEST_RunDue()
  };

  // Probes in flight, in all and per target host (1..).
  size_t max_in_flight = 1024;
  size_t max_in_flight_per_host = 64;
  // Evictions pause in a realm when more than this share (0 < x <= 1) of
  // its checked instances is critical; 1 disables. A realm's own
  // setting (TargetSource::EvictionProtectionShare) wins.
  double eviction_protection_share = 0.5;
  // A PEM bundle of the CAs https and gRPC-over-TLS probes trust, read
  // when the checker is made; empty: the system's roots.
  std::string probe_ca_file;
  // Networks probes may reach (see NetworkPolicy::Options).
  std::vector<std::string> allow_networks;
  std::vector<std::string> deny_networks = NetworkPolicy::Options().deny;
  // Each tick after the first lands in interval * [1 - jitter, 1 + jitter]
  // (0 .. 0.5).
  double jitter = 0.1;
  // Seeds the scheduler's spread and jitter; musterd passes a random one.
  uint64_t random_seed = 0;
  // How often due evictions and eviction protection are decided.
  absl::Duration eviction_sweep_interval = absl::Seconds(1);
  // A stall of the checker (the process or host stopped): its scheduler
  // ran this much later than it promised (it looks at the clock at least
  // every 250 ms), on the monotonic clock. Every check then gets the
  // restart grace again. Positive.
  absl::Duration stall_threshold = absl::Seconds(2);
  SchedulerThread scheduler_thread = SchedulerThread::kRun;
};

// The transports, one per probed check kind.
struct ProberSet {
  std::unique_ptr<Prober> http;
  std::unique_ptr<Prober> tcp;
  std::unique_ptr<Prober> grpc;
};

// INVALID_ARGUMENT naming the option and its rule, or the bad network
// (an unreadable probe_ca_file: "probe_ca_file: cannot read ...").
absl::Status ValidateOptions(const HealthCheckerOptions& options);
// REQUIRES: ValidateOptions(options).ok().
NetworkPolicy::Options NetworkPolicyOptions(
    const HealthCheckerOptions& options);
Scheduler::Options SchedulerOptions(const HealthCheckerOptions& options);

// The real HTTP (libcurl), TCP and gRPC probers, TLS ones verifying
// against `trust`. INTERNAL when one cannot be made; INVALID_ARGUMENT
// when trust.ca_file cannot be read.
absl::StatusOr<ProberSet> MakeProbers(const NetworkPolicy& policy,
                                      const ProbeTrust& trust = ProbeTrust());

}  // namespace muster::healthchecker
