#include "tests/e2e/daemon_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "muster/v1/registry.grpc.pb.h"

extern char** environ;

namespace muster::testing {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
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

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) Kill();
}

pid_t DaemonProcess::Spawn() {
  if (!keep_ports_ || grpc_port_ == 0) {
    grpc_port_ = FreePort();
    http_port_ = FreePort();
  }
  std::vector<std::string> args = {binary_,
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(grpc_port_),
                                   "--http-listen",
                                   "127.0.0.1:" + std::to_string(http_port_),
                                   "--data-dir",
                                   data_dir_};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary_.c_str(), &actions, nullptr, argv.data(),
                       environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

bool DaemonProcess::Start(int timeout_s) {
  pid_ = Spawn();
  if (pid_ <= 0) return false;
  channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  auto stub = muster::v1::Registry::NewStub(channel_);
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::system_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    // Waits for the connection (bounded), not for a fixed time.
    channel_->WaitForConnected(std::chrono::system_clock::now() +
                               std::chrono::milliseconds(200));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(1));
    muster::v1::PingResponse response;
    if (stub->Ping(&context, {}, &response).ok()) return true;
  }
  return false;
}

int DaemonProcess::Wait(int timeout_s) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    // Polling a child's exit; there is no event to wait on with a timeout.
    usleep(10000);
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

int DaemonProcess::RunToExit(int timeout_s) {
  pid_ = Spawn();
  if (pid_ <= 0) return -1000;
  return Wait(timeout_s);
}

void DaemonProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int DaemonProcess::Terminate() {
  if (pid_ <= 0) return -1000;
  kill(pid_, SIGTERM);
  return Wait(30);
}

void DaemonProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

std::optional<int> DaemonProcess::WaitExit(int timeout_s) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  for (;;) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    // Polling a child's exit; there is no event to wait on with a timeout.
    usleep(10000);
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

std::string DaemonProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace muster::testing
