#include "daemon/readiness.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "muster/v1/registry.grpc.pb.h"

namespace muster::registry {

GrpcReadiness::GrpcReadiness(Options options, Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

absl::Status GrpcReadiness::Check() {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](bool* checking) { return !*checking; }, &checking_));
    if (clock_.Now() - checked_at_ < options_.cache_for) return last_;
    checking_ = true;
  }
  // Outside the lock: the Ping takes up to `timeout`.
  absl::Status result = PingOnce();
  absl::MutexLock lock(&mu_);
  checking_ = false;
  checked_at_ = clock_.Now();
  last_ = result;
  return result;
}

absl::Status GrpcReadiness::PingOnce() const {
  grpc::ChannelArguments args;
  // A connection of its own, not one shared with other channels: the
  // check is whether a new client gets in.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      options_.target,
      options_.credentials != nullptr ? options_.credentials
                                      : grpc::InsecureChannelCredentials(),
      args);
  std::unique_ptr<muster::v1::Registry::Stub> stub =
      muster::v1::Registry::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(clock_.Now() + options_.timeout));
  muster::v1::PingResponse response;
  grpc::Status status = stub->Ping(&context, {}, &response);
  if (status.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "grpc ", options_.target, ": no Ping answer within ",
      absl::FormatDuration(options_.timeout), ": ", status.error_message()));
}

}  // namespace muster::registry
