#include "healthchecker/grpc_prober.h"

#include <grpc/support/time.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "healthchecker/grpc_probe_credentials.h"

namespace muster::healthchecker {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr size_t kResolverThreads = 2;

// Channels differ by their TLS settings too: a verified and an
// unverified check of one target must never share a connection.
std::string ChannelKey(const std::string& target, const std::string& authority,
                       const CheckSpec& check) {
  return absl::StrCat(target, "|", authority, "|", check.grpc_tls ? 1 : 0,
                      check.tls_skip_verify ? 1 : 0, "|",
                      check.tls_server_name);
}

// gRPC reports a failed handshake as UNAVAILABLE with the TLS reason deep
// in its message ("...: Ssl handshake failed: SSL_ERROR_SSL: error:...:
// certificate verify failed", "...: Peer name 127.0.0.1 is not in peer
// certificate"); the output leads with the reason.
std::optional<std::string> TlsReason(const std::string& message) {
  const absl::string_view text = message;
  if (size_t name = text.find("Peer name "); name != absl::string_view::npos) {
    return std::string(text.substr(name));
  }
  constexpr absl::string_view kHandshake = "handshake failed: ";
  const size_t at = text.find(kHandshake);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view reason = text.substr(at + kHandshake.size());
  // "SSL_ERROR_SSL: error:0A000086:SSL routines::certificate verify
  // failed": the last part is the one a person can read.
  const size_t last_colon = reason.rfind("::");
  if (last_colon != absl::string_view::npos) {
    reason = reason.substr(last_colon + 2);
  }
  return std::string(reason);
}

ProbeOutcome OutcomeOf(const grpc::Status& status,
                       const HealthCheckResponse& response,
                       absl::Duration timeout, bool tls) {
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return {ProbeResult::kFailure, TimeoutOutput(timeout)};
  }
  if (!status.ok() && tls) {
    if (std::optional<std::string> reason = TlsReason(status.error_message())) {
      return {ProbeResult::kFailure, TlsOutput(*reason)};
    }
  }
  if (!status.ok()) {
    const auto code = static_cast<absl::StatusCode>(status.error_code());
    std::string output = absl::StrCat("grpc ", absl::StatusCodeToString(code));
    if (!status.error_message().empty())
      absl::StrAppend(&output, ": ", status.error_message());
    return {ProbeResult::kFailure, SanitizeOutput(output)};
  }
  const std::string name = absl::StrCat(
      "grpc ", HealthCheckResponse::ServingStatus_Name(response.status()));
  if (response.status() == HealthCheckResponse::SERVING)
    return {ProbeResult::kSuccess, name};
  return {ProbeResult::kFailure, name};
}

}  // namespace

struct GrpcProber::Call {
  grpc::ClientContext context;
  HealthCheckRequest request;
  HealthCheckResponse response;
  std::unique_ptr<Health::Stub> stub;
  ProbeCallback done;
  absl::Duration timeout;
  std::string target;
  std::string authority;
  CheckSpec check;
};

struct GrpcProber::Shared {
  absl::Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  // Calls in flight, for cancelling them at Stop().
  absl::flat_hash_map<uint64_t, std::shared_ptr<Call>> calls
      ABSL_GUARDED_BY(mu);
  // Finished calls and channels dropped from the cache. They are released
  // by Probe() and Stop(), never on a gRPC callback thread: gRPC 1.51
  // breaks when a callback drops the last reference to a grpc::Channel
  // (grpc/grpc#32584).
  std::vector<std::shared_ptr<Call>> finished ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<grpc::Channel>> retired ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<GrpcProber>> GrpcProber::Create(
    NetworkPolicy policy, const Options& options) {
  if (options.max_channels == 0) {
    return absl::InvalidArgumentError(
        "grpc prober: max_channels must be at least 1");
  }
  std::string ca_pem;
  if (!options.trust.ca_file.empty()) {
    absl::StatusOr<std::string> read = ReadCaFile(options.trust.ca_file);
    if (!read.ok()) return read.status();
    ca_pem = *std::move(read);
  }
  return std::unique_ptr<GrpcProber>(
      new GrpcProber(std::move(policy), options, std::move(ca_pem)));
}

GrpcProber::GrpcProber(NetworkPolicy policy, const Options& options,
                       std::string ca_pem)
    : policy_(std::move(policy)),
      options_(options),
      ca_pem_(std::move(ca_pem)),
      resolver_(kResolverThreads),
      shared_(std::make_shared<Shared>()) {}

GrpcProber::~GrpcProber() { Stop(); }

absl::Status GrpcProber::Start() {
  resolver_.Start();
  return absl::OkStatus();
}

void GrpcProber::Stop() {
  // No new calls: the resolver is what starts them.
  resolver_.Stop();
  std::vector<std::shared_ptr<Call>> calls;
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->stopping = true;
    for (const auto& [id, call] : shared_->calls) calls.push_back(call);
  }
  // Outside the lock: a cancelled call's callback may run inline.
  for (const auto& call : calls) call->context.TryCancel();
  {
    absl::MutexLock lock(&shared_->mu);
    Shared* shared = shared_.get();
    auto drained = [shared]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared->mu) {
      return shared->calls.empty();
    };
    shared_->mu.Await(absl::Condition(&drained));
  }
  calls.clear();
  ReleaseGarbage();
}

