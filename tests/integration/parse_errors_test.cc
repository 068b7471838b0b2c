// A request body that does not parse as the method's request message is
// INVALID_ARGUMENT naming the message type, not gRPC's UNIMPLEMENTED.
// (The raw Watch method's own answer is checked in bad_input_test.cc.)

#include <catch2/catch.hpp>
#include <string>

#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

// Not a protobuf message: a varint that never ends.
constexpr char kGarbage[] = "\xff\xff\xff";

}  // namespace

TEST_CASE("an unparseable body is INVALID_ARGUMENT naming the request type",
          "[integration][bad_input][parse]") {
  TestServer server;
  struct Case {
    const char* method;
    const char* type;
  };
  const Case cases[] = {
      {"/muster.v1.Registry/Register", "muster.v1.RegisterRequest"},
      {"/muster.v1.Registry/Heartbeat", "muster.v1.HeartbeatRequest"},
      {"/muster.v1.Registry/ListInstances", "muster.v1.ListInstancesRequest"},
      {"/muster.v1.Realms/CreateRealm", "muster.v1.CreateRealmRequest"},
      {"/muster.v1.Realms/DeleteRealm", "muster.v1.DeleteRealmRequest"},
  };
  for (const Case& c : cases) {
    INFO(c.method);
    const grpc::Status status = CallRaw(server, c.method, kGarbage);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message() ==
          std::string("the request body is not a valid ") + c.type +
              " message");
  }
}

TEST_CASE("well-formed raw requests work, unknown methods stay UNIMPLEMENTED",
          "[integration][bad_input][parse]") {
  TestServer server;
  muster::v1::RegisterRequest request;
  *request.mutable_instance() = MakeInstance("web", "a");
  CHECK(CallRaw(server, "/muster.v1.Registry/Register",
                request.SerializeAsString())
            .ok());
  muster::v1::CreateRealmRequest create;
  create.set_name("prod");
  CHECK(CallRaw(server, "/muster.v1.Realms/CreateRealm",
                create.SerializeAsString())
            .ok());
  // An empty body is a valid (empty) message.
  CHECK(CallRaw(server, "/muster.v1.Registry/Ping", "").ok());

  for (const char* method :
       {"/muster.v1.Registry/NoSuchMethod", "/muster.v1.NoSuchService/Get",
        "/other.v1.Service/Method"}) {
    INFO(method);
    const grpc::Status status = CallRaw(server, method, kGarbage);
    CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  }
}

}  // namespace muster::testing
