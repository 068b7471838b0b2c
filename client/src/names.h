#pragma once

// musterd's naming rules, checked by the library before anything is sent.
// Internal.

#include <string>

namespace muster::client::internal {

// Realm, service and zone names: 1..63 of [a-z0-9-], not starting or
// ending with '-'.
bool IsName(const std::string& name);

// Instance ids: 1..128 of [A-Za-z0-9._:-].
bool IsId(const std::string& id);

}  // namespace muster::client::internal
