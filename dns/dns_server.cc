#include "dns/dns_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/listen_address.h"
#include "common/logging.h"
#include "dns/rate_limiter.h"

namespace muster::dns {
namespace {

// A TCP client gets this long for each read or write.
constexpr int kTcpTimeoutMs = 2000;

std::mt19937_64 SeededRng() {
  std::random_device device;
  return std::mt19937_64((static_cast<uint64_t>(device()) << 32) ^ device());
}

// Reads or writes exactly `size` bytes within kTcpTimeoutMs each step.
bool Transfer(int fd, uint8_t* data, size_t size, bool write) {
  size_t done = 0;
  while (done < size) {
    pollfd p{fd, static_cast<short>(write ? POLLOUT : POLLIN), 0};
    if (poll(&p, 1, kTcpTimeoutMs) <= 0) return false;
    const ssize_t n = write ? send(fd, data + done, size - done, MSG_NOSIGNAL)
                            : recv(fd, data + done, size - done, 0);
    if (n <= 0) {
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool RegistryDirectory::RealmExists(const std::string& realm) const {
  return registry_.realms().Get(realm).ok();
}

ServiceView RegistryDirectory::Service(const std::string& realm,
                                       const std::string& service) const {
  ServiceView view;
  registry::ListQuery query;
  query.realm = realm;
  query.service = service;
  for (;;) {
    absl::StatusOr<registry::InstancePage> page =
        registry_.instances().List(query);
    if (!page.ok()) break;
    for (auto& instance : page->instances) {
      view.exists = true;
      if (instance->Routable()) view.routable.push_back(std::move(instance));
    }
    if (page->next_page_token.empty()) break;
    query.page_token = page->next_page_token;
  }
  return view;
}

DnsServer::DnsServer(Options options, const Directory& directory,
                     Metrics& metrics)
    : options_(std::move(options)),
      directory_(directory),
      metrics_(metrics),
      rate_limited_(metrics.GetCounter(
          "muster_dns_rate_limited_total",
          "UDP DNS queries dropped by the per-source rate limit")) {}

absl::StatusOr<std::unique_ptr<DnsServer>> DnsServer::Start(
    Options options, const Directory& directory, Metrics& metrics) {
  absl::StatusOr<registry::HostPort> address =
      registry::ParseListenAddress(options.listen_name, options.listen);
  if (!address.ok()) return address.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_PASSIVE;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address->port);
  if (getaddrinfo(address->host.c_str(), port.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.listen_name, " \"", options.listen,
                     "\": host does not resolve"));
  }
  sockaddr_storage bound{};
  socklen_t bound_size = found->ai_addrlen;
  std::memcpy(&bound, found->ai_addr, found->ai_addrlen);
  const int family = found->ai_family;
  freeaddrinfo(found);

  std::unique_ptr<DnsServer> server(
      new DnsServer(std::move(options), directory, metrics));
  const std::string& name = server->options_.listen_name;
  auto failure = [&](const char* what) {
    return absl::UnavailableError(
        absl::StrCat(name, " \"", server->options_.listen, "\": ", what, ": ",
                     strerror(errno)));
  };
  server->udp_fd_ =
      socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (server->udp_fd_ < 0) return failure("udp socket");
  if (bind(server->udp_fd_, reinterpret_cast<sockaddr*>(&bound), bound_size) !=
      0) {
    return failure("cannot bind udp");
  }
  if (getsockname(server->udp_fd_, reinterpret_cast<sockaddr*>(&bound),
                  &bound_size) != 0) {
    return failure("getsockname");
  }
  server->port_ = ntohs(family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  server->tcp_fd_ =
      socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (server->tcp_fd_ < 0) return failure("tcp socket");
  const int one = 1;
  setsockopt(server->tcp_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(server->tcp_fd_, reinterpret_cast<sockaddr*>(&bound), bound_size) !=
          0 ||
      listen(server->tcp_fd_, 128) != 0) {
    return failure("cannot bind tcp");
  }
  server->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (server->wake_fd_ < 0) return failure("eventfd");
  server->udp_thread_ = std::thread([s = server.get()] { s->UdpLoop(); });
  server->tcp_thread_ = std::thread([s = server.get()] { s->TcpLoop(); });
  return server;
}

DnsServer::~DnsServer() {
  Stop();
  for (int fd : {udp_fd_, tcp_fd_, wake_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void DnsServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }
  if (udp_thread_.joinable()) udp_thread_.join();
  if (tcp_thread_.joinable()) tcp_thread_.join();
}

void DnsServer::Count(const Answered& answered, const char* transport) {
  metrics_
      .GetCounter("muster_dns_queries_total",
                  "DNS queries answered, by transport, type and rcode",
                  {{"transport", transport},
                   {"type", answered.qtype},
                   {"rcode", answered.rcode}})
      .Increment();
  if (answered.truncated) {
    metrics_
        .GetCounter("muster_dns_truncated_total",
                    "DNS answers sent with TC set (too large for UDP)")
        .Increment();
  }
}

void DnsServer::UdpLoop() {
  std::mt19937_64 rng = SeededRng();
  RateLimiter limiter(options_.rate, options_.burst);
  AnswerOptions answer_options;
  answer_options.ttl_seconds = options_.ttl_seconds;
  std::vector<uint8_t> buffer(65536);
  while (!stopping_.load()) {
    pollfd fds[2] = {{udp_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      MUSTER_LOG(kError, "dns: udp poll: %s", strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    // Drain what is queued before polling again.
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage from{};
      socklen_t from_size = sizeof(from);
      const ssize_t n =
          recvfrom(udp_fd_, buffer.data(), buffer.size(), 0,
                   reinterpret_cast<sockaddr*>(&from), &from_size);
      if (n < 0) break;
      std::string source;
      if (from.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<sockaddr_in6&>(from).sin6_addr;
        source.assign(reinterpret_cast<const char*>(&a), sizeof(a));
      } else {
        const auto& a = reinterpret_cast<sockaddr_in&>(from).sin_addr;
        source.assign(reinterpret_cast<const char*>(&a), sizeof(a));
      }
      if (!limiter.Allow(source, absl::Now())) {
        rate_limited_.Increment();
        continue;
      }
      Answered answered = Answer(buffer.data(), static_cast<size_t>(n),
                                 directory_, answer_options, rng);
      if (answered.drop) continue;
      Count(answered, "udp");
      sendto(udp_fd_, answered.wire.data(), answered.wire.size(), 0,
             reinterpret_cast<sockaddr*>(&from), from_size);
    }
  }
}

void DnsServer::TcpLoop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{tcp_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      MUSTER_LOG(kError, "dns: tcp poll: %s", strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = accept4(tcp_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ServeTcp(fd);
    close(fd);
  }
}

void DnsServer::ServeTcp(int fd) {
  std::mt19937_64 rng = SeededRng();
  AnswerOptions answer_options;
  answer_options.ttl_seconds = options_.ttl_seconds;
  answer_options.tcp = true;
  std::vector<uint8_t> buffer;
  while (!stopping_.load()) {
    uint8_t length[2];
    if (!Transfer(fd, length, 2, false)) return;
    buffer.resize(static_cast<size_t>(length[0]) << 8 | length[1]);
    if (!Transfer(fd, buffer.data(), buffer.size(), false)) return;
    Answered answered =
        Answer(buffer.data(), buffer.size(), directory_, answer_options, rng);
    if (answered.drop) return;
    Count(answered, "tcp");
    uint8_t prefix[2] = {static_cast<uint8_t>(answered.wire.size() >> 8),
                         static_cast<uint8_t>(answered.wire.size() & 0xff)};
    if (!Transfer(fd, prefix, 2, true) ||
        !Transfer(fd, answered.wire.data(), answered.wire.size(), true)) {
      return;
    }
  }
}

}  // namespace muster::dns
