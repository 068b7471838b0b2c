#include "codec/realm_request.h"

#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "codec/model_proto.h"

namespace muster::registry {
namespace {

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

}  // namespace

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

}  // namespace muster::registry
