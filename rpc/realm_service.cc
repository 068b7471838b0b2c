#include "rpc/realm_service.h"

#include <set>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
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

// The fields an update mask may name, by their proto names.
enum class SettingsField { kDescription, kShare, kDeregisterAfter };
struct NamedField {
  const char* path;
  SettingsField field;
};
constexpr NamedField kSettingsFields[] = {
    {"description", SettingsField::kDescription},
    {"eviction_protection_share", SettingsField::kShare},
    {"default_deregister_after", SettingsField::kDeregisterAfter}};
// AIP-134's "every field".
constexpr char kEveryField[] = "*";
// An unknown path is shown up to this many bytes.
constexpr size_t kMaxShownPathBytes = 64;

// Which settings fields an UpdateRealmRequest changes (realm.proto): the
// mask's paths, or with an empty mask the fields not at their default.
absl::StatusOr<std::set<SettingsField>> NamedFields(
    const muster::v1::UpdateRealmRequest& request) {
  std::set<SettingsField> fields;
  const google::protobuf::RepeatedPtrField<std::string>& paths =
      request.update_mask().paths();
  if (paths.empty()) {
    const muster::v1::RealmSettings& settings = request.settings();
    const google::protobuf::Duration& after =
        settings.default_deregister_after();
    if (!settings.description().empty()) {
      fields.insert(SettingsField::kDescription);
    }
    if (settings.eviction_protection_share() != 0) {
      fields.insert(SettingsField::kShare);
    }
    if (after.seconds() != 0 || after.nanos() != 0) {
      fields.insert(SettingsField::kDeregisterAfter);
    }
    return fields;
  }
  for (int i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    if (path == kEveryField) {
      for (const NamedField& named : kSettingsFields) {
        fields.insert(named.field);
      }
      continue;
    }
    const NamedField* found = nullptr;
    for (const NamedField& named : kSettingsFields) {
      if (path == named.path) found = &named;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask.paths[", i, "]: \"",
          absl::CHexEscape(path.substr(0, kMaxShownPathBytes)),
          path.size() > kMaxShownPathBytes ? "..." : "",
          "\" is not a field of RealmSettings; want description, "
          "eviction_protection_share, default_deregister_after or *"));
    }
    fields.insert(found->field);
  }
  return fields;
}

// The settings an UpdateRealmRequest changes, with their new values.
absl::StatusOr<Realms::SettingsUpdate> UpdateFromRequest(
    const muster::v1::UpdateRealmRequest& request) {
  absl::StatusOr<std::set<SettingsField>> fields = NamedFields(request);
  if (!fields.ok()) return fields.status();
  const muster::v1::RealmSettings& settings = request.settings();
  Realms::SettingsUpdate update;
  update.name = request.name();
  if (fields->count(SettingsField::kDescription) != 0) {
    update.description = settings.description();
  }
  if (fields->count(SettingsField::kShare) != 0) {
    update.eviction_protection_share = settings.eviction_protection_share();
  }
  if (fields->count(SettingsField::kDeregisterAfter) != 0) {
    absl::StatusOr<absl::Duration> after =
        DurationFromProto(settings.default_deregister_after(),
                          "settings.default_deregister_after");
    if (!after.ok()) return after.status();
    update.default_deregister_after = *after;
  }
  return update;
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
  registry_.realms().Create(std::move(realm).value(),
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
  registry_.realms().Update(std::move(update).value(),
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
