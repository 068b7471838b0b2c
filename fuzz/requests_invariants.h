#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "registry/change_log.h"
#include "registry/model.h"
#include "registry/registry.h"

// The invariants the request fuzzer (requests_fuzzer.cc) holds the
// registry to. Each aborts, naming what broke, when one does not hold.
namespace muster::fuzz {

// `status` is a refusal of `rpc`: its code is one of `allowed`, and an
// INVALID_ARGUMENT starts with the field it is about ("instance.port: ",
// "realm: ", "update_mask.paths[0]: ").
void CheckRefusal(const absl::Status& status, absl::string_view rpc,
                  std::initializer_list<absl::StatusCode> allowed);

// `instance` (as the registry answered it) is what the index holds, is
// a valid registration, and round-trips through the response proto and
// the store's record encoding.
void CheckStoredInstance(registry::Registry& registry,
                         const registry::Instance& instance);

// The same for a realm.
void CheckStoredRealm(registry::Registry& registry,
                      const registry::Realm& realm);

// The same for a token (the registry's copy and the stored record; the
// API message never carries the secret's hash).
void CheckStoredToken(registry::Registry& registry,
                      const registry::Token& token);

// Lists; a page holds only what the query asks for and at most its page
// size, and its next_page_token gives the next page.
void CheckListInstances(registry::Registry& registry,
                        const registry::ListQuery& query);
void CheckListServices(registry::Registry& registry, const std::string& realm,
                       uint32_t page_size, const std::string& page_token);
void CheckListEvents(registry::Registry& registry,
                     const registry::ChangeLog::EventsQuery& query);

}  // namespace muster::fuzz
