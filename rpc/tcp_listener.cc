#include "rpc/tcp_listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/listen_address.h"
#include "common/logging.h"

namespace muster::registry {
namespace {

// Bounds the work done per wake-up so Stop() is never kept waiting long.
constexpr int kMaxAcceptsPerWake = 1024;
// After EMFILE or an accept error: long enough not to spin, short enough
// that clients barely notice once descriptors are free again.
constexpr int kBackOffMs = 50;
// A burst: this many connections within one second, or any refusal.
constexpr uint64_t kBurstConnections = 200;
constexpr absl::Duration kRefusalLogEvery = absl::Seconds(10);

// The codes and wording HttpEndpoint uses for the same failures.
absl::Status BindError(const std::string& name, const std::string& listen,
                       int error) {
  const absl::StatusCode code =
      error == EACCES || error == EPERM ? absl::StatusCode::kPermissionDenied
      : error == EADDRNOTAVAIL          ? absl::StatusCode::kInvalidArgument
                                        : absl::StatusCode::kUnavailable;
  return absl::Status(
      code, absl::StrCat(name, " ", listen, ": ",
                         absl::AsciiStrToLower(std::strerror(error))));
}

// One listening socket on `addr`; -errno on failure.
int ListenOn(const sockaddr* addr, socklen_t len, bool dual_stack) {
  int fd =
      ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  int zero = 0;
  // SO_REUSEADDR only: without SO_REUSEPORT a second daemon on the same
  // port fails with "address in use" instead of sharing it.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (addr->sa_family == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? &zero : &one,
                 sizeof(int));
  }
  // The kernel caps the backlog at net.core.somaxconn.
  if (::bind(fd, addr, len) != 0 || ::listen(fd, 65535) != 0) {
    int error = errno;
    ::close(fd);
    return -error;
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
}

void SetPort(sockaddr* addr, int port) {
  if (addr->sa_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(port);
  }
}

// Binds every address `host` resolves to, all on one port. The wildcard
// hosts get one dual-stack socket (IPv4 alone where IPv6 is missing).
absl::StatusOr<std::vector<int>> BindAll(const std::string& name,
                                         const std::string& listen,
                                         const HostPort& host_port, int* port) {
  std::vector<int> fds;
  if (host_port.host == "0.0.0.0" || host_port.host == "::") {
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    any6.sin6_port = htons(host_port.port);
    int fd = ListenOn(reinterpret_cast<sockaddr*>(&any6), sizeof(any6), true);
    if (fd == -EAFNOSUPPORT) {
      sockaddr_in any4{};
      any4.sin_family = AF_INET;
      any4.sin_addr.s_addr = htonl(INADDR_ANY);
      any4.sin_port = htons(host_port.port);
      fd = ListenOn(reinterpret_cast<sockaddr*>(&any4), sizeof(any4), false);
    }
    if (fd < 0) return BindError(name, listen, -fd);
    *port = BoundPort(fd);
    return std::vector<int>{fd};
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(host_port.port);
  int rc =
      ::getaddrinfo(host_port.host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " ", listen, ": cannot resolve \"", host_port.host,
                     "\": ", ::gai_strerror(rc)));
  }
  int bound_port = host_port.port;
  int first_error = 0;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    sockaddr_storage addr{};
    std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    if (bound_port != 0)
      SetPort(reinterpret_cast<sockaddr*>(&addr), bound_port);
    int fd =
        ListenOn(reinterpret_cast<sockaddr*>(&addr), ai->ai_addrlen, false);
    if (fd < 0) {
      if (first_error == 0) first_error = -fd;
      continue;
    }
    fds.push_back(fd);
    if (bound_port == 0) bound_port = BoundPort(fd);
  }
  ::freeaddrinfo(result);
  // Like gRPC: serving on some of a name's addresses is enough.
  if (fds.empty()) return BindError(name, listen, first_error);
  *port = bound_port;
  return fds;
}

int OpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  return limit.rlim_cur > static_cast<rlim_t>(INT_MAX)
             ? INT_MAX
             : static_cast<int>(limit.rlim_cur);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpListener>> TcpListener::Create(
    const Options& options, Clock& clock, Metrics& metrics) {
  absl::StatusOr<HostPort> host_port =
      ParseListenAddress(options.name, options.listen);
  if (!host_port.ok()) return host_port.status();
  int port = 0;
  absl::StatusOr<std::vector<int>> fds =
      BindAll(options.name, options.listen, *host_port, &port);
  if (!fds.ok()) return fds.status();
  return std::unique_ptr<TcpListener>(
      new TcpListener(std::move(*fds), port, options, clock, metrics));
}

