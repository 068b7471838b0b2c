#include "rpc/token_service.h"

#include <string>
#include <utility>
#include <vector>

#include "codec/token_proto.h"
#include "rpc/grpc_status.h"

namespace muster::registry {
namespace {

enum Method : size_t { kCreateToken, kListTokens, kRevokeToken };

std::vector<std::string> MethodNames() {
  return {"CreateToken", "ListTokens", "RevokeToken"};
}

}  // namespace

TokenService::TokenService(Registry& registry, Metrics& metrics, Auth& auth)
    : registry_(registry),
      auth_(auth),
      auth_methods_(auth, "muster.v1.Tokens", MethodNames()),
      rpc_metrics_(metrics, "muster.v1.Tokens", MethodNames()) {}

grpc::ServerUnaryReactor* TokenService::Finish(
    grpc::CallbackServerContext* context, size_t method,
    const absl::Status& status) {
  return rpc_metrics_.Finish(context, method, status);
}

grpc::ServerUnaryReactor* TokenService::CreateToken(
    grpc::CallbackServerContext* context,
    const muster::v1::CreateTokenRequest* request,
    muster::v1::CreateTokenResponse* response) {
  MUSTER_AUTHORIZE_ANY_REALM(kCreateToken, TokenRole::kAdmin);
  absl::StatusOr<Tokens::Spec> spec = TokenSpecFromProto(*request);
  if (!spec.ok()) return Finish(context, kCreateToken, spec.status());
  if (absl::Status within =
          TokenWithinScope(caller, spec->role, spec->all_realms, spec->realms);
      !within.ok()) {
    return Finish(context, kCreateToken,
                  auth_.Deny(*context, auth_methods_, kCreateToken, caller,
                             std::move(within)));
  }
  // Who creates it (recorded as the token's created_by).
  std::string actor = Auth::Actor(*context, caller);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.tokens().Create(
      std::move(spec).value(), std::move(actor),
      [this, reactor, response](absl::StatusOr<Tokens::Created> created) {
        if (created.ok()) {
          ToProto(created->token, response->mutable_token());
          response->set_secret(std::move(created->secret));
          response->set_revision(created->revision);
        }
        rpc_metrics_.Count(kCreateToken, created.status());
        reactor->Finish(ToGrpcStatus(created.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* TokenService::ListTokens(
    grpc::CallbackServerContext* context,
    const muster::v1::ListTokensRequest* /*request*/,
    muster::v1::ListTokensResponse* response) {
  MUSTER_AUTHORIZE_ANY_REALM(kListTokens, TokenRole::kAdmin);
  for (const Token& token : registry_.tokens().List()) {
    // Only the tokens within the caller's own scope.
    if (!TokenWithinScope(caller, token.role, token.all_realms, token.realms)
             .ok()) {
      continue;
    }
    ToProto(token, response->add_tokens());
  }
  return Finish(context, kListTokens, absl::OkStatus());
}

grpc::ServerUnaryReactor* TokenService::RevokeToken(
    grpc::CallbackServerContext* context,
    const muster::v1::RevokeTokenRequest* request,
    muster::v1::RevokeTokenResponse* response) {
  MUSTER_AUTHORIZE_ANY_REALM(kRevokeToken, TokenRole::kAdmin);
  // A token beyond the caller's scope is refused; a missing one is
  // Revoke's NOT_FOUND.
  if (absl::StatusOr<Token> target = registry_.tokens().Get(request->name());
      target.ok()) {
    if (absl::Status within = TokenWithinScope(
            caller, target->role, target->all_realms, target->realms);
        !within.ok()) {
      return Finish(context, kRevokeToken,
                    auth_.Deny(*context, auth_methods_, kRevokeToken, caller,
                               std::move(within)));
    }
  }
  // Who revokes it (recorded as the token's revoked_by).
  std::string actor = Auth::Actor(*context, caller);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.tokens().Revoke(
      request->name(), std::move(actor),
      [this, reactor, response](absl::StatusOr<uint64_t> revision) {
        if (revision.ok()) response->set_revision(*revision);
        rpc_metrics_.Count(kRevokeToken, revision.status());
        reactor->Finish(ToGrpcStatus(revision.status()));
      });
  return reactor;
}

}  // namespace muster::registry
