#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "healthchecker/network_policy.h"
#include "healthchecker/prober.h"
#include "healthchecker/resolver.h"

namespace muster::healthchecker {

// TCP checks: a non-blocking connect to address:port within the check's
// timeout. One thread multiplexes every connect and its timer (a
// timerfd, so no clock is read here) with epoll; hostnames go to a
// Resolver, and every resolved address passes the network policy before
// a socket is opened. Success output "connected to 127.0.0.1:80";
// failures "connect: connection refused", "timeout after 2s",
// "refused by network policy: 169.254.169.254". Thread-safe.
class TcpProber final : public Prober {
 public:
  // INTERNAL when the kernel refuses an epoll or eventfd descriptor.
  static absl::StatusOr<std::unique_ptr<TcpProber>> Create(
      NetworkPolicy policy);
  ~TcpProber() override;

  absl::Status Start() override;
  void Stop() override;
  void Probe(const ProbeRequest& request, ProbeCallback done) override;

 private:
  struct Attempt {
    ProbeRequest request;
    ProbeCallback done;
    int timer_fd = -1;
    int socket_fd = -1;
    std::vector<IpAddress> addresses;
    size_t next_address = 0;
    std::string last_error;
  };

  TcpProber(NetworkPolicy policy, int epoll_fd, int wake_fd);
  // Runs `fn` on the I/O thread.
  void Post(std::function<void()> fn);
  void Loop();
  void Begin(ProbeRequest request, ProbeCallback done);
  void OnResolved(uint64_t id,
                  absl::StatusOr<std::vector<IpAddress>> addresses);
  // Connects to the next allowed address, or finishes with the last error.
  void TryNext(uint64_t id);
  void OnSocketReady(uint64_t id);
  void Finish(uint64_t id, ProbeResult result, std::string output);
  void CloseSocket(Attempt& attempt);

  const NetworkPolicy policy_;
  const int epoll_fd_;
  const int wake_fd_;
  Resolver resolver_;

  absl::Mutex mu_;
  std::vector<std::function<void()>> inbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // I/O thread only.
  uint64_t next_id_ = 1;
  absl::flat_hash_map<uint64_t, Attempt> attempts_;
  std::thread thread_;  // Touched only by Start() and Stop().
};

}  // namespace muster::healthchecker
