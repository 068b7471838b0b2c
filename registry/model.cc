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

namespace {

// A string field: up to 2 bytes of tag, 3 of length, then the bytes.
size_t StringBound(const std::string& value) { return 5 + value.size(); }

size_t PairsBound(
    const std::vector<std::pair<std::string, std::string>>& pairs) {
  size_t bytes = 0;
  // A map entry: its own header, then the key and value fields.
  for (const auto& [key, value] : pairs) {
    bytes += 5 + StringBound(key) + StringBound(value);
  }
  return bytes;
}

}  // namespace

size_t EncodedSizeBound(const Instance& instance) {
  // Numbers, enums, durations and timestamps, with their headers.
  size_t bytes = 512;
  for (const std::string* field :
       {&instance.realm, &instance.service, &instance.id, &instance.address,
        &instance.zone, &instance.version, &instance.admin_reason,
        &instance.check_output, &instance.check.http_url,
        &instance.check.http_method, &instance.check.grpc_service,
        &instance.check.tls_server_name}) {
    bytes += StringBound(*field);
  }
  for (const std::string& tag : instance.tags) bytes += StringBound(tag);
  bytes += PairsBound(instance.metadata);
  bytes += PairsBound(instance.check.http_headers);
  return bytes;
}

size_t EncodedSizeBound(const Event& event) {
  size_t bytes = 64 + StringBound(event.reason) + StringBound(event.actor);
  if (event.instance != nullptr) bytes += EncodedSizeBound(*event.instance);
  return bytes;
}

}  // namespace muster::registry
