#include "tests/support/tcp_probe_target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace muster::testing {
namespace {

absl::StatusOr<std::pair<int, int>> OpenListener(int backlog) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(fd, backlog) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("listen: ", strerror(error)));
  }
  return std::make_pair(fd, static_cast<int>(ntohs(address.sin_port)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpProbeTarget>> TcpProbeTarget::Listen() {
  absl::StatusOr<std::pair<int, int>> listener = OpenListener(SOMAXCONN);
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<TcpProbeTarget>(
      new TcpProbeTarget(listener->first, listener->second));
}

absl::StatusOr<std::unique_ptr<TcpProbeTarget>> TcpProbeTarget::ListenFull() {
  absl::StatusOr<std::pair<int, int>> listener = OpenListener(0);
  if (!listener.ok()) return listener.status();
  std::unique_ptr<TcpProbeTarget> target(
      new TcpProbeTarget(listener->first, listener->second));
  // A backlog of 0 holds one completed connection; a blocking connect
  // returns once it is queued, so the next SYN finds the queue full.
  const int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(target->port_));
  if (filler < 0 || connect(filler, reinterpret_cast<sockaddr*>(&address),
                            sizeof(address)) != 0) {
    if (filler >= 0) close(filler);
    return absl::UnavailableError(
        absl::StrCat("fill backlog: ", strerror(errno)));
  }
  target->fillers_.push_back(filler);
  return target;
}

TcpProbeTarget::~TcpProbeTarget() {
  Close();
  for (int fd : fillers_) close(fd);
}

void TcpProbeTarget::Close() {
  if (fd_ < 0) return;
  close(fd_);
  fd_ = -1;
}

}  // namespace muster::testing