TcpListener::TcpListener(std::vector<int> fds, int port, const Options& options,
                         Clock& clock, Metrics& metrics)
    : fds_(std::move(fds)),
      port_(port),
      trim_window_(options.trim_window),
      trimmer_(options.trimmer),
      clock_(clock),
      accepted_(metrics.GetCounter("muster_grpc_connections_accepted_total",
                                   "gRPC connections handed to the server")),
      refused_reserve_(metrics.GetCounter(
          "muster_grpc_connections_refused_total",
          "gRPC connections closed at once: the open-file reserve was reached "
          "(fd_reserve) or the process was out of descriptors (emfile)",
          {{"reason", "fd_reserve"}})),
      refused_emfile_(metrics.GetCounter(
          "muster_grpc_connections_refused_total",
          "gRPC connections closed at once: the open-file reserve was reached "
          "(fd_reserve) or the process was out of descriptors (emfile)",
          {{"reason", "emfile"}})),
      accept_errors_(
          metrics.GetCounter("muster_grpc_accept_errors_total",
                             "accept() failures other than EMFILE/ENFILE")) {
  const int limit = OpenFileLimit();
  const int reserve =
      static_cast<int>(std::min<uint32_t>(options.fd_reserve, limit / 2));
  fd_ceiling_ = limit - reserve;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

TcpListener::~TcpListener() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void TcpListener::Start(std::function<void(int fd)> hand_off) {
  if (started_ || stopped_) return;
  started_ = true;
  hand_off_ = std::move(hand_off);
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  thread_ = std::thread([this] { Run(); });
}

void TcpListener::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    // A full counter still wakes the thread; the result does not matter.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : fds_) ::close(fd);
  if (spare_fd_ >= 0) ::close(spare_fd_);
  spare_fd_ = -1;
}

void TcpListener::Run() {
  std::vector<pollfd> polled;
  polled.push_back(pollfd{wake_fd_, POLLIN, 0});
  for (int fd : fds_) polled.push_back(pollfd{fd, POLLIN, 0});
  for (;;) {
    // Stop() wakes it through wake_fd_; the timeout is only a backstop.
    int ready = ::poll(polled.data(), polled.size(), 1000);
    if (ready < 0 && errno != EINTR) {
      MUSTER_LOG(kError, "grpc listener: poll: %s", std::strerror(errno));
    }
    if (ready > 0 && polled[0].revents != 0) return;
    bool back_off = ready < 0;
    for (size_t i = 1; ready > 0 && i < polled.size(); ++i) {
      if (polled[i].revents != 0 && !AcceptReady(polled[i].fd)) {
        back_off = true;
      }
    }
    if (back_off) {
      pollfd wake{wake_fd_, POLLIN, 0};
      if (::poll(&wake, 1, kBackOffMs) > 0) return;
    }
  }
}

bool TcpListener::AcceptReady(int listen_fd) {
  for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
    int fd =
        ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      const absl::Time now = clock_.Now();
      if (now - window_start_ >= absl::Seconds(1)) {
        window_start_ = now;
        accepted_in_window_ = 0;
      }
      if (++accepted_in_window_ >= kBurstConnections) {
        NoteBurst();
      }
      if (fd >= fd_ceiling_) {
        refused_reserve_.Increment();
        Refuse(fd, "the open-file reserve (--grpc-fd-reserve) is reached");
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      accepted_.Increment();
      hand_off_(fd);
      continue;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
      case EPERM:  // a firewall rule refused this one connection
        continue;
      case EAGAIN:
        return true;
      case EMFILE:
      case ENFILE: {
        // The waiting connection would otherwise stay queued and wake us
        // again at once: take it with the spare descriptor and close it.
        if (spare_fd_ >= 0) {
          ::close(spare_fd_);
          int queued = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
          spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
          if (queued >= 0) {
            refused_emfile_.Increment();
            Refuse(queued, "the process is out of file descriptors");
          }
        }
        NoteBurst();
        return false;
      }
      default:  // ENOBUFS, ENOMEM: wait for memory rather than spin.
        accept_errors_.Increment();
        MUSTER_LOG(kWarning, "grpc listener: accept: %s", std::strerror(errno));
        return false;
    }
  }
  return true;
}

void TcpListener::Refuse(int fd, const char* reason) {
  // A reset, not a FIN: the peer learns at once and no TIME_WAIT is left.
  linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  ::close(fd);
  ++refused_since_log_;
  const absl::Time now = clock_.Now();
  NoteBurst();
  if (now - last_refusal_log_ >= kRefusalLogEvery) {
    MUSTER_LOG(kWarning,
               "grpc listener: refused %d connection(s) since the last report: "
               "%s (descriptor limit %d, reserve above %d)",
               refused_since_log_, reason, OpenFileLimit(), fd_ceiling_);
    refused_since_log_ = 0;
    last_refusal_log_ = now;
  }
}

void TcpListener::NoteBurst() {
  if (trimmer_ != nullptr) trimmer_->NoteFor(trim_window_);
}

}  // namespace muster::registry
