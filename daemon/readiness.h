#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace muster::registry {

// GrpcReadiness answers /readyz: does the gRPC port accept a new
// connection and answer muster.v1.Registry/Ping within `timeout`? Each
// check dials a fresh connection (an established one keeps working when
// the listener is wedged, so it would prove nothing). A result is reused
// for `cache_for`, and callers arriving while a check runs wait for it,
// so a storm of probes costs at most one connection per `cache_for`.
// Thread-safe.
class GrpcReadiness final {
 public:
  struct Options {
    // "host:port" of the server to check, e.g. Server::target().
    std::string target;
    absl::Duration timeout = absl::Seconds(1);
    absl::Duration cache_for = absl::Seconds(1);
    // How to connect (the port's TLS); none: plaintext.
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr;
  };

  GrpcReadiness(Options options, Clock& clock);
  GrpcReadiness(const GrpcReadiness&) = delete;
  GrpcReadiness& operator=(const GrpcReadiness&) = delete;

  // OK when ready; otherwise UNAVAILABLE saying what failed, e.g.
  // "grpc 127.0.0.1:7400: no Ping answer within 1s: Deadline Exceeded".
  absl::Status Check();

 private:
  absl::Status PingOnce() const;

  // Constant after construction.
  const Options options_;
  Clock& clock_;

  absl::Mutex mu_;
  bool checking_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time checked_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::registry
