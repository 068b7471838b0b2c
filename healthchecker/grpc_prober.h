#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "healthchecker/network_policy.h"
#include "healthchecker/prober.h"
#include "healthchecker/resolver.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace muster::healthchecker {

// gRPC checks: grpc.health.v1.Health/Check through the async (callback)
// client, with the check's timeout as the deadline and its grpc_service
// as the service name. SERVING is a success, anything else a failure
// ("grpc NOT_SERVING", "grpc UNAVAILABLE: ...", "timeout after 2s").
// The host is resolved here and its address must pass the network
// policy; channels (no proxy) are cached per address and TLS settings and
// dropped after an UNAVAILABLE answer, so a restarted target is not
// hidden behind reconnect backoff. Plaintext unless the check sets
// grpc_tls; then the certificate is verified against the trust (see
// GrpcProbeCredentials) and a failed handshake reads "TLS: <reason>".
// Thread-safe.
class GrpcProber final : public Prober {
 public:
  struct Options {
    // Cached channels; past this the cache drops an arbitrary one.
    size_t max_channels = 4096;
    // What TLS checks verify certificates against.
    ProbeTrust trust;
  };

  // INVALID_ARGUMENT for a bad option or an unreadable trust.ca_file.
  static absl::StatusOr<std::unique_ptr<GrpcProber>> Create(
      NetworkPolicy policy, const Options& options);
  ~GrpcProber() override;

  absl::Status Start() override;
  void Stop() override;
  void Probe(const ProbeRequest& request, ProbeCallback done) override;

 private:
  struct Call;
  // Outlives the prober while a completion callback still runs.
  struct Shared;

  GrpcProber(NetworkPolicy policy, const Options& options, std::string ca_pem);
  void OnResolved(ProbeRequest request, ProbeCallback done,
                  absl::StatusOr<std::vector<IpAddress>> addresses);
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& target,
                                            const std::string& authority,
                                            const CheckSpec& check);
  void DropChannel(const std::string& target, const std::string& authority,
                   const CheckSpec& check);
  void Retire(std::shared_ptr<grpc::Channel> channel);
  // Releases finished calls and retired channels on the calling thread.
  void ReleaseGarbage();

  const NetworkPolicy policy_;
  const Options options_;
  const std::string ca_pem_;  // Empty: the system's roots.
  Resolver resolver_;
  const std::shared_ptr<Shared> shared_;

  absl::Mutex channels_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_
      ABSL_GUARDED_BY(channels_mu_);
};

}  // namespace muster::healthchecker
