#include "testkit/daemon_process.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include "absl/time/time.h"
#include "muster/v1/registry.grpc.pb.h"

namespace muster::testing {
namespace {

// Start-up attempts on fresh ports when musterd exits during start-up.
constexpr int kStartAttempts = 5;
// Returned when there is no exit code to give.
constexpr int kNoExitCode = -1000;
// Long enough for a killed process to be reaped.
constexpr absl::Duration kReapDeadline = absl::Minutes(5);

}  // namespace

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

DaemonProcess::DaemonProcess(std::string binary, std::string data_dir,
                             std::string log_path,
                             std::vector<std::string> extra_args)
    : binary_(std::move(binary)),
      data_dir_(std::move(data_dir)),
      log_path_(std::move(log_path)),
      extra_args_(std::move(extra_args)) {}

DaemonProcess::~DaemonProcess() { Kill(); }

bool DaemonProcess::Spawn() {
  if (!keep_ports_ || grpc_port_ == 0) {
    do {
      grpc_port_ = FreePort();
      http_port_ = FreePort();
    } while (grpc_port_ == http_port_ && grpc_port_ != 0);
  }
  SpawnOptions options;
  options.argv = {binary_,        "--listen",   address(), "--http-listen",
                  http_address(), "--data-dir", data_dir_};
  options.argv.insert(options.argv.end(), extra_args_.begin(),
                      extra_args_.end());
  options.env = env_;
  options.out = Sink::File(log_path_);
  options.err = Sink::File(log_path_);
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(options);
  if (!child.ok()) return false;
  child_ = *std::move(child);
  return true;
}

bool DaemonProcess::Start(int timeout_s) {
  const int attempts = keep_ports_ ? 1 : kStartAttempts;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (!Spawn()) return false;
    if (WaitReady(timeout_s)) {
      channel_ = grpc::CreateChannel(address(), Credentials());
      return true;
    }
    if (child_ != nullptr) {
      // Running but not answering: no other port will help.
      Kill();
      return false;
    }
  }
  return false;
}

bool DaemonProcess::WaitReady(int timeout_s) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (child_->Exited()) {
      child_.reset();
      return false;
    }
    // A new channel for every attempt: a channel that failed to connect
    // waits out a reconnect backoff (a second and growing), which would
    // hide the moment musterd starts answering (the bench measures it).
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto stub = muster::v1::Registry::NewStub(
        grpc::CreateCustomChannel(address(), Credentials(), args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(200));
    muster::v1::PingResponse response;
    if (stub->Ping(&context, muster::v1::PingRequest(), &response).ok()) {
      return true;
    }
    // A refused connection fails at once; musterd gives no event to wait
    // on before it listens, so pause briefly between attempts.
    usleep(5000);
  }
  return false;
}

std::shared_ptr<grpc::ChannelCredentials> DaemonProcess::Credentials() const {
  return credentials_ != nullptr ? credentials_
                                 : grpc::InsecureChannelCredentials();
}

int DaemonProcess::ExitCode(std::optional<int> code) const {
  if (std::optional<int> signal = child_->terminating_signal()) {
    return -*signal;
  }
  return code.value_or(kNoExitCode);
}

int DaemonProcess::Reap(int timeout_s) {
  std::optional<int> code = child_->Wait(absl::Seconds(timeout_s));
  if (!code.has_value()) {
    child_->Signal(SIGKILL);
    code = child_->Wait(kReapDeadline);
  }
  const int result = ExitCode(code);
  child_.reset();
  return result;
}

int DaemonProcess::RunToExit(int timeout_s) {
  if (!Spawn()) return kNoExitCode;
  return Reap(timeout_s);
}

void DaemonProcess::Kill() {
  if (child_ == nullptr) return;
  child_->Signal(SIGKILL);
  child_->Wait(kReapDeadline);
  child_.reset();
}

int DaemonProcess::Terminate() { return Terminate(30); }

bool DaemonProcess::Restart(int timeout_s) {
  if (Terminate() != 0) return false;
  KeepPorts();
  return Start(timeout_s);
}

int DaemonProcess::Terminate(int timeout_s) {
  if (child_ == nullptr) return kNoExitCode;
  child_->Signal(SIGTERM);
  return Reap(timeout_s);
}

void DaemonProcess::Signal(int signal) {
  if (child_ != nullptr) child_->Signal(signal);
}

std::optional<int> DaemonProcess::WaitExit(int timeout_s) {
  if (child_ == nullptr) return std::nullopt;
  std::optional<int> code = child_->Wait(absl::Seconds(timeout_s));
  if (!code.has_value()) return std::nullopt;
  const int result = ExitCode(code);
  child_.reset();
  return result;
}

std::string DaemonProcess::log() const { return ReadFile(log_path_); }

}  // namespace muster::testing
