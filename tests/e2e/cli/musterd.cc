#include "tests/e2e/cli/musterd.h"

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "muster/v1/registry.grpc.pb.h"

namespace muster::e2e {
namespace {

constexpr absl::Duration kReadyDeadline = absl::Seconds(15);
constexpr absl::Duration kStopDeadline = absl::Seconds(10);
constexpr int kStartAttempts = 5;

gpr_timespec Relative(absl::Duration d) {
  return gpr_time_from_millis(absl::ToInt64Milliseconds(d), GPR_TIMESPAN);
}

}  // namespace

Musterd::Musterd(std::string data_dir, std::vector<std::string> extra_flags)
    : data_dir_(std::move(data_dir)),
      log_path_(data_dir_ + ".log"),
      extra_flags_(std::move(extra_flags)) {}

Musterd::~Musterd() {
  if (child_ != nullptr) Stop().IgnoreError();  // best effort at teardown
}

absl::StatusOr<std::unique_ptr<Musterd>> Musterd::Start(
    const std::string& data_dir, std::vector<std::string> extra_flags) {
  std::unique_ptr<Musterd> daemon(
      new Musterd(data_dir, std::move(extra_flags)));
  absl::Status last;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    daemon->port_ = PickFreePort();
    daemon->http_port_ = PickFreePort();
    if (daemon->port_ == 0 || daemon->http_port_ == 0 ||
        daemon->port_ == daemon->http_port_) {
      continue;
    }
    last = daemon->Launch();
    if (last.ok()) return daemon;
  }
  return last;
}

std::string Musterd::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::Status Musterd::Launch() {
  SpawnOptions options;
  options.argv = {MUSTERD_PATH,
                  "--listen",
                  address(),
                  "--http-listen",
                  absl::StrCat("127.0.0.1:", http_port_),
                  "--data-dir",
                  data_dir_};
  options.argv.insert(options.argv.end(), extra_flags_.begin(),
                      extra_flags_.end());
  options.out = Sink::File(log_path_);
  options.err = Sink::File(log_path_);
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(options);
  if (!child.ok()) return child.status();
  child_ = *std::move(child);

  // Ready when Ping answers. The channel retries quickly, so this waits
  // on gRPC's connectivity events rather than sleeping.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      address(), grpc::InsecureChannelCredentials(), args);
  std::unique_ptr<v1::Registry::Stub> stub = v1::Registry::NewStub(channel);
  absl::Time deadline = absl::Now() + kReadyDeadline;
  while (absl::Now() < deadline) {
    if (child_->Exited()) {
      child_.reset();
      return absl::UnavailableError(
          absl::StrCat("musterd exited during start-up:\n", Log()));
    }
    if (!channel->WaitForConnected(Relative(absl::Milliseconds(200)))) {
      continue;
    }
    grpc::ClientContext context;
    context.set_deadline(Relative(absl::Seconds(1)));
    v1::PingResponse response;
    if (stub->Ping(&context, v1::PingRequest(), &response).ok()) {
      return absl::OkStatus();
    }
  }
  child_.reset();
  return absl::DeadlineExceededError(
      absl::StrCat("musterd not ready within ",
                   absl::FormatDuration(kReadyDeadline), ":\n", Log()));
}

absl::Status Musterd::Stop() {
  if (child_ == nullptr) return absl::OkStatus();
  child_->Signal(SIGTERM);
  std::optional<int> code = child_->Wait(kStopDeadline);
  if (!code.has_value()) {
    child_->Signal(SIGKILL);
    child_->Wait(kStopDeadline);
    child_.reset();
    return absl::DeadlineExceededError("musterd ignored SIGTERM");
  }
  child_.reset();
  if (*code != 0) {
    return absl::InternalError(
        absl::StrCat("musterd exited with ", *code, ":\n", Log()));
  }
  return absl::OkStatus();
}

absl::Status Musterd::Restart() {
  absl::Status stopped = Stop();
  if (!stopped.ok()) return stopped;
  return Launch();
}

std::string Musterd::Log() const { return ReadFile(log_path_); }

}  // namespace muster::e2e
