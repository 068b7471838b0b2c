#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "testkit/child_process.h"

namespace muster::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0,
// then closed); 0 when none could be had. Another process may take it.
int FreePort();

// A real musterd process on 127.0.0.1 with its own ports, writing its log
// to `log_path` (appended to): the one harness of the end-to-end, CLI
// end-to-end and fault tests and of muster-bench. Not thread-safe.
class DaemonProcess final {
 public:
  DaemonProcess(std::string binary, std::string data_dir, std::string log_path,
                std::vector<std::string> extra_args = {});
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Environment changes for the next spawns: "NAME=value" sets or
  // replaces, "NAME" alone removes (as SpawnOptions::env).
  void SetEnv(std::vector<std::string> env) { env_ = std::move(env); }
  // How Start() dials musterd to see it answer, and the credentials of
  // channel(): for a musterd started with --tls-cert. None: plaintext.
  void SetChannelCredentials(
      std::shared_ptr<grpc::ChannelCredentials> credentials) {
    credentials_ = std::move(credentials);
  }

  // Spawns musterd and waits (up to `timeout_s`) until it answers Ping.
  // Unless the ports are kept, a daemon that exits during start-up is
  // tried again on other free ports (another process may have taken
  // one). Returns false when it exited or did not answer; see log().
  bool Start(int timeout_s = 20);
  // Spawns and waits for it to exit; returns the exit code (or -signal).
  int RunToExit(int timeout_s = 20);
  void Kill();      // SIGKILL and reap
  int Terminate();  // SIGTERM; returns the exit code (or -signal)
  // SIGTERM, waiting up to `timeout_s` (then SIGKILL); returns the exit
  // code (or -signal).
  int Terminate(int timeout_s);
  // Sends `signal` (SIGSTOP, SIGCONT, SIGHUP, ...) without reaping.
  void Signal(int signal);
  // Waits up to `timeout_s` for the process to exit by itself; returns
  // its exit code (or -signal), or std::nullopt while it still runs.
  std::optional<int> WaitExit(int timeout_s);
  bool running() const { return child_ != nullptr; }
  pid_t pid() const { return child_ != nullptr ? child_->pid() : -1; }
  // Keeps the same ports on the next Start() (a restart on one address).
  void KeepPorts() { keep_ports_ = true; }
  // Terminate(), then Start() on the same ports and data dir. False when
  // the exit was not clean (code 0) or the start failed; see log().
  bool Restart(int timeout_s = 20);

  std::string address() const {
    return "127.0.0.1:" + std::to_string(grpc_port_);
  }
  int http_port() const { return http_port_; }
  std::string http_address() const {
    return "127.0.0.1:" + std::to_string(http_port_);
  }
  const std::string& data_dir() const { return data_dir_; }
  // A channel to address(), made by the last successful Start().
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::string log() const;

 private:
  bool Spawn();
  // Waits until Ping answers; false when the process exited first or
  // `timeout_s` passed.
  bool WaitReady(int timeout_s);
  // Waits for the exit; SIGKILL after `timeout_s`. Exit code or -signal.
  int Reap(int timeout_s);
  std::shared_ptr<grpc::ChannelCredentials> Credentials() const;
  // `code` from Child::Wait as the exit code, or -signal.
  int ExitCode(std::optional<int> code) const;

  const std::string binary_;
  const std::string data_dir_;
  const std::string log_path_;
  const std::vector<std::string> extra_args_;
  std::vector<std::string> env_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  bool keep_ports_ = false;
  std::unique_ptr<Child> child_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace muster::testing
