// The Tokens service over gRPC: create answers the secret once, list
// never shows a secret or its hash, revoke keeps the token listed, bad
// requests name the field, and tokens survive a restart.

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "common/secret.h"
#include "muster/v1/tokens.grpc.pb.h"
#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

using muster::v1::CreateTokenRequest;
using muster::v1::CreateTokenResponse;

std::unique_ptr<muster::v1::Tokens::Stub> TokensStub(TestServer& server) {
  return muster::v1::Tokens::NewStub(server.channel());
}

CreateTokenRequest Request(const std::string& name, muster::v1::TokenRole role,
                           const std::string& realm) {
  CreateTokenRequest request;
  request.set_name(name);
  request.set_role(role);
  request.add_realms(realm);
  return request;
}

muster::v1::ListTokensResponse List(muster::v1::Tokens::Stub& tokens) {
  muster::v1::ListTokensResponse response;
  grpc::Status status = tokens.ListTokens(
      Context().get(), muster::v1::ListTokensRequest(), &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response;
}

TEST_CASE("Tokens API: create, list, revoke", "[tokens]") {
  TestServer server;
  auto tokens = TokensStub(server);

  CreateTokenRequest request =
      Request("deploy", muster::v1::TOKEN_ROLE_WRITE, "prod");
  request.add_services("api");
  request.mutable_expires_at()->set_seconds(4102444800);  // 2100-01-01
  CreateTokenResponse created;
  grpc::Status status = tokens->CreateToken(Context().get(), request, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(absl::StartsWith(created.secret(), "mst_"));
  CHECK(created.token().name() == "deploy");
  CHECK(created.token().role() == muster::v1::TOKEN_ROLE_WRITE);
  CHECK(created.token().realms_size() == 1);
  CHECK(created.token().services(0) == "api");
  CHECK(created.token().expires_at().seconds() == 4102444800);
  CHECK(created.token().created_at().seconds() > 0);
  CHECK(created.revision() == created.token().create_revision());

  // The daemon knows it by its secret.
  auto known = server.core().tokens().Authenticate(created.secret(),
                                                   absl::FromUnixSeconds(0));
  REQUIRE(known.ok());
  CHECK((*known)->name == "deploy");

  const muster::v1::ListTokensResponse listed = List(*tokens);
  REQUIRE(listed.tokens_size() == 1);
  CHECK(listed.tokens(0).name() == "deploy");
  CHECK(!listed.tokens(0).has_revoked_at());
  // Neither the secret nor its hash is ever in a listing.
  const std::string bytes = listed.SerializeAsString();
  CHECK(!absl::StrContains(bytes, created.secret()));
  CHECK(!absl::StrContains(bytes, SecretHash(created.secret())));
  CHECK(!absl::StrContains(created.SerializeAsString(),
                           SecretHash(created.secret())));

  muster::v1::RevokeTokenRequest revoke;
  revoke.set_name("deploy");
  muster::v1::RevokeTokenResponse revoked;
  REQUIRE(tokens->RevokeToken(Context().get(), revoke, &revoked).ok());
  CHECK(revoked.revision() > created.revision());
  const muster::v1::ListTokensResponse after = List(*tokens);
  REQUIRE(after.tokens_size() == 1);
  CHECK(after.tokens(0).has_revoked_at());
  CHECK(after.tokens(0).modify_revision() == revoked.revision());
  CHECK(!server.core()
             .tokens()
             .Authenticate(created.secret(), absl::FromUnixSeconds(0))
             .ok());

  // Its name stays taken; revoking again is OK and changes nothing.
  CreateTokenResponse again;
  CHECK(tokens->CreateToken(Context().get(), request, &again).error_code() ==
        grpc::StatusCode::ALREADY_EXISTS);
  muster::v1::RevokeTokenResponse twice;
  REQUIRE(tokens->RevokeToken(Context().get(), revoke, &twice).ok());
  CHECK(twice.revision() == revoked.revision());
  revoke.set_name("nobody");
  CHECK(tokens->RevokeToken(Context().get(), revoke, &twice).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("Tokens API: bad requests name the field and store nothing",
          "[tokens]") {
  TestServer server;
  auto tokens = TokensStub(server);
  struct Case {
    CreateTokenRequest request;
    std::string prefix;
  };
  CreateTokenRequest no_role = Request("x", muster::v1::TOKEN_ROLE_READ, "a");
  no_role.clear_role();
  CreateTokenRequest bad_realm = Request("x", muster::v1::TOKEN_ROLE_READ, "a");
  bad_realm.add_realms("b");
  bad_realm.add_realms("Prod");
  CreateTokenRequest read_services =
      Request("x", muster::v1::TOKEN_ROLE_READ, "a");
  read_services.add_services("api");
  CreateTokenRequest past = Request("x", muster::v1::TOKEN_ROLE_READ, "a");
  past.mutable_expires_at()->set_seconds(1000);
  CreateTokenRequest bad_time = Request("x", muster::v1::TOKEN_ROLE_READ, "a");
  bad_time.mutable_expires_at()->set_nanos(-1);
  const Case cases[] = {
      {Request("", muster::v1::TOKEN_ROLE_READ, "a"), "name: is required"},
      {Request("A", muster::v1::TOKEN_ROLE_READ, "a"), "name: "},
      {no_role, "role: is required"},
      {bad_realm, "realms[2]: "},
      {read_services, "services: only a write token"},
      {past, "expires_at: "},
      {bad_time, "expires_at: invalid timestamp"},
  };
  for (const Case& c : cases) {
    CreateTokenResponse response;
    grpc::Status status =
        tokens->CreateToken(Context().get(), c.request, &response);
    INFO(c.prefix << " / " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), c.prefix));
    CHECK(response.secret().empty());
  }
  CHECK(List(*tokens).tokens_size() == 0);
}

TEST_CASE("Tokens API: tokens survive a restart, the secret still works",
          "[tokens]") {
  TestServer server;
  std::string secret;
  {
    auto tokens = TokensStub(server);
    CreateTokenRequest request =
        Request("admin", muster::v1::TOKEN_ROLE_ADMIN, "a");
    request.clear_realms();
    request.set_all_realms(true);
    CreateTokenResponse created;
    REQUIRE(tokens->CreateToken(Context().get(), request, &created).ok());
    secret = created.secret();
  }
  server.Restart();
  auto tokens = TokensStub(server);
  const muster::v1::ListTokensResponse listed = List(*tokens);
  REQUIRE(listed.tokens_size() == 1);
  CHECK(listed.tokens(0).all_realms());
  CHECK(listed.tokens(0).role() == muster::v1::TOKEN_ROLE_ADMIN);
  CHECK(server.core()
            .tokens()
            .Authenticate(secret, absl::FromUnixSeconds(0))
            .ok());
}

}  // namespace
}  // namespace muster::testing
