#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/heap_trimmer.h"
#include "common/metrics.h"

namespace muster::registry {

// TcpListener owns musterd's gRPC listening sockets and accepts on a thread
// of its own, handing every admitted connection to `hand_off`.
//
// gRPC 1.51's own listener stops accepting for good after one failed
// accept4() (EMFILE, ENFILE, ENOBUFS): the port stays open, the kernel
// queue fills and nothing is served again. This one never stops:
//   - a connection that arrives when fewer than `fd_reserve` descriptors
//     remain below the open-file limit is accepted and closed at once,
//     keeping those descriptors for the store, the health checker and the
//     HTTP endpoint;
//   - EMFILE/ENFILE frees a spare descriptor to accept and close the
//     waiting connection (the peer sees a reset instead of a hang), then
//     backs off briefly and tries again;
//   - after a burst of connections it has freed heap returned to the
//     system (HeapTrimmer) for `trim_window`, since glibc keeps what the
//     closed connections used.
// Thread-safety: port() from any thread; Start() and Stop() from the owner.
class TcpListener final {
 public:
  struct Options {
    // "host:port" or "[ipv6]:port"; 0.0.0.0 or [::] listen on every address.
    // Port 0 picks a free port (see port()).
    std::string listen = "127.0.0.1:7400";
    // What errors call the address (musterd: its flag, "--listen").
    std::string name = "grpc listen";
    // Descriptors kept free for everything but gRPC connections; at most
    // half of the open-file limit is kept.
    uint32_t fd_reserve = 2048;
    // How long after the last burst heap is trimmed (beyond the
    // trimmer's own window); no trimmer never trims.
    absl::Duration trim_window = absl::Minutes(1);
    HeapTrimmer* trimmer = nullptr;
  };

  // Binds and listens; connections queue in the kernel until Start().
  // INVALID_ARGUMENT for a malformed or unresolvable address or one that
  // is not this host's, PERMISSION_DENIED for a privileged port,
  // UNAVAILABLE when the port is taken. Messages start with the name and
  // the address: "grpc listen 127.0.0.1:7400: address already in use".
  static absl::StatusOr<std::unique_ptr<TcpListener>> Create(
      const Options& options, Clock& clock, Metrics& metrics);
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  // Stops, joins and closes the sockets.
  ~TcpListener();

  // Accepts until Stop(). `hand_off` takes ownership of the connected,
  // non-blocking descriptor; it runs on the accept thread.
  void Start(std::function<void(int fd)> hand_off);
  // Stops accepting and joins; queued connections are reset when the
  // sockets close (in the destructor). Idempotent.
  void Stop();

  int port() const { return port_; }
  // The highest descriptor number a connection may use (exclusive).
  int fd_ceiling() const { return fd_ceiling_; }

 private:
  TcpListener(std::vector<int> fds, int port, const Options& options,
              Clock& clock, Metrics& metrics);
  void Run();
  // Accepts what is queued on `fd`; false when the thread should back off.
  bool AcceptReady(int fd);
  void Refuse(int fd, const char* reason);
  // A burst: the memory of these connections comes back over trim_window.
  void NoteBurst();

  // Constant after construction.
  const std::vector<int> fds_;
  const int port_;
  const absl::Duration trim_window_;
  HeapTrimmer* const trimmer_;
  Clock& clock_;
  Counter& accepted_;
  Counter& refused_reserve_;
  Counter& refused_emfile_;
  Counter& accept_errors_;
  int fd_ceiling_ = 0;
  int wake_fd_ = -1;  // eventfd: Stop() wakes the accept thread

  // Accept-thread state.
  std::function<void(int)> hand_off_;
  int spare_fd_ = -1;
  uint64_t refused_since_log_ = 0;
  absl::Time last_refusal_log_ = absl::InfinitePast();
  absl::Time window_start_ = absl::InfinitePast();
  uint64_t accepted_in_window_ = 0;

  // Owner-thread state.
  bool started_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace muster::registry
