#pragma once

// A TestServer with access control on and the tokens and data the auth
// tests aim at.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "muster/v1/registry.grpc.pb.h"
#include "muster/v1/tokens.grpc.pb.h"
#include "registry/tokens.h"
#include "rpc/auth.h"
#include "tests/integration/test_server.h"
#include "tests/support/fake_clock.h"

namespace muster::testing {

// A client context (10 s deadline) sending `secret` as a bearer token;
// none when `secret` is empty.
std::unique_ptr<grpc::ClientContext> BearerContext(const std::string& secret);

// Creates a token through the registry; returns its secret.
std::string MakeToken(TestServer& server, registry::Tokens::Spec spec);

// Reads a watch's first message: OK when one came (the stream is then
// cancelled), else the status the stream ended with.
grpc::Status FirstWatchMessage(muster::v1::Registry::Stub& stub,
                               grpc::ClientContext* context,
                               const muster::v1::WatchRequest& request);

// A musterd with --auth on: realms "prod" (holding web/1, a TTL instance)
// and "other", and tokens of each kind. The auth clock is a fake clock
// that starts at the real time; the expired token expired an hour ago by
// it.
class AuthWorld final {
 public:
  explicit AuthWorld(registry::AuthOptions auth = DefaultOptions());

  static registry::AuthOptions DefaultOptions() {
    registry::AuthOptions options;
    options.enabled = true;
    return options;
  }

  TestServer& server() { return *server_; }
  FakeClock& clock() { return clock_; }
  uint64_t web_incarnation() const { return web_incarnation_; }

  // Secrets.
  const std::string& admin() const { return admin_; }  // every realm
  const std::string& admin_of_other() const { return admin_of_other_; }
  const std::string& reader_of_prod() const { return reader_of_prod_; }
  const std::string& expired() const { return expired_; }
  const std::string& revoked() const { return revoked_; }

 private:
  FakeClock clock_;
  std::unique_ptr<TestServer> server_;
  uint64_t web_incarnation_ = 0;
  std::string admin_;
  std::string admin_of_other_;
  std::string reader_of_prod_;
  std::string expired_;
  std::string revoked_;
};

// Adds the muster.v1.Tokens RPCs to the auth table: `add(name, list,
// call)`, `list` for ListTokens (admin anywhere, filtered) and the others
// needing admin over the token they name (realm "prod").
void AddTokenRpcs(AuthWorld& world,
                  const std::function<void(
                      std::string, bool,
                      std::function<grpc::Status(grpc::ClientContext*)>)>& add);

}  // namespace muster::testing
