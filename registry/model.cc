#include "registry/model.h"

#include "absl/strings/str_cat.h"

namespace muster::registry {

std::string InstanceKey::ToString() const {
  return absl::StrCat(realm, "/", service, "/", id);
}

bool Instance::SameRegistration(const Instance& other) const {
  return address == other.address && port == other.port && tags == other.tags &&
         metadata == other.metadata && weight == other.weight &&
         zone == other.zone && version == other.version && check == other.check;
}

absl::string_view EventCauseName(EventCause cause) {
  switch (cause) {
    case EventCause::kRegistered:
      return "registered";
    case EventCause::kUpdated:
      return "updated";
    case EventCause::kHealthChanged:
      return "health-changed";
    case EventCause::kAdminChanged:
      return "admin-changed";
    case EventCause::kDeregistered:
      return "deregistered";
    case EventCause::kEvicted:
      return "evicted";
    case EventCause::kRealmDeleted:
      return "realm-deleted";
    case EventCause::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

}  // namespace muster::registry
