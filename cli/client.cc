#include "cli/client.h"

#include "absl/strings/str_cat.h"
#include "cli/bearer_token.h"
#include "cli/errors.h"
#include "grpc/support/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace muster::cli {
namespace {

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options) {
  const std::string& address = options.address;
  const std::string& token = options.token;
  grpc::ChannelArguments args;
  // gRPC's default reconnect backoff grows to two minutes; `watch` must
  // notice a restarted daemon within seconds.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // A watch stream is long-lived: probe a silent connection so that a
  // vanished daemon is noticed.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address,
      options.credentials != nullptr ? options.credentials
                                     : grpc::InsecureChannelCredentials(),
      args, BearerTokenInterceptors(token));
}

// A relative deadline: gRPC adds a GPR_TIMESPAN to its own clock, so
// musterctl never reads the time for it.
gpr_timespec Relative(absl::Duration d) {
  return gpr_time_from_millis(absl::ToInt64Milliseconds(d), GPR_TIMESPAN);
}

}  // namespace

std::string FirstReachable(
    const std::vector<std::string>& addresses,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    absl::Duration timeout) {
  if (addresses.size() <= 1) return addresses.empty() ? "" : addresses[0];
  for (const std::string& address : addresses) {
    std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
        address, credentials != nullptr ? credentials
                                        : grpc::InsecureChannelCredentials());
    const gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), Relative(timeout));
    // A refused connection shows as TRANSIENT_FAILURE at once; a silent
    // host takes the whole timeout.
    grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
    while (state != GRPC_CHANNEL_READY &&
           state != GRPC_CHANNEL_TRANSIENT_FAILURE &&
           state != GRPC_CHANNEL_SHUTDOWN &&
           channel->WaitForStateChange(state, deadline)) {
      state = channel->GetState(/*try_to_connect=*/true);
    }
    if (state == GRPC_CHANNEL_READY) return address;
  }
  return addresses[0];
}

Client::Client(const ConnectionOptions& options)
    : options_(options),
      channel_(MakeChannel(options)),
      registry_(v1::Registry::NewStub(channel_)),
      realms_(v1::Realms::NewStub(channel_)),
      tokens_(v1::Tokens::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

void Client::SetDeadline(grpc::ClientContext& context) const {
  context.set_deadline(Relative(options_.timeout));
}

absl::Status Client::ToStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(status.error_code());
  if ((code == absl::StatusCode::kUnavailable ||
       code == absl::StatusCode::kDeadlineExceeded) &&
      channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
    return UnreachableError(options_.address,
                            absl::StrCat(absl::StatusCodeToString(code), ": ",
                                         status.error_message()));
  }
  return absl::Status(code, status.error_message());
}

}  // namespace muster::cli
