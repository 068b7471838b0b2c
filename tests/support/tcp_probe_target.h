#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace muster::testing {

// A TCP listener on 127.0.0.1 (port 0) for health-check tests. It never
// accepts: the kernel completes connects into its backlog. Close() makes
// later connects fail with "connection refused". Not thread-safe.
class TcpProbeTarget final {
 public:
  static absl::StatusOr<std::unique_ptr<TcpProbeTarget>> Listen();
  // A listener whose backlog is already full, so that connects hang
  // (Linux drops their SYNs) until the client gives up.
  static absl::StatusOr<std::unique_ptr<TcpProbeTarget>> ListenFull();
  ~TcpProbeTarget();

  int port() const { return port_; }
  void Close();

 private:
  TcpProbeTarget(int fd, int port) : fd_(fd), port_(port) {}

  int fd_;
  int port_;
  // Connections that fill the backlog (ListenFull).
  std::vector<int> fillers_;
};

}  // namespace muster::testing
