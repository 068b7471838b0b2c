#pragma once

// The connection to musterd: one gRPC channel, the stubs, per-call
// deadlines, and the mapping of gRPC failures to musterctl's error classes.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "muster/v1/tokens.grpc.pb.h"

namespace muster::cli {

struct ConnectionOptions {
  // host:port or unix:path, already validated (ValidateAddress).
  std::string address = "127.0.0.1:7400";
  // Deadline of every unary call; for `watch`, of connecting.
  absl::Duration timeout = absl::Seconds(5);
  // Sent with every call as `authorization: Bearer`; empty: none.
  std::string token{};
  // How to dial (TLS, cli/tls_options.h); none: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials{};
};

// The first of `addresses` that musterd answers on (a connection is made
// to each in turn, waiting at most `timeout` for each); the first address
// when none answers, so that the error names it. One address is returned
// as it is, without dialing.
std::string FirstReachable(
    const std::vector<std::string>& addresses,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    absl::Duration timeout);

// Owns the channel and stubs. Creating one does no I/O (the channel
// connects on first use). Calls may be made from one thread at a time.
class Client final {
 public:
  explicit Client(const ConnectionOptions& options);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& address() const { return options_.address; }
  absl::Duration timeout() const { return options_.timeout; }

  v1::Registry::StubInterface& registry() { return *registry_; }
  v1::Realms::StubInterface& realms() { return *realms_; }
  v1::Tokens::StubInterface& tokens() { return *tokens_; }
  grpc::health::v1::Health::StubInterface& health() { return *health_; }

  // Sets the per-call deadline (now + timeout) on `context`.
  void SetDeadline(grpc::ClientContext& context) const;

  // OK stays OK. UNAVAILABLE or DEADLINE_EXCEEDED while the channel is not
  // connected is an UnreachableError naming the address; any other status
  // is the daemon's answer, converted code for code.
  absl::Status ToStatus(const grpc::Status& status);

  // A unary call with the per-call deadline:
  //   client.Call(client.registry(), &v1::Registry::StubInterface::Ping, req)
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub& stub,
                                grpc::Status (Stub::*rpc)(grpc::ClientContext*,
                                                          const Request&,
                                                          Response*),
                                const Request& request) {
    grpc::ClientContext context;
    SetDeadline(context);
    Response response;
    grpc::Status status = (stub.*rpc)(&context, request, &response);
    if (!status.ok()) return ToStatus(status);
    return response;
  }

 private:
  const ConnectionOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Registry::StubInterface> registry_;
  const std::unique_ptr<v1::Realms::StubInterface> realms_;
  const std::unique_ptr<v1::Tokens::StubInterface> tokens_;
  const std::unique_ptr<grpc::health::v1::Health::StubInterface> health_;
};

}  // namespace muster::cli
