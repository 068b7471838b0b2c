#pragma once

// A gRPC channel to a service's instances: target "ipv4:a:p,b:p" (or
// "ipv6:...") with the round_robin policy, replaced with a new channel
// when the routable set changes and kept as long as it does not.
//
//   muster::client::ServiceChannel users(resolver, "users");
//   auto stub = Users::NewStub(users.channel());   // per call or per batch
//
// Hostname addresses are resolved (getaddrinfo) when the set changes;
// when a set mixes IPv4 and IPv6, the family of the first instance wins
// and the others are left out.

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <cstdint>
#include <memory>
#include <string>

#include "muster/client/resolver.h"

namespace muster::client {

class ServiceChannel {
 public:
  // Subscribes to `service` on `resolver`. `credentials` null: insecure.
  // Waits, as Resolver::View does, for the service's first snapshot, so
  // that channel() already reaches its instances when Create returns.
  // nullptr when `resolver` is null.
  static std::unique_ptr<ServiceChannel> Create(
      std::shared_ptr<Resolver> resolver, std::string service,
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr,
      grpc::ChannelArguments arguments = {});
  virtual ~ServiceChannel() = default;

  // The current channel. Before any routable instance is known it is a
  // channel that fails calls with UNAVAILABLE.
  virtual std::shared_ptr<grpc::Channel> channel() = 0;
  // The current target ("ipv4:10.0.0.1:80,10.0.0.2:80"; "" before any).
  virtual std::string target() const = 0;
  // How many channels were made so far (1 for the first).
  virtual uint64_t generation() const = 0;
};

}  // namespace muster::client
