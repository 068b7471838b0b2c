#include "rpc/realm_service.h"

#include <string>
#include <utility>
#include <vector>

#include "codec/model_proto.h"
#include "codec/read_responses.h"
#include "codec/realm_request.h"
#include "rpc/grpc_status.h"

namespace muster::registry {
namespace {

enum Method : size_t {
  kCreateRealm,
  kGetRealm,
  kListRealms,
  kUpdateRealm,
  kDeleteRealm
};

std::vector<std::string> MethodNames() {
  return {"CreateRealm", "GetRealm", "ListRealms", "UpdateRealm",
          "DeleteRealm"};
}

}  // namespace

RealmService::RealmService(Registry& registry, Metrics& metrics, Auth& auth)
    : registry_(registry),
      auth_(auth),
      auth_methods_(auth, "muster.v1.Realms", MethodNames()),
      rpc_metrics_(metrics, "muster.v1.Realms", MethodNames()) {}

grpc::ServerUnaryReactor* RealmService::Finish(
    grpc::CallbackServerContext* context, size_t method,
    const absl::Status& status) {
  return rpc_metrics_.Finish(context, method, status);
}

Callback<Realm> RealmService::Completion(grpc::ServerUnaryReactor* reactor,
                                         size_t method,
                                         muster::v1::Realm* response) {
  return [this, reactor, response, method](absl::StatusOr<Realm> result) {
    if (result.ok()) ToProto(*result, response);
    rpc_metrics_.Count(method, result.status());
    reactor->Finish(ToGrpcStatus(result.status()));
  };
}

grpc::ServerUnaryReactor* RealmService::CreateRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::CreateRealmRequest* request,
    muster::v1::Realm* response) {
  MUSTER_AUTHORIZE(kCreateRealm, TokenRole::kAdmin, request->name(), "");
  absl::StatusOr<Realm> realm =
      RealmFromRequest(request->name(), request->settings());
  if (!realm.ok()) return Finish(context, kCreateRealm, realm.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.realms().Create(std::move(realm).value(),
                            Auth::Actor(*context, caller),
                            Completion(reactor, kCreateRealm, response));
  return reactor;
}

grpc::ServerUnaryReactor* RealmService::UpdateRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::UpdateRealmRequest* request,
    muster::v1::Realm* response) {
  MUSTER_AUTHORIZE(kUpdateRealm, TokenRole::kAdmin, request->name(), "");
  absl::StatusOr<Realms::SettingsUpdate> update = UpdateFromRequest(*request);
  if (!update.ok()) return Finish(context, kUpdateRealm, update.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.realms().Update(std::move(update).value(),
                            Auth::Actor(*context, caller),
                            Completion(reactor, kUpdateRealm, response));
  return reactor;
}

grpc::ServerUnaryReactor* RealmService::GetRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::GetRealmRequest* request, muster::v1::Realm* response) {
  MUSTER_AUTHORIZE(kGetRealm, TokenRole::kRead, request->name(), "");
  absl::StatusOr<Realm> realm = registry_.realms().Get(request->name());
  if (realm.ok()) ToProto(*realm, response);
  return Finish(context, kGetRealm, realm.status());
}

grpc::ServerUnaryReactor* RealmService::ListRealms(
    grpc::CallbackServerContext* context,
    const muster::v1::ListRealmsRequest* /*request*/,
    muster::v1::ListRealmsResponse* response) {
  MUSTER_AUTHORIZE_ANY_REALM(kListRealms, TokenRole::kRead);
  FillRealmListing(registry_, caller.token.get(), response);
  return Finish(context, kListRealms, absl::OkStatus());
}

grpc::ServerUnaryReactor* RealmService::DeleteRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::DeleteRealmRequest* request,
    muster::v1::DeleteRealmResponse* response) {
  MUSTER_AUTHORIZE(kDeleteRealm, TokenRole::kAdmin, request->name(), "");
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.realms().Delete(
      request->name(), request->force(), Auth::Actor(*context, caller),
      [this, reactor, response](absl::StatusOr<Realms::DeleteResult> result) {
        if (result.ok()) {
          response->set_revision(result->revision);
          response->set_deleted_instances(result->deleted_instances);
        }
        rpc_metrics_.Count(kDeleteRealm, result.status());
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
}

}  // namespace muster::registry
