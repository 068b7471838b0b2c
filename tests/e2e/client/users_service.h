#pragma once

// What the resolver and ServiceChannel tests share: a Client of a real
// musterd, and the instances of service "users" in realm "default" they
// add, drain and remove through it (check NONE: always passing).

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "muster/client/client.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"

// The library's internal connection, to call musterd directly.
#include "client/src/daemon_connection.h"

namespace muster::client::users {

inline std::shared_ptr<Client> Connect(const testing::DaemonProcess& daemon) {
  ClientOptions options;
  options.addresses = {daemon.address()};
  options.realm = "default";
  grpc::Status status;
  std::shared_ptr<Client> client = Client::Create(options, &status);
  INFO(status.error_message());
  REQUIRE(client != nullptr);
  return client;
}

// Registers users/<id> at 127.0.0.1:<port>.
inline void Register(Client& client, const std::string& id, uint32_t port,
                     const std::string& zone = "",
                     const std::string& version = "") {
  v1::RegisterRequest request;
  request.set_realm("default");
  v1::Instance& instance = *request.mutable_instance();
  instance.set_service("users");
  instance.set_id(id);
  instance.set_address("127.0.0.1");
  instance.set_port(port);
  instance.set_zone(zone);
  instance.set_version(version);
  instance.mutable_check()->set_kind(v1::CHECK_KIND_NONE);
  v1::RegisterResponse response;
  const grpc::Status status = client.connection().Call(
      &v1::Registry::Stub::Register, request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

inline void Deregister(Client& client, const std::string& id) {
  v1::DeregisterRequest request;
  request.set_realm("default");
  request.set_service("users");
  request.set_id(id);
  v1::DeregisterResponse response;
  REQUIRE(client.connection()
              .Call(&v1::Registry::Stub::Deregister, request, &response)
              .ok());
}

inline void Drain(Client& client, const std::string& id) {
  v1::SetAdminStateRequest request;
  request.set_realm("default");
  request.set_service("users");
  request.set_id(id);
  request.set_admin_state(v1::ADMIN_STATE_DRAINING);
  request.set_reason("test");
  v1::Instance response;
  REQUIRE(client.connection()
              .Call(&v1::Registry::Stub::SetAdminState, request, &response)
              .ok());
}

}  // namespace muster::client::users
