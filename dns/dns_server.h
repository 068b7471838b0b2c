#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "dns/answer.h"
#include "registry/registry.h"

namespace muster::dns {

// The registry as DNS sees it: its read API (the index's snapshot),
// never the committer. Thread-safe.
class RegistryDirectory final : public Directory {
 public:
  explicit RegistryDirectory(registry::Registry& registry)
      : registry_(registry) {}
  bool RealmExists(const std::string& realm) const override;
  ServiceView Service(const std::string& realm,
                      const std::string& service) const override;

 private:
  registry::Registry& registry_;
};

// musterd's DNS front end: UDP and TCP on one address, one thread each
// (poll), answering through Answer(). Thread-safe; Stop() from any thread
// but the loops'.
class DnsServer final {
 public:
  struct Options {
    // host:port; port 0 picks one (the same for UDP and TCP).
    std::string listen;
    std::string listen_name = "--dns-listen";
    uint32_t ttl_seconds = 0;
    // UDP queries a second per source address, and the burst; 0: unlimited.
    uint32_t rate = 1000;
    uint32_t burst = 2000;
  };

  // Binds both sockets and starts the loops. `directory` and `metrics`
  // outlive the server. INVALID_ARGUMENT for a bad address,
  // UNAVAILABLE when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<DnsServer>> Start(
      Options options, const Directory& directory, Metrics& metrics);
  // Stops first.
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Ends both loops and closes the sockets. Idempotent.
  void Stop();
  int port() const { return port_; }

 private:
  DnsServer(Options options, const Directory& directory, Metrics& metrics);
  void UdpLoop();
  void TcpLoop();
  // Serves one TCP connection until it closes or idles.
  void ServeTcp(int fd);
  void Count(const Answered& answered, const char* transport);

  // Constant after construction.
  const Options options_;
  const Directory& directory_;
  Metrics& metrics_;
  Counter& rate_limited_;
  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;

  std::atomic<bool> stopping_{false};
  std::thread udp_thread_;
  std::thread tcp_thread_;
};

}  // namespace muster::dns
