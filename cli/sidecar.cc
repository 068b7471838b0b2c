#include "cli/sidecar.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/errors.h"
#include "muster/client/client.h"
#include "muster/client/registration.h"

namespace muster::cli {
namespace {

// Exit status of a command that could not be started, as in a shell.
constexpr int kCannotStart = 127;

// How often the loop looks at the registration's state when no signal
// comes.
constexpr int kPollMillis = 200;

// Signals passed on to the child; the first two also start the shutdown.
constexpr int kStopSignals[] = {SIGINT, SIGTERM};
constexpr int kPassedSignals[] = {SIGINT,  SIGTERM, SIGHUP,
                                  SIGQUIT, SIGUSR1, SIGUSR2};

// The write end of the self-pipe: a handler writes the signal's number,
// the loop reads it. Handlers run on whichever thread the kernel picks
// (gRPC's and the registration's included), so they do nothing else.
int g_signal_pipe = -1;

void OnSignal(int signal_number) {
  int saved = errno;
  unsigned char byte = static_cast<unsigned char>(signal_number);
  ssize_t written = write(g_signal_pipe, &byte, 1);
  (void)written;  // a full pipe already holds a wake-up
  errno = saved;
}

// The self-pipe and the handlers, restored to the defaults when done.
class SignalPipe final {
 public:
  SignalPipe() {
    if (pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) return;
    g_signal_pipe = fds_[1];
    struct sigaction action {};
    action.sa_handler = &OnSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (int s : kPassedSignals) sigaction(s, &action, nullptr);
    sigaction(SIGCHLD, &action, nullptr);
  }
  ~SignalPipe() {
    if (fds_[0] < 0) return;
    for (int s : kPassedSignals) signal(s, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    g_signal_pipe = -1;
    close(fds_[0]);
    close(fds_[1]);
  }
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;

  bool ok() const { return fds_[0] >= 0; }

  // Signals that arrived, waiting up to `timeout_ms` for the first.
  std::vector<int> Wait(int timeout_ms) {
    pollfd p{fds_[0], POLLIN, 0};
    std::vector<int> signals;
    if (poll(&p, 1, timeout_ms) <= 0) return signals;
    unsigned char buffer[64];
    ssize_t n;
    while ((n = read(fds_[0], buffer, sizeof(buffer))) > 0) {
      signals.insert(signals.end(), buffer, buffer + n);
    }
    return signals;
  }

 private:
  int fds_[2] = {-1, -1};
};

// Forks and execs `command`. The child's pid, or the reason exec failed
// (the child has been reaped then).
absl::StatusOr<pid_t> StartChild(const std::vector<std::string>& command) {
  std::vector<char*> argv;
  for (const std::string& arg : command) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  // exec's failure travels back on a close-on-exec pipe: EOF means the
  // exec succeeded.
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(status_pipe[0]);
    close(status_pipe[1]);
    return absl::InternalError(absl::StrCat("fork: ", strerror(e)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    for (int s : kPassedSignals) signal(s, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    close(status_pipe[0]);
    execvp(argv[0], argv.data());
    int e = errno;
    ssize_t written = write(status_pipe[1], &e, sizeof(e));
    (void)written;
    _exit(kCannotStart);
  }
  close(status_pipe[1]);
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(status_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(status_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    int ignored;
    while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
    return absl::FailedPreconditionError(strerror(exec_errno));
  }
  return pid;
}

// A shell's view of a wait status: the exit code, or 128 + the signal.
int ShellStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kCannotStart;
}

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("was killed by signal ", WTERMSIG(wait_status), " (",
                        strsignal(WTERMSIG(wait_status)), ")");
  }
  return absl::StrCat("exited with status ", ShellStatus(wait_status));
}

// The client library's error for invalid options names the field of
// RegistrationOptions ("service: must be ..."); say the flag instead.
std::string InFlagTerms(const std::string& message) {
  static constexpr std::pair<const char*, const char*> kFlags[] = {
      {"service", "--service"},
      {"id", "--id"},
      {"address", "--address"},
      {"port", "--port"},
      {"tags", "--tag"},
      {"metadata", "--meta"},
      {"weight", "--weight"},
      {"zone", "--zone"},
      {"version", "--instance-version"},
      {"ttl", "--ttl"},
      {"http_url", "--check-http"},
      {"grpc_service", "--check-grpc"},
      {"drain_grace", "--drain-grace"},
  };
  for (const auto& [field, flag] : kFlags) {
    const std::string prefix = field;
    if (message.compare(0, prefix.size(), prefix) == 0 &&
        message.size() > prefix.size() &&
        (message[prefix.size()] == ':' || message[prefix.size()] == '[')) {
      return flag + message.substr(prefix.size());
    }
  }
  return message;
}

bool IsStopSignal(int s) {
  for (int stop : kStopSignals) {
    if (s == stop) return true;
  }
  return false;
}

// Prints the registration's state when it changes.
class StateReporter final {
 public:
  StateReporter(std::string service, std::ostream& err)
      : service_(std::move(service)), err_(err) {}

