#pragma once

// `musterctl update`: the changes its flags ask for, and the Register
// request that applies them to the instance as read. Pure; thread-safe.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/requests.h"
#include "muster/v1/registry.pb.h"

namespace muster::cli {

struct UpdateArgs {
  InstanceRef ref;
  std::vector<std::string> tags;         // --tag: the new set of tags
  std::vector<std::string> add_tags;     // --add-tag
  std::vector<std::string> remove_tags;  // --remove-tag
  std::vector<std::string> meta;         // --meta key=value: set or replace
  std::vector<std::string> remove_meta;  // --remove-meta key
  std::optional<std::string> weight;
  std::optional<std::string> zone;     // "" clears it
  std::optional<std::string> version;  // --instance-version; "" clears it
};

// The checked changes. Fields left empty (or nullopt) change nothing.
struct InstanceChanges {
  std::optional<std::vector<std::string>> tags;  // replaces the set
  std::vector<std::string> add_tags;
  std::vector<std::string> remove_tags;
  std::map<std::string, std::string> set_metadata;
  std::vector<std::string> remove_metadata;
  std::optional<uint32_t> weight;
  std::optional<std::string> zone;
  std::optional<std::string> version;
};

// UsageError naming the flag: no change given, an empty tag or key, a bad
// key=value or weight, --tag together with --add-tag or --remove-tag, or
// a tag or key both added and removed.
absl::StatusOr<InstanceChanges> ParseInstanceChanges(const UpdateArgs& args);

// `current` (as GetInstance returned it) with `changes` applied, as a
// Register request for `realm`: every other field is kept, the
// output-only fields (health, admin state, timestamps, revisions, realm)
// are cleared, as Register requires; the daemon keeps them.
v1::RegisterRequest BuildUpdateRequest(const std::string& realm,
                                       const InstanceChanges& changes,
                                       const v1::Instance& current);

}  // namespace muster::cli
