#pragma once

// The connection to musterd behind a Client: one channel per daemon
// address, the current one, and failover between them. Internal to the
// library (not installed).

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "client/src/heartbeat_stream.h"
#include "muster/client/options.h"
#include "muster/v1/registry.grpc.pb.h"

namespace muster::client::internal {

// True for the codes that say "this daemon could not be reached" rather
// than "the daemon answered": UNAVAILABLE, and DEADLINE_EXCEEDED (a hung
// daemon). Only these move a call to the next address.
bool IsConnectionFailure(const grpc::Status& status);

class DaemonConnection {
 public:
  // Reads the TLS files of `options` (already through ApplyEnvironment)
  // and makes one channel per address. INVALID_ARGUMENT naming the field
  // for an unreadable file.
  static grpc::Status Create(const ClientOptions& options,
                             std::unique_ptr<DaemonConnection>* out);

  const ClientOptions& options() const { return options_; }
  const std::string& realm() const { return options_.realm; }
  size_t address_count() const { return stubs_.size(); }
  // The index of the daemon calls go to now.
  size_t current() const { return current_.load(); }
  std::string current_address() const { return options_.addresses[current()]; }
  const std::string& address(size_t index) const {
    return options_.addresses[index];
  }
  v1::Registry::Stub& registry(size_t index) { return *stubs_[index]; }
  std::shared_ptr<grpc::Channel> channel(size_t index) {
    return channels_[index];
  }

  // Adds the token (authorization: Bearer) and, unless zero, the
  // deadline now + `timeout` to a fresh context.
  void Prepare(grpc::ClientContext& context,
               std::chrono::milliseconds timeout) const;
  // After a connection failure on daemon `failed`: moves the current
  // daemon to the next address, unless another caller already moved it.
  void Failover(size_t failed);

  // A unary Registry call with the call timeout. On a connection failure
  // it is tried on each other address once, in order; the last status
  // otherwise.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::Registry::Stub::*rpc)(
                        grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::Status status;
    for (size_t tried = 0; tried < address_count(); ++tried) {
      const size_t index = current();
      grpc::ClientContext context;
      Prepare(context, options_.call_timeout);
      status = (registry(index).*rpc)(&context, request, response);
      if (!IsConnectionFailure(status)) return status;
      Failover(index);
    }
    return status;
  }

  // A Heartbeat as Call would make it, but on the connection's one
  // HeartbeatStream (unary for a daemon without it), with the same
  // failover. What a unary Heartbeat would answer.
  grpc::Status Heartbeat(const v1::HeartbeatRequest& request,
                         v1::HeartbeatResponse* response);
  HeartbeatStream& heartbeat_stream() { return *heartbeat_stream_; }

 private:
  DaemonConnection(ClientOptions options,
                   std::vector<std::shared_ptr<grpc::Channel>> channels);

  const ClientOptions options_;
  const std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::Registry::Stub>> stubs_;
  std::atomic<size_t> current_{0};
  // Last: closed before the stubs go.
  std::unique_ptr<HeartbeatStream> heartbeat_stream_;
};

}  // namespace muster::client::internal
