#include "healthchecker/tcp_prober.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace muster::healthchecker {
namespace {

// epoll user data: 0 is the wake-up eventfd; otherwise the attempt id
// shifted left, with the low bit telling its timer from its socket.
constexpr uint64_t kWakeTag = 0;
uint64_t SocketTag(uint64_t id) { return id << 1; }
uint64_t TimerTag(uint64_t id) { return (id << 1) | 1; }

constexpr size_t kResolverThreads = 2;

std::string HostPort(const IpAddress& address, uint32_t port) {
  if (address.family() == IpAddress::Family::kV6) {
    return absl::StrCat("[", address.ToString(), "]:", port);
  }
  return absl::StrCat(address.ToString(), ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpProber>> TcpProber::Create(
    NetworkPolicy policy) {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0)
    return absl::InternalError(ErrnoOutput("tcp prober: epoll_create1", errno));
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const int error = errno;
    close(epoll_fd);
    return absl::InternalError(ErrnoOutput("tcp prober: eventfd", error));
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeTag;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &event) != 0) {
    const int error = errno;
    close(wake_fd);
    close(epoll_fd);
    return absl::InternalError(ErrnoOutput("tcp prober: epoll_ctl", error));
  }
  return std::unique_ptr<TcpProber>(
      new TcpProber(std::move(policy), epoll_fd, wake_fd));
}

TcpProber::TcpProber(NetworkPolicy policy, int epoll_fd, int wake_fd)
    : policy_(std::move(policy)),
      epoll_fd_(epoll_fd),
      wake_fd_(wake_fd),
      resolver_(kResolverThreads) {}

TcpProber::~TcpProber() {
  Stop();
  close(wake_fd_);
  close(epoll_fd_);
}

absl::Status TcpProber::Start() {
  if (thread_.joinable()) return absl::OkStatus();
  resolver_.Start();
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void TcpProber::Stop() {
  // The resolver first: its callbacks post to this prober.
  resolver_.Stop();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  // A full eventfd counter still wakes the loop; nothing to handle.
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void TcpProber::Post(std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    inbox_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void TcpProber::Probe(const ProbeRequest& request, ProbeCallback done) {
  Post([this, request, done = std::move(done)]() mutable {
    Begin(std::move(request), std::move(done));
  });
}

void TcpProber::Loop() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (true) {
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof(count));
      } else if ((tag & 1) == 1) {
        const uint64_t id = tag >> 1;
        auto it = attempts_.find(id);
        if (it != attempts_.end()) {
          Finish(id, ProbeResult::kFailure,
                 TimeoutOutput(it->second.request.check.timeout));
        }
      } else {
        OnSocketReady(tag >> 1);
      }
    }
    std::vector<std::function<void()>> inbox;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      inbox.swap(inbox_);
    }
    for (auto& fn : inbox) fn();
  }
  // Abandon what is in flight: Stop() promises that no callback runs.
  for (auto& [id, attempt] : attempts_) {
    CloseSocket(attempt);
    close(attempt.timer_fd);
  }
  attempts_.clear();
}

void TcpProber::Begin(ProbeRequest request, ProbeCallback done) {
  const uint64_t id = next_id_++;
  Attempt& attempt = attempts_[id];
  attempt.request = std::move(request);
  attempt.done = std::move(done);
  // The timer covers resolution and every connect attempt.
  attempt.timer_fd =
      timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (attempt.timer_fd < 0) {
    Finish(id, ProbeResult::kFailure, ErrnoOutput("timerfd_create", errno));
    return;
  }
  itimerspec spec{};
  spec.it_value = absl::ToTimespec(
      std::max(attempt.request.check.timeout, absl::Milliseconds(1)));
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = TimerTag(id);
  if (timerfd_settime(attempt.timer_fd, 0, &spec, nullptr) != 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, attempt.timer_fd, &event) != 0) {
    Finish(id, ProbeResult::kFailure, ErrnoOutput("timer", errno));
    return;
  }
  resolver_.Resolve(
      attempt.request.address,
      [this, id](absl::StatusOr<std::vector<IpAddress>> addresses) {
        Post([this, id, addresses = std::move(addresses)]() mutable {
          OnResolved(id, std::move(addresses));
        });
      });
}

void TcpProber::OnResolved(uint64_t id,
                           absl::StatusOr<std::vector<IpAddress>> addresses) {
  auto it = attempts_.find(id);
  if (it == attempts_.end()) return;  // Timed out while resolving.
  if (!addresses.ok()) {
    Finish(id, ProbeResult::kFailure,
           std::string(addresses.status().message()));
    return;
  }
  it->second.addresses = *std::move(addresses);
  TryNext(id);
}

void TcpProber::TryNext(uint64_t id) {
  Attempt& attempt = attempts_.at(id);
  while (attempt.next_address < attempt.addresses.size()) {
    const IpAddress& address = attempt.addresses[attempt.next_address++];
    if (absl::Status allowed = policy_.CheckAddress(address); !allowed.ok()) {
      attempt.last_error = std::string(allowed.message());
      continue;
    }
    sockaddr_storage storage;
    const socklen_t length = address.ToSockaddr(
        static_cast<uint16_t>(attempt.request.port), &storage);
    attempt.socket_fd = socket(storage.ss_family,
                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (attempt.socket_fd < 0) {
      attempt.last_error = ErrnoOutput("socket", errno);
      continue;
    }
    if (connect(attempt.socket_fd, reinterpret_cast<sockaddr*>(&storage),
                length) == 0) {
      Finish(id, ProbeResult::kSuccess,
             absl::StrCat("connected to ",
                          HostPort(address, attempt.request.port)));
      return;
    }
    if (errno == EINPROGRESS) {
      epoll_event event{};
      event.events = EPOLLOUT;
      event.data.u64 = SocketTag(id);
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, attempt.socket_fd, &event) == 0)
        return;
    }
    attempt.last_error = ErrnoOutput("connect", errno);
    CloseSocket(attempt);
  }
  std::string error =
      attempt.last_error.empty() ? "connect: no address" : attempt.last_error;
  Finish(id, ProbeResult::kFailure, std::move(error));
}

void TcpProber::OnSocketReady(uint64_t id) {
  auto it = attempts_.find(id);
  if (it == attempts_.end()) return;
  Attempt& attempt = it->second;
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(attempt.socket_fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
    error = errno;
  if (error == 0) {
    const IpAddress& address = attempt.addresses[attempt.next_address - 1];
    Finish(
        id, ProbeResult::kSuccess,
        absl::StrCat("connected to ", HostPort(address, attempt.request.port)));
    return;
  }
  attempt.last_error = ErrnoOutput("connect", error);
  CloseSocket(attempt);
  TryNext(id);
}

void TcpProber::CloseSocket(Attempt& attempt) {
  if (attempt.socket_fd < 0) return;
  // Closing the last reference also removes it from the epoll set.
  close(attempt.socket_fd);
  attempt.socket_fd = -1;
}

void TcpProber::Finish(uint64_t id, ProbeResult result, std::string output) {
  auto it = attempts_.find(id);
  if (it == attempts_.end()) return;
  ProbeCallback done = std::move(it->second.done);
  CloseSocket(it->second);
  if (it->second.timer_fd >= 0) close(it->second.timer_fd);
  attempts_.erase(it);
  done(ProbeOutcome{result, SanitizeOutput(output)});
}

}  // namespace muster::healthchecker
