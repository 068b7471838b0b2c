#include "client/src/daemon_connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <fstream>
#include <sstream>
#include <utility>

namespace muster::client::internal {
namespace {

// Reads a whole PEM file; INVALID_ARGUMENT naming `field` when it cannot.
grpc::Status ReadPem(const std::string& path, const char* field,
                     std::string* out) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  if (!file) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(field) + ": cannot read " + path);
  }
  *out = content.str();
  if (out->empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(field) + ": " + path + " is empty");
  }
  return grpc::Status::OK;
}

}  // namespace

bool IsConnectionFailure(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

grpc::Status DaemonConnection::Create(const ClientOptions& options,
                                      std::unique_ptr<DaemonConnection>* out) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (options.tls.enabled) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls.ca_file.empty()) {
      grpc::Status status =
          ReadPem(options.tls.ca_file, "tls.ca_file", &ssl.pem_root_certs);
      if (!status.ok()) return status;
    }
    if (!options.tls.cert_file.empty()) {
      grpc::Status status =
          ReadPem(options.tls.cert_file, "tls.cert_file", &ssl.pem_cert_chain);
      if (!status.ok()) return status;
      status =
          ReadPem(options.tls.key_file, "tls.key_file", &ssl.pem_private_key);
      if (!status.ok()) return status;
    }
    credentials = grpc::SslCredentials(ssl);
  }

  // Reconnect quickly after a daemon restart (gRPC's default backoff grows
  // to two minutes), and keep idle connections checked within musterd's
  // ping policy (at most one ping per 10 s).
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& address : options.addresses) {
    channels.push_back(
        grpc::CreateCustomChannel(address, credentials, arguments));
  }
  out->reset(new DaemonConnection(options, std::move(channels)));
  return grpc::Status::OK;
}

DaemonConnection::DaemonConnection(
    ClientOptions options, std::vector<std::shared_ptr<grpc::Channel>> channels)
    : options_(std::move(options)), channels_(std::move(channels)) {
  for (const auto& channel : channels_) {
    stubs_.push_back(v1::Registry::NewStub(channel));
  }
  heartbeat_stream_ = std::make_unique<HeartbeatStream>(*this);
}

grpc::Status DaemonConnection::Heartbeat(const v1::HeartbeatRequest& request,
                                         v1::HeartbeatResponse* response) {
  grpc::Status status;
  for (size_t tried = 0; tried < address_count(); ++tried) {
    const size_t index = current();
    status = heartbeat_stream_->Heartbeat(index, request, response);
    if (!IsConnectionFailure(status)) return status;
    Failover(index);
  }
  return status;
}

void DaemonConnection::Prepare(grpc::ClientContext& context,
                               std::chrono::milliseconds timeout) const {
  if (!options_.token.empty()) {
    context.AddMetadata("authorization", "Bearer " + options_.token);
  }
  if (timeout.count() > 0) {
    context.set_deadline(std::chrono::system_clock::now() + timeout);
  }
}

void DaemonConnection::Failover(size_t failed) {
  size_t expected = failed;
  current_.compare_exchange_strong(expected, (failed + 1) % channels_.size());
}

}  // namespace muster::client::internal
