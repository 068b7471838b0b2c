#pragma once

// Child processes for the tests and the bench: spawn a real binary,
// capture its output or send it to a file, signal it, wait for it with a
// deadline (on a pidfd, not by polling). POSIX only. Not thread-safe.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace muster::testing {

// Where a child's stdout or stderr goes.
struct Sink {
  enum class Kind { kPipe, kFile };
  Kind kind = Kind::kPipe;
  std::string path;  // kFile: appended to

  static Sink Pipe() { return Sink{}; }
  static Sink File(std::string path) {
    return Sink{Kind::kFile, std::move(path)};
  }
};

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the binary's path
  // NAME=value entries replacing or adding to this process's environment;
  // "NAME" alone removes NAME.
  std::vector<std::string> env;
  Sink out = Sink::Pipe();
  Sink err = Sink::Pipe();
};

// A running child. The destructor kills (SIGKILL) and reaps it if it is
// still running.
class Child final {
 public:
  static absl::StatusOr<std::unique_ptr<Child>> Spawn(
      const SpawnOptions& options);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // The next complete stdout line (without '\n'), waiting until `timeout`
  // has passed; nullopt on timeout or end of output. REQUIRES: stdout is
  // a pipe.
  std::optional<std::string> ReadLine(absl::Duration timeout);

  void Signal(int signal_number);

  // Waits for the exit, collecting piped output. The exit code, or 128 +
  // the signal for a killed child; nullopt if still running at `timeout`.
  std::optional<int> Wait(absl::Duration timeout);

  // True once the child has exited (reaps it without waiting).
  bool Exited();
  // The signal that ended the child, once it has exited; nullopt when it
  // exited by itself.
  std::optional<int> terminating_signal() const { return term_signal_; }

  // Output read from the pipes so far (all of it after Wait). Lines
  // returned by ReadLine are included.
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  Child(pid_t pid, int out_fd, int err_fd);
  // Reads what the pipes hold, waiting up to `timeout` for data.
  void Pump(absl::Duration timeout);

  const pid_t pid_;
  int out_fd_;  // -1 when closed or not a pipe
  int err_fd_;
  std::string out_;
  std::string err_;
  size_t line_start_ = 0;  // ReadLine's position in out_
  std::optional<int> exit_code_;
  std::optional<int> term_signal_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a child to completion with both outputs piped. A child still
// running at `timeout` is killed and reported with exit code -1.
RunResult Run(const SpawnOptions& options, absl::Duration timeout);

// The contents of a file; empty if it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace muster::testing
