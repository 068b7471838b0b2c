#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace muster::testing {

// A free TCP port on 127.0.0.1 (bound to port 0, then released).
int FreePort();

// A real musterd process on 127.0.0.1 with its own ports, writing its log
// to `log_path`. Not thread-safe.
class DaemonProcess final {
 public:
  DaemonProcess(std::string binary, std::string data_dir, std::string log_path,
                std::vector<std::string> extra_args = {});
  ~DaemonProcess();

  // Spawns musterd and waits (up to `timeout_s`) until it answers Ping.
  // Returns false when it exited or did not answer; see log().
  bool Start(int timeout_s = 20);
  // Spawns and waits for it to exit; returns the exit code (or -signal).
  int RunToExit(int timeout_s = 20);
  void Kill();      // SIGKILL and reap
  int Terminate();  // SIGTERM; returns the exit code (or -signal)
  // Sends `signal` (SIGSTOP, SIGCONT, SIGHUP, ...) without reaping.
  void Signal(int signal);
  // Waits up to `timeout_s` for the process to exit by itself; returns
  // its exit code (or -signal), or std::nullopt while it still runs.
  std::optional<int> WaitExit(int timeout_s);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Keeps the same ports on the next Start() (a restart on one address).
  void KeepPorts() { keep_ports_ = true; }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(grpc_port_);
  }
  int http_port() const { return http_port_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::string log() const;

 private:
  pid_t Spawn();
  int Wait(int timeout_s);

  const std::string binary_;
  const std::string data_dir_;
  const std::string log_path_;
  const std::vector<std::string> extra_args_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  pid_t pid_ = -1;
  bool keep_ports_ = false;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace muster::testing
