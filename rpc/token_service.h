#pragma once

#include "common/metrics.h"
#include "muster/v1/tokens.grpc.pb.h"
#include "registry/registry.h"
#include "rpc/auth.h"
#include "rpc/rpc_metrics.h"

namespace muster::registry {

// TokenService adapts muster.v1.Tokens (callback API) to the registry's
// Tokens part. It never sends a secret's hash; a secret only in the
// CreateToken response. Every method needs an admin token (rpc/auth.h),
// which never reaches beyond its own scope and role: it creates, sees and
// revokes only tokens within them. Thread-safe.
class TokenService final : public muster::v1::Tokens::CallbackService {
 public:
  TokenService(Registry& registry, Metrics& metrics, Auth& auth);

  grpc::ServerUnaryReactor* CreateToken(
      grpc::CallbackServerContext* context,
      const muster::v1::CreateTokenRequest* request,
      muster::v1::CreateTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListTokens(
      grpc::CallbackServerContext* context,
      const muster::v1::ListTokensRequest* request,
      muster::v1::ListTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeToken(
      grpc::CallbackServerContext* context,
      const muster::v1::RevokeTokenRequest* request,
      muster::v1::RevokeTokenResponse* response) override;

 private:
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                   size_t method, const absl::Status& status);

  Registry& registry_;
  Auth& auth_;
  const Auth::Methods auth_methods_;
  RpcMetrics rpc_metrics_;
};

}  // namespace muster::registry
