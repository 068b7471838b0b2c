#include "rpc/token_service.h"

#include <string>
#include <utility>

#include "codec/token_proto.h"
#include "rpc/grpc_status.h"

namespace muster::registry {
namespace {

enum Method : size_t { kCreateToken, kListTokens, kRevokeToken };

}  // namespace

TokenService::TokenService(Registry& registry, Metrics& metrics)
    : registry_(registry),
      rpc_metrics_(metrics, "muster.v1.Tokens",
                   {"CreateToken", "ListTokens", "RevokeToken"}) {}

grpc::ServerUnaryReactor* TokenService::Finish(
    grpc::CallbackServerContext* context, size_t method,
    const absl::Status& status) {
  rpc_metrics_.Count(method, status);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* TokenService::CreateToken(
    grpc::CallbackServerContext* context,
    const muster::v1::CreateTokenRequest* request,
    muster::v1::CreateTokenResponse* response) {
  // Who creates it (recorded as the token's created_by).
  std::string actor;
  absl::StatusOr<Tokens::Spec> spec = TokenSpecFromProto(*request);
  if (!spec.ok()) return Finish(context, kCreateToken, spec.status());
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
  for (const Token& token : registry_.tokens().List()) {
    ToProto(token, response->add_tokens());
  }
  return Finish(context, kListTokens, absl::OkStatus());
}

grpc::ServerUnaryReactor* TokenService::RevokeToken(
    grpc::CallbackServerContext* context,
    const muster::v1::RevokeTokenRequest* request,
    muster::v1::RevokeTokenResponse* response) {
  // Who revokes it (recorded as the token's revoked_by).
  std::string actor;
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
