#include "rpc/realm_service.h"

#include <utility>

#include "codec/model_proto.h"
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

// Settings fields of a request as a Realm the registry validates.
absl::StatusOr<Realm> RealmFromRequest(
    const std::string& name, const muster::v1::RealmSettings& settings) {
  Realm realm;
  realm.name = name;
  realm.description = settings.description();
  realm.eviction_protection_share = settings.eviction_protection_share();
  absl::StatusOr<absl::Duration> after = DurationFromProto(
      settings.default_deregister_after(), "settings.default_deregister_after");
  if (!after.ok()) return after.status();
  realm.default_deregister_after = *after;
  return realm;
}

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

grpc::ServerUnaryReactor* RealmService::Mutate(
    grpc::CallbackServerContext* context, size_t method,
    const std::string& name, const muster::v1::RealmSettings& settings,
    muster::v1::Realm* response) {
  absl::StatusOr<Realm> realm = RealmFromRequest(name, settings);
  if (!realm.ok()) return Finish(context, method, realm.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto done = [this, reactor, response, method](absl::StatusOr<Realm> result) {
    if (result.ok()) ToProto(*result, response);
    rpc_metrics_.Count(method, result.status());
    reactor->Finish(ToGrpcStatus(result.status()));
  };
  if (method == kCreateRealm) {
    registry_.realms().Create(std::move(realm).value(), std::move(done));
  } else {
    registry_.realms().Update(std::move(realm).value(), std::move(done));
  }
  return reactor;
}

grpc::ServerUnaryReactor* RealmService::CreateRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::CreateRealmRequest* request,
    muster::v1::Realm* response) {
  return Mutate(context, kCreateRealm, request->name(), request->settings(),
                response);
}

grpc::ServerUnaryReactor* RealmService::UpdateRealm(
    grpc::CallbackServerContext* context,
    const muster::v1::UpdateRealmRequest* request,
    muster::v1::Realm* response) {
  return Mutate(context, kUpdateRealm, request->name(), request->settings(),
                response);
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
      request->name(), request->force(),
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
