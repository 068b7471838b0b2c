// A request body that does not parse as the method's request message is
// INVALID_ARGUMENT naming the message type, not gRPC's UNIMPLEMENTED.
// (The raw Watch method's own answer is checked in bad_input_test.cc.)

#include <grpcpp/generic/generic_stub.h>

#include <catch2/catch.hpp>
#include <string>

#include "absl/synchronization/notification.h"
#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

// Not a protobuf message: a varint that never ends.
constexpr char kGarbage[] = "\xff\xff\xff";

// Sends `body` as the whole request of `method` (one message, then
// half-close) and waits for the status.
grpc::Status CallRaw(TestServer& server, const std::string& method,
                     const std::string& body) {
  grpc::GenericStub stub(server.channel());
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::unique_ptr<grpc::ClientContext> context = Context();
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &request,
                 &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  return status;
}

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
