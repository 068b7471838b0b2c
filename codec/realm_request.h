#pragma once

// The realm requests of muster.v1.Realms as the registry takes them:
// what RealmService runs on a request before the registry sees it (and
// what fuzz/requests_fuzzer.cc runs on mutated ones). Pure functions;
// thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "muster/v1/realm.pb.h"
#include "registry/model.h"
#include "registry/realms.h"

namespace muster::registry {

// The realm a CreateRealmRequest asks for (name and settings), for the
// registry to validate. INVALID_ARGUMENT naming
// "settings.default_deregister_after" when that Duration is malformed.
absl::StatusOr<Realm> RealmFromRequest(
    const std::string& name, const muster::v1::RealmSettings& settings);

// The settings an UpdateRealmRequest changes, with their new values: the
// update mask's paths ("description", "eviction_protection_share",
// "default_deregister_after" or "*"), or with an empty mask the fields
// not at their default. INVALID_ARGUMENT naming "update_mask.paths[i]"
// for an unknown path, or a malformed Duration.
absl::StatusOr<Realms::SettingsUpdate> UpdateFromRequest(
    const muster::v1::UpdateRealmRequest& request);

}  // namespace muster::registry
