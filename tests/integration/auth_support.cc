#include "tests/integration/auth_support.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace muster::testing {

std::unique_ptr<grpc::ClientContext> BearerContext(const std::string& secret) {
  std::unique_ptr<grpc::ClientContext> context = Context();
  if (!secret.empty())
    context->AddMetadata("authorization", "Bearer " + secret);
  return context;
}

std::string MakeToken(TestServer& server, registry::Tokens::Spec spec) {
  absl::Notification done;
  absl::StatusOr<registry::Tokens::Created> created;
  server.core().tokens().Create(
      std::move(spec), "test",
      [&](absl::StatusOr<registry::Tokens::Created> result) {
        created = std::move(result);
        done.Notify();
      });
  done.WaitForNotification();
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  return created->secret;
}

grpc::Status FirstWatchMessage(muster::v1::Registry::Stub& stub,
                               grpc::ClientContext* context,
                               const muster::v1::WatchRequest& request) {
  std::unique_ptr<grpc::ClientReader<muster::v1::WatchResponse>> reader =
      stub.Watch(context, request);
  muster::v1::WatchResponse response;
  if (reader->Read(&response)) {
    context->TryCancel();
    while (reader->Read(&response)) {
    }
    reader->Finish().IgnoreError();
    return grpc::Status::OK;
  }
  return reader->Finish();
}

namespace {

registry::Tokens::Spec Spec(std::string name, registry::TokenRole role,
                            std::vector<std::string> realms) {
  registry::Tokens::Spec spec;
  spec.name = std::move(name);
  spec.role = role;
  spec.all_realms = realms.empty();
  spec.realms = std::move(realms);
  return spec;
}

}  // namespace

AuthWorld::AuthWorld(registry::AuthOptions auth) : clock_(absl::Now()) {
  TestServer::Options options;
  options.auth = auth;
  options.clock = &clock_;
  server_ = std::make_unique<TestServer>(std::move(options));
  using registry::TokenRole;
  admin_ = MakeToken(*server_, Spec("admin", TokenRole::kAdmin, {}));
  for (const char* name : {"prod", "other"}) {
    muster::v1::CreateRealmRequest request;
    request.set_name(name);
    muster::v1::Realm realm;
    REQUIRE(server_->realms()
                .CreateRealm(BearerContext(admin_).get(), request, &realm)
                .ok());
  }
  muster::v1::RegisterRequest request;
  request.set_realm("prod");
  *request.mutable_instance() = MakeInstance("web", "1");
  request.mutable_instance()->mutable_check()->set_kind(
      muster::v1::CHECK_KIND_TTL);
  request.mutable_instance()->mutable_check()->mutable_ttl()->set_seconds(30);
  muster::v1::RegisterResponse registered;
  grpc::Status status = server_->registry().Register(
      BearerContext(admin_).get(), request, &registered);
  INFO(status.error_message());
  REQUIRE(status.ok());
  web_incarnation_ = registered.instance().create_revision();

  admin_of_other_ =
      MakeToken(*server_, Spec("other-admin", TokenRole::kAdmin, {"other"}));
  reader_of_prod_ =
      MakeToken(*server_, Spec("prod-reader", TokenRole::kRead, {"prod"}));
  registry::Tokens::Spec expiring = Spec("expiring", TokenRole::kAdmin, {});
  expiring.expires_at = absl::Now() + absl::Hours(1);
  expired_ = MakeToken(*server_, std::move(expiring));
  revoked_ = MakeToken(*server_, Spec("gone", TokenRole::kAdmin, {}));
  absl::Notification done;
  server_->core().tokens().Revoke("gone", "test",
                                  [&](absl::StatusOr<uint64_t> revision) {
                                    CHECK(revision.ok());
                                    done.Notify();
                                  });
  done.WaitForNotification();
  // By the auth clock the expiring token is now an hour past its expiry.
  clock_.Advance(absl::Hours(2));
}

void AddTokenRpcs(
    AuthWorld& world,
    const std::function<void(
        std::string, bool, std::function<grpc::Status(grpc::ClientContext*)>)>&
        add) {
  auto stub = std::shared_ptr<muster::v1::Tokens::Stub>(
      muster::v1::Tokens::NewStub(world.server().channel()));
  add("Tokens/CreateToken", false, [stub](grpc::ClientContext* c) {
    muster::v1::CreateTokenRequest request;
    request.set_name("new-reader");
    request.set_role(muster::v1::TOKEN_ROLE_READ);
    request.add_realms("prod");
    muster::v1::CreateTokenResponse response;
    return stub->CreateToken(c, request, &response);
  });
  add("Tokens/ListTokens", true, [stub](grpc::ClientContext* c) {
    muster::v1::ListTokensResponse response;
    return stub->ListTokens(c, {}, &response);
  });
  add("Tokens/RevokeToken", false, [stub](grpc::ClientContext* c) {
    muster::v1::RevokeTokenRequest request;
    request.set_name("prod-reader");
    muster::v1::RevokeTokenResponse response;
    return stub->RevokeToken(c, request, &response);
  });
}

}  // namespace muster::testing
