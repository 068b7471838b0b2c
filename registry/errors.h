#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "registry/model.h"

// The errors more than one part of the registry answers with. Messages
// are lowercase and name the object, as every registry error does.
// Thread-safety: pure functions.
namespace muster::registry {

// NOT_FOUND: instance "3" not found in service "web" (realm "prod").
absl::Status InstanceNotFound(const InstanceKey& key);

// NOT_FOUND: realm "prod" not found.
absl::Status RealmNotFound(absl::string_view realm);

// FAILED_PRECONDITION: `incarnation` is not the current incarnation (the
// create revision) of `current`.
absl::Status StaleIncarnation(const Instance& current, uint64_t incarnation);

}  // namespace muster::registry
