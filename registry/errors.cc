#include "registry/errors.h"

#include "absl/strings/str_cat.h"

namespace muster::registry {

absl::Status InstanceNotFound(const InstanceKey& key) {
  return absl::NotFoundError(
      absl::StrCat("instance \"", key.id, "\" not found in service \"",
                   key.service, "\" (realm \"", key.realm, "\")"));
}

absl::Status RealmNotFound(absl::string_view realm) {
  return absl::NotFoundError(absl::StrCat("realm \"", realm, "\" not found"));
}

absl::Status StaleIncarnation(const Instance& current, uint64_t incarnation) {
  return absl::FailedPreconditionError(absl::StrCat(
      "instance \"", current.id, "\" of service \"", current.service,
      "\" (realm \"", current.realm, "\") is incarnation ",
      current.create_revision, ", not ", incarnation));
}

}  // namespace muster::registry