void GrpcProber::ReleaseGarbage() {
  std::vector<std::shared_ptr<Call>> finished;
  std::vector<std::shared_ptr<grpc::Channel>> retired;
  {
    absl::MutexLock lock(&shared_->mu);
    finished.swap(shared_->finished);
    retired.swap(shared_->retired);
  }
  // Calls first: they hold their channel through the stub.
  finished.clear();
  retired.clear();
}

void GrpcProber::Probe(const ProbeRequest& request, ProbeCallback done) {
  ReleaseGarbage();
  resolver_.Resolve(
      request.address,
      [this, request, done = std::move(done)](
          absl::StatusOr<std::vector<IpAddress>> addresses) mutable {
        OnResolved(std::move(request), std::move(done), std::move(addresses));
      });
}

std::shared_ptr<grpc::Channel> GrpcProber::ChannelFor(
    const std::string& target, const std::string& authority,
    const CheckSpec& check) {
  const std::string key = ChannelKey(target, authority, check);
  absl::MutexLock lock(&channels_mu_);
  auto it = channels_.find(key);
  if (it != channels_.end()) return it->second;
  if (channels_.size() >= options_.max_channels) {
    Retire(std::move(channels_.begin()->second));
    channels_.erase(channels_.begin());
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // A private subchannel, so that dropping the channel really forgets a
  // connection in backoff.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, authority);
  if (check.grpc_tls && !check.tls_server_name.empty()) {
    // The name verified in the certificate and sent as SNI.
    args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, check.tls_server_name);
  }
  auto channel = grpc::CreateCustomChannel(
      target, GrpcProbeCredentials(check, ca_pem_), args);
  channels_.emplace(key, channel);
  return channel;
}

void GrpcProber::DropChannel(const std::string& target,
                             const std::string& authority,
                             const CheckSpec& check) {
  absl::MutexLock lock(&channels_mu_);
  auto it = channels_.find(ChannelKey(target, authority, check));
  if (it == channels_.end()) return;
  Retire(std::move(it->second));
  channels_.erase(it);
}

void GrpcProber::Retire(std::shared_ptr<grpc::Channel> channel) {
  absl::MutexLock lock(&shared_->mu);
  shared_->retired.push_back(std::move(channel));
}

void GrpcProber::OnResolved(ProbeRequest request, ProbeCallback done,
                            absl::StatusOr<std::vector<IpAddress>> addresses) {
  if (!addresses.ok()) {
    done(ProbeOutcome{ProbeResult::kFailure,
                      SanitizeOutput(addresses.status().message())});
    return;
  }
  const IpAddress* chosen = nullptr;
  std::string refusal;
  for (const IpAddress& address : *addresses) {
    if (absl::Status allowed = policy_.CheckAddress(address); !allowed.ok()) {
      refusal = std::string(allowed.message());
      continue;
    }
    chosen = &address;
    break;
  }
  if (chosen == nullptr) {
    done(ProbeOutcome{ProbeResult::kFailure, SanitizeOutput(refusal)});
    return;
  }
  auto call = std::make_shared<Call>();
  const bool v6 = chosen->family() == IpAddress::Family::kV6;
  call->target =
      v6 ? absl::StrCat("ipv6:[", chosen->ToString(), "]:", request.port)
         : absl::StrCat("ipv4:", chosen->ToString(), ":", request.port);
  const bool bare_v6 = request.address.find(':') != std::string::npos &&
                       request.address.front() != '[';
  call->authority = bare_v6
                        ? absl::StrCat("[", request.address, "]:", request.port)
                        : absl::StrCat(request.address, ":", request.port);
  call->check = request.check;
  call->stub =
      Health::NewStub(ChannelFor(call->target, call->authority, call->check));
  call->request.set_service(request.check.grpc_service);
  call->timeout = request.check.timeout;
  call->done = std::move(done);
  // A relative (GPR_TIMESPAN) deadline: gRPC adds it to its own clock, so
  // no time is read here.
  call->context.set_deadline(gpr_time_from_millis(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(request.check.timeout)),
      GPR_TIMESPAN));
  uint64_t id;
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->stopping) return;
    id = shared_->next_id++;
    shared_->calls.emplace(id, call);
  }
  // The callback holds no reference to the call: see Shared::finished.
  Call* raw = call.get();
  std::shared_ptr<Shared> shared = shared_;
  raw->stub->async()->Check(
      &raw->context, &raw->request, &raw->response,
      [this, shared, raw, id](grpc::Status status) {
        bool stopping;
        {
          absl::MutexLock lock(&shared->mu);
          stopping = shared->stopping;
        }
        if (!stopping) {
          if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
            DropChannel(raw->target, raw->authority, raw->check);
          }
          raw->done(OutcomeOf(status, raw->response, raw->timeout,
                              raw->check.grpc_tls));
        }
        // Last: once the call is gone, Stop() may return and `this` die.
        absl::MutexLock lock(&shared->mu);
        auto it = shared->calls.find(id);
        shared->finished.push_back(std::move(it->second));
        shared->calls.erase(it);
      });
}

}  // namespace muster::healthchecker