  void Report(const client::RegistrationStatus& s) {
    if (s.state == last_state_ && s.incarnation == last_incarnation_) return;
    last_state_ = s.state;
    last_incarnation_ = s.incarnation;
    const std::string name = absl::StrCat(service_, "/", s.id);
    switch (s.state) {
      case client::RegistrationState::kRegistered:
        err_ << "musterctl: run: registered " << name << " (incarnation "
             << s.incarnation << ")" << std::endl;
        break;
      case client::RegistrationState::kRetrying:
        err_ << "musterctl: run: musterd unreachable, retrying: "
             << s.last_error << std::endl;
        break;
      case client::RegistrationState::kRegistering:
        if (s.registrations > 0) {
          err_ << "musterctl: run: registering " << name
               << " again: " << s.last_error << std::endl;
        }
        break;
      case client::RegistrationState::kFailed:
        err_ << "musterctl: run: musterd refused " << name << ": "
             << s.last_error << "; the command keeps running, unregistered"
             << std::endl;
        break;
      case client::RegistrationState::kDraining:
      case client::RegistrationState::kStopped:
        break;
    }
  }

 private:
  const std::string service_;
  std::ostream& err_;
  client::RegistrationState last_state_ =
      client::RegistrationState::kRegistering;
  uint64_t last_incarnation_ = 0;
};

}  // namespace

absl::Status RunSidecar(const SidecarArgs& args,
                        const client::ClientOptions& client_options,
                        std::ostream& err) {
  absl::StatusOr<client::RegistrationOptions> options =
      BuildRegistrationOptions(args);
  if (!options.ok()) return options.status();
  grpc::Status client_status;
  std::shared_ptr<client::Client> client =
      client::Client::Create(client_options, &client_status);
  if (client == nullptr) {
    return UsageError(absl::StrCat("run: ", client_status.error_message()));
  }

  // Refuse what Registration::Start would, before the command starts.
  const grpc::Status checked = client::CheckRegistrationOptions(*options);
  if (!checked.ok()) return UsageError(InFlagTerms(checked.error_message()));

  SignalPipe signals;
  if (!signals.ok()) {
    return absl::InternalError(absl::StrCat("run: pipe: ", strerror(errno)));
  }
  absl::StatusOr<pid_t> child = StartChild(args.command);
  if (!child.ok()) {
    return ExitCodeError(
        kCannotStart,
        absl::StrCat("run: cannot start \"", args.command.front(),
                     "\": ", child.status().message(), "; nothing registered"));
  }

  grpc::Status start_status;
  std::unique_ptr<client::Registration> registration =
      client::Registration::Start(client, *options, &start_status);
  if (registration == nullptr) {
    // Invalid options: the command must not outlive musterctl unwatched.
    kill(*child, SIGTERM);
    int ignored;
    while (waitpid(*child, &ignored, 0) < 0 && errno == EINTR) {
    }
    return UsageError(InFlagTerms(start_status.error_message()));
  }

  StateReporter reporter(options->service, err);
  std::thread shutdown;  // started by SIGINT/SIGTERM
  grpc::Status shutdown_status;
  int wait_status = 0;
  for (;;) {
    pid_t done = waitpid(*child, &wait_status, WNOHANG);
    if (done == *child) break;
    for (int s : signals.Wait(kPollMillis)) {
      if (s == SIGCHLD) continue;
      kill(*child, s);
      if (IsStopSignal(s) && !shutdown.joinable()) {
        err << "musterctl: run: " << strsignal(s)
            << ": passed on to the command; draining the instance" << std::endl;
        shutdown = std::thread([&registration, &shutdown_status] {
          shutdown_status = registration->Shutdown();
        });
      }
    }
    reporter.Report(registration->status());
  }
  err << "musterctl: run: \"" << args.command.front() << "\" "
      << DescribeExit(wait_status) << std::endl;
  if (shutdown.joinable()) {
    shutdown.join();
  } else {
    err << "musterctl: run: draining the instance" << std::endl;
    shutdown_status = registration->Shutdown();
  }
  const client::RegistrationStatus last = registration->status();
  if (shutdown_status.ok()) {
    err << "musterctl: run: deregistered " << options->service << "/" << last.id
        << std::endl;
  } else {
    err << "musterctl: run: deregistering " << options->service << "/"
        << last.id << " failed: " << shutdown_status.error_message()
        << std::endl;
  }
  int code = ShellStatus(wait_status);
  if (code == 0) return absl::OkStatus();
  return ExitCodeError(code, "");
}

}  // namespace muster::cli
