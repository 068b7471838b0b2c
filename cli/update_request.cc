#include "cli/update_request.h"

#include <algorithm>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "cli/errors.h"
#include "cli/flag_values.h"

namespace muster::cli {
namespace {

absl::Status CheckNotEmpty(const std::string& flag,
                           const std::vector<std::string>& values) {
  for (const std::string& v : values) {
    if (v.empty()) return UsageError(absl::StrCat(flag, ": must not be empty"));
  }
  return absl::OkStatus();
}

// The first value found in both lists, if any.
std::optional<std::string> Common(const std::vector<std::string>& a,
                                  const std::vector<std::string>& b) {
  std::set<std::string> in_a(a.begin(), a.end());
  for (const std::string& v : b) {
    if (in_a.count(v) > 0) return v;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<InstanceChanges> ParseInstanceChanges(const UpdateArgs& args) {
  InstanceChanges changes;
  const bool any = !args.tags.empty() || !args.add_tags.empty() ||
                   !args.remove_tags.empty() || !args.meta.empty() ||
                   !args.remove_meta.empty() || args.weight.has_value() ||
                   args.zone.has_value() || args.version.has_value();
  if (!any) {
    return UsageError(
        "update: give at least one change: --tag, --add-tag, --remove-tag, "
        "--meta, --remove-meta, --weight, --zone or --instance-version");
  }
  if (!args.tags.empty() &&
      (!args.add_tags.empty() || !args.remove_tags.empty())) {
    return UsageError(
        "--tag replaces every tag; do not combine it with --add-tag or "
        "--remove-tag");
  }
  struct Repeated {
    const char* flag;
    const std::vector<std::string>& values;
  };
  for (const Repeated& r :
       {Repeated{"--tag", args.tags}, Repeated{"--add-tag", args.add_tags},
        Repeated{"--remove-tag", args.remove_tags},
        Repeated{"--remove-meta", args.remove_meta}}) {
    absl::Status s = CheckNotEmpty(r.flag, r.values);
    if (!s.ok()) return s;
  }
  if (std::optional<std::string> both =
          Common(args.add_tags, args.remove_tags)) {
    return UsageError(
        absl::StrCat("--add-tag and --remove-tag both name \"", *both, "\""));
  }
  if (!args.tags.empty()) changes.tags = args.tags;
  changes.add_tags = args.add_tags;
  changes.remove_tags = args.remove_tags;

  absl::StatusOr<std::map<std::string, std::string>> meta =
      ParseKeyValues("--meta", args.meta);
  if (!meta.ok()) return meta.status();
  for (const std::string& key : args.remove_meta) {
    if (meta->count(key) > 0) {
      return UsageError(
          absl::StrCat("--meta and --remove-meta both name key \"", key, "\""));
    }
  }
  changes.set_metadata = *std::move(meta);
  changes.remove_metadata = args.remove_meta;

  if (args.weight.has_value()) {
    absl::StatusOr<uint64_t> weight = ParseUnsigned(
        "--weight", *args.weight, 0, std::numeric_limits<uint32_t>::max());
    if (!weight.ok()) return weight.status();
    changes.weight = static_cast<uint32_t>(*weight);
  }
  changes.zone = args.zone;
  changes.version = args.version;
  return changes;
}

v1::RegisterRequest BuildUpdateRequest(const std::string& realm,
                                       const InstanceChanges& changes,
                                       const v1::Instance& current) {
  v1::RegisterRequest request;
  request.set_realm(realm);
  v1::Instance& instance = *request.mutable_instance();
  instance = current;
  // Register reads only the instance's own fields and refuses output-only
  // ones. They are cleared here rather than the input fields copied, so
  // that an input field added to the API later is kept, not reset.
  instance.clear_realm();
  instance.clear_health();
  instance.clear_admin_state();
  instance.clear_health_detail();
  instance.clear_registered_at();
  instance.clear_status_changed_at();
  instance.clear_last_heartbeat_at();
  instance.clear_create_revision();
  instance.clear_modify_revision();
  instance.clear_admin_reason();

  if (changes.tags.has_value()) {
    instance.clear_tags();
    std::set<std::string> seen;
    for (const std::string& tag : *changes.tags) {
      if (seen.insert(tag).second) instance.add_tags(tag);
    }
  }
  if (!changes.add_tags.empty() || !changes.remove_tags.empty()) {
    // Tags are a set: keep the order they had, add new ones at the end.
    std::vector<std::string> tags(instance.tags().begin(),
                                  instance.tags().end());
    for (const std::string& tag : changes.add_tags) {
      if (std::find(tags.begin(), tags.end(), tag) == tags.end()) {
        tags.push_back(tag);
      }
    }
    for (const std::string& tag : changes.remove_tags) {
      tags.erase(std::remove(tags.begin(), tags.end(), tag), tags.end());
    }
    instance.clear_tags();
    for (const std::string& tag : tags) instance.add_tags(tag);
  }
  auto& metadata = *instance.mutable_metadata();
  for (const auto& [key, value] : changes.set_metadata) metadata[key] = value;
  for (const std::string& key : changes.remove_metadata) metadata.erase(key);
  if (changes.weight.has_value()) instance.set_weight(*changes.weight);
  if (changes.zone.has_value()) instance.set_zone(*changes.zone);
  if (changes.version.has_value()) instance.set_version(*changes.version);
  return request;
}

}  // namespace muster::cli
