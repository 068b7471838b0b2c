#pragma once

#include "common/metrics.h"
#include "muster/v1/realm.grpc.pb.h"
#include "registry/registry.h"
#include "rpc/auth.h"
#include "rpc/rpc_metrics.h"

namespace muster::registry {

// RealmService adapts muster.v1.Realms (callback API) to the registry's
// Realms part; every method first asks `auth` whether the caller may make
// it (rpc/auth.h). Thread-safe.
class RealmService final : public muster::v1::Realms::CallbackService {
 public:
  RealmService(Registry& registry, Metrics& metrics, Auth& auth);

  grpc::ServerUnaryReactor* CreateRealm(
      grpc::CallbackServerContext* context,
      const muster::v1::CreateRealmRequest* request,
      muster::v1::Realm* response) override;
  grpc::ServerUnaryReactor* GetRealm(grpc::CallbackServerContext* context,
                                     const muster::v1::GetRealmRequest* request,
                                     muster::v1::Realm* response) override;
  grpc::ServerUnaryReactor* ListRealms(
      grpc::CallbackServerContext* context,
      const muster::v1::ListRealmsRequest* request,
      muster::v1::ListRealmsResponse* response) override;
  grpc::ServerUnaryReactor* UpdateRealm(
      grpc::CallbackServerContext* context,
      const muster::v1::UpdateRealmRequest* request,
      muster::v1::Realm* response) override;
  grpc::ServerUnaryReactor* DeleteRealm(
      grpc::CallbackServerContext* context,
      const muster::v1::DeleteRealmRequest* request,
      muster::v1::DeleteRealmResponse* response) override;

 private:
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                   size_t method, const absl::Status& status);
  // The completion of a realm mutation: fills `response` and finishes
  // the RPC.
  Callback<Realm> Completion(grpc::ServerUnaryReactor* reactor, size_t method,
                             muster::v1::Realm* response);

  Registry& registry_;
  Auth& auth_;
  const Auth::Methods auth_methods_;
  RpcMetrics rpc_metrics_;
};

}  // namespace muster::registry
