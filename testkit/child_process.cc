#include "testkit/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace muster::testing {
namespace {

// The environment for a child: ours with `changes` applied.
std::vector<std::string> ChildEnvironment(
    const std::vector<std::string>& changes) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry;
  }
  for (const std::string& change : changes) {
    size_t eq = change.find('=');
    if (eq == std::string::npos) {
      env.erase(change);
    } else {
      env[change.substr(0, eq)] = change;
    }
  }
  std::vector<std::string> out;
  for (const auto& [name, entry] : env) out.push_back(entry);
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Child>> Child::Spawn(
    const SpawnOptions& options) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  struct Plan {
    const Sink& sink;
    int* pipe_fds;
    int target;
  };
  for (const Plan& plan : {Plan{options.out, out_pipe, STDOUT_FILENO},
                           Plan{options.err, err_pipe, STDERR_FILENO}}) {
    if (plan.sink.kind == Sink::Kind::kPipe) {
      if (pipe2(plan.pipe_fds, O_CLOEXEC) != 0) {
        return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
      }
      posix_spawn_file_actions_adddup2(&actions, plan.pipe_fds[1], plan.target);
    } else {
      posix_spawn_file_actions_addopen(&actions, plan.target,
                                       plan.sink.path.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
    }
  }
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  std::vector<std::string> argv = options.argv;
  std::vector<std::string> env = ChildEnvironment(options.env);
  std::vector<char*> argv_ptrs = Pointers(argv);
  std::vector<char*> env_ptrs = Pointers(env);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv_ptrs[0], &actions, nullptr, argv_ptrs.data(),
                       env_ptrs.data());
  posix_spawn_file_actions_destroy(&actions);
  for (int fd : {out_pipe[1], err_pipe[1]}) {
    if (fd >= 0) close(fd);
  }
  if (rc != 0) {
    for (int fd : {out_pipe[0], err_pipe[0]}) {
      if (fd >= 0) close(fd);
    }
    return absl::InternalError(
        absl::StrCat("posix_spawn ", options.argv[0], ": ", strerror(rc)));
  }
  return std::unique_ptr<Child>(new Child(pid, out_pipe[0], err_pipe[0]));
}

Child::Child(pid_t pid, int out_fd, int err_fd)
    : pid_(pid), out_fd_(out_fd), err_fd_(err_fd) {}

Child::~Child() {
  if (!exit_code_.has_value()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  for (int fd : {out_fd_, err_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void Child::Pump(absl::Duration timeout) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = pollfd{out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = pollfd{err_fd_, POLLIN, 0};
  if (n == 0) return;
  int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  if (poll(fds, n, ms < 0 ? 0 : ms) <= 0) return;
  for (int i = 0; i < n; ++i) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    char buffer[65536];
    ssize_t got = read(fds[i].fd, buffer, sizeof(buffer));
    if (got > 0) {
      (fds[i].fd == out_fd_ ? out_ : err_).append(buffer, got);
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
      close(fds[i].fd);
      (fds[i].fd == out_fd_ ? out_fd_ : err_fd_) = -1;
    }
  }
}

std::optional<std::string> Child::ReadLine(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    size_t newline = out_.find('\n', line_start_);
    if (newline != std::string::npos) {
      std::string line = out_.substr(line_start_, newline - line_start_);
      line_start_ = newline + 1;
      return line;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration() || out_fd_ < 0) return std::nullopt;
    Pump(left);
  }
}

void Child::Signal(int signal_number) {
  if (!exit_code_.has_value()) kill(pid_, signal_number);
}

bool Child::Exited() {
  if (exit_code_.has_value()) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_code_ = DecodeWaitStatus(status);
    if (WIFSIGNALED(status)) term_signal_ = WTERMSIG(status);
  }
  return exit_code_.has_value();
}

std::optional<int> Child::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  // Drain the pipes first: a child blocked on a full pipe never exits.
  while ((out_fd_ >= 0 || err_fd_ >= 0) && absl::Now() < deadline) {
    Pump(deadline - absl::Now());
  }
  if (Exited()) return exit_code_;
  // Wait for the exit itself on a pidfd, which becomes readable when the
  // child terminates.
  // syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd < 0) return std::nullopt;
  while (!Exited()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd exit_fd{pidfd, POLLIN, 0};
    poll(&exit_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
  }
  close(pidfd);
  return exit_code_;
}

RunResult Run(const SpawnOptions& options, absl::Duration timeout) {
  RunResult result;
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(options);
  if (!child.ok()) {
    result.err = std::string(child.status().message());
    return result;
  }
  std::optional<int> code = (*child)->Wait(timeout);
  result.exit_code = code.value_or(-1);
  result.out = (*child)->out();
  result.err = (*child)->err();
  return result;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace muster::testing
