#include "rpc/realm_service.h"

#include <string>
#include <utility>

#include "codec/model_proto.h"
#include "codec/realm_request.h"
#include "rpc/actor.h"
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

}  // namespace

RealmService::RealmService(Registry& registry, Metrics& metrics)
    : registry_(registry),
      rpc_metrics_(metrics, "muster.v1.Realms",
                   {"CreateRealm", "GetRealm", "ListRealms", "UpdateRealm",
                    "DeleteRealm"}) {}

grpc::ServerUnaryReactor* RealmService::Finish(
    grpc::CallbackServerContext* context, size_t method,
    const absl::Status& status) {
  rpc_metrics_.Count(method, status);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
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
  absl::StatusOr<Realm> realm =
      RealmFromRequest(request->name(), request->settings());
  if (!realm.ok()) return Finish(context, kCreateRealm, realm.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.realms().Create(std::move(realm).value(), TransportActor(*context),
                            Completion(reactor, kCreateRealm, response));
  return reactor;
}

grpc::ServerUnaryReactor* RealmService::UpdateRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::UpdateRealmRequest* request,
    muster::v1::Realm* response) {
  absl::StatusOr<Realms::SettingsUpdate> update = UpdateFromRequest(*request);
  if (!update.ok()) return Finish(context, kUpdateRealm, update.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.realms().Update(std::move(update).value(), TransportActor(*context),
                            Completion(reactor, kUpdateRealm, response));
  return reactor;
}

grpc::ServerUnaryReactor* RealmService::GetRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::GetRealmRequest* request, muster::v1::Realm* response) {
  absl::StatusOr<Realm> realm = registry_.realms().Get(request->name());
  if (realm.ok()) ToProto(*realm, response);
  return Finish(context, kGetRealm, realm.status());
}

grpc::ServerUnaryReactor* RealmService::ListRealms(
    grpc::CallbackServerContext* context,
    const muster::v1::ListRealmsRequest* /*request*/,
    muster::v1::ListRealmsResponse* response) {
  const Realms::Listing listing = registry_.realms().List();
  for (const RealmCounts& counts : listing.realms) {
    muster::v1::RealmSummary* summary = response->add_realms();
    ToProto(counts.realm, summary->mutable_realm());
    summary->set_instance_count(counts.instances);
    summary->set_routable_count(counts.routable);
    summary->set_service_count(counts.services);
  }
  response->set_revision(listing.revision);
  return Finish(context, kListRealms, absl::OkStatus());
}

grpc::ServerUnaryReactor* RealmService::DeleteRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::DeleteRealmRequest* request,
    muster::v1::DeleteRealmResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.realms().Delete(
      request->name(), request->force(), TransportActor(*context),
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
