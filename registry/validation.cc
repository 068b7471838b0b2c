#include "registry/validation.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "registry/limits.h"
#include "registry/validation_rules.h"

namespace muster::registry {
namespace {

using absl::string_view;
using validation_rules::CheckBytes;
using validation_rules::CheckCount;
using validation_rules::CheckDuration;
using validation_rules::CheckNoControl;
using validation_rules::CheckRange;
using validation_rules::Invalid;
using validation_rules::kAlnum;
using validation_rules::KeyPath;
using validation_rules::Shown;
using validation_rules::ShownCharAt;
using validation_rules::ValidateHostname;

constexpr char kNamePattern[] = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
constexpr char kNameChars[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
// The tags as the set they stand for: sorted, each once.
std::vector<string_view> DistinctTags(const std::vector<std::string>& tags) {
  std::vector<string_view> distinct(tags.begin(), tags.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  return distinct;
}

absl::Status ValidateTagsAndMetadata(const Instance& instance) {
  // Tags are a set: a repeated tag counts once. Paths name the index the
  // client sent.
  if (instance.tags.size() > limits::kMaxTags) {
    RETURN_IF_ERROR(CheckCount(DistinctTags(instance.tags).size(),
                               limits::kMaxTags, "instance.tags", "tags"));
  }
  for (size_t i = 0; i < instance.tags.size(); ++i) {
    const std::string path = absl::StrCat("instance.tags[", i, "]");
    const std::string& tag = instance.tags[i];
    RETURN_IF_ERROR(CheckBytes(tag, 1, limits::kMaxTagBytes, path, "tag"));
    RETURN_IF_ERROR(CheckNoControl(tag, path, "tag"));
  }
  RETURN_IF_ERROR(CheckCount(instance.metadata.size(),
                             limits::kMaxMetadataPairs, "instance.metadata",
                             "pairs"));
  for (const auto& [key, value] : instance.metadata) {
    const std::string path = KeyPath("instance.metadata", key);
    RETURN_IF_ERROR(
        CheckBytes(key, 1, limits::kMaxMetadataKeyBytes, path, "key"));
    RETURN_IF_ERROR(CheckNoControl(key, path, "key"));
    RETURN_IF_ERROR(
        CheckBytes(value, 0, limits::kMaxMetadataValueBytes, path, "value"));
    RETURN_IF_ERROR(CheckNoControl(value, path, "value"));
  }
  return absl::OkStatus();
}

// Bytes of every string a client registers (see ValidateRegistration).
size_t RegistrationBytes(const Instance& instance) {
  const CheckSpec& check = instance.check();
  size_t total = instance.realm.size() + instance.service.size() +
                 instance.id.size() + instance.address.size() +
                 instance.zone.size() + instance.version.size() +
                 check.http_url.size() + check.http_method.size() +
                 check.grpc_service.size() + check.tls_server_name.size();
  for (string_view tag : DistinctTags(instance.tags)) total += tag.size();
  for (const auto* pairs : {&instance.metadata, &check.http_headers}) {
    for (const auto& [key, value] : *pairs) total += key.size() + value.size();
  }
  return total;
}

}  // namespace

absl::Status ValidateName(string_view value, string_view field) {
  RETURN_IF_ERROR(CheckBytes(value, 1, limits::kMaxNameBytes, field));
  if (value.find_first_not_of(kNameChars) != string_view::npos ||
      value.front() == '-' || value.back() == '-') {
    return Invalid(field, Shown(value), " does not match ", kNamePattern);
  }
  return absl::OkStatus();
}

absl::Status ValidateInstanceId(string_view id, string_view field) {
  RETURN_IF_ERROR(CheckBytes(id, 1, limits::kMaxInstanceIdBytes, field));
  const size_t i = id.find_first_not_of(absl::StrCat(kAlnum, "._:-"));
  if (i == string_view::npos) return absl::OkStatus();
  return Invalid(field, Shown(id), " has ", ShownCharAt(id, i),
                 "; allowed are [A-Za-z0-9._:-]");
}

absl::Status ValidateAddress(string_view address, string_view field) {
  RETURN_IF_ERROR(CheckBytes(address, 1, limits::kMaxAddressBytes, field));
  // inet_pton reads a C string: the character sets keep a NUL byte from
  // cutting the address short.
  const std::string text(address);
  if (absl::StrContains(address, ':')) {
    in6_addr ip6;
    if (address.find_first_not_of("0123456789abcdefABCDEF:.") ==
            string_view::npos &&
        inet_pton(AF_INET6, text.c_str(), &ip6) == 1) {
      return absl::OkStatus();
    }
    return Invalid(field, Shown(address), " is not a valid IPv6 address");
  }
  // RFC 1123 2.1: a hostname never looks like a dotted number.
  if (address.find_first_not_of("0123456789.") == string_view::npos) {
    in_addr ip4;
    if (inet_pton(AF_INET, text.c_str(), &ip4) == 1) return absl::OkStatus();
    return Invalid(field, Shown(address), " is not a valid IPv4 address");
  }
  return ValidateHostname(address, field);
}

absl::Status ValidateRegistration(const Instance& instance) {
  RETURN_IF_ERROR(ValidateName(instance.service, "instance.service"));
  if (!instance.id.empty()) {
    RETURN_IF_ERROR(ValidateInstanceId(instance.id, "instance.id"));
  }
  RETURN_IF_ERROR(ValidateAddress(instance.address, "instance.address"));
  RETURN_IF_ERROR(CheckRange(instance.port, limits::kMinPort, limits::kMaxPort,
                             "instance.port"));
  RETURN_IF_ERROR(ValidateTagsAndMetadata(instance));
  RETURN_IF_ERROR(
      CheckRange(instance.weight, 0, limits::kMaxWeight, "instance.weight"));
  if (!instance.zone.empty()) {
    RETURN_IF_ERROR(ValidateName(instance.zone, "instance.zone"));
  }
  RETURN_IF_ERROR(CheckBytes(instance.version, 0, limits::kMaxVersionBytes,
                             "instance.version"));
  RETURN_IF_ERROR(
      CheckNoControl(instance.version, "instance.version", "version"));
  RETURN_IF_ERROR(ValidateCheckSpec(instance.check(), "instance.check"));
  const size_t total = RegistrationBytes(instance);
  if (total > limits::kMaxInstanceBytes) {
    return Invalid("instance", "strings total ", total, " bytes; at most ",
                   limits::kMaxInstanceBytes, " allowed");
  }
  return absl::OkStatus();
}

void NormalizeRegistration(Instance& instance) {
  std::vector<std::string>& tags = instance.tags;
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  std::sort(instance.metadata.begin(), instance.metadata.end());
}

absl::Status ValidateRealmSettings(const Realm& realm) {
  RETURN_IF_ERROR(ValidateName(realm.name, "name"));
  RETURN_IF_ERROR(CheckBytes(realm.description, 0, limits::kMaxDescriptionBytes,
                             "settings.description", "description"));
  RETURN_IF_ERROR(
      CheckNoControl(realm.description, "settings.description", "description"));
  const double share = realm.eviction_protection_share;
  if (std::isnan(share) || share < 0 || share > 1) {
    return Invalid("settings.eviction_protection_share", share,
                   " is outside [0, 1]");
  }
  return CheckDuration(realm.default_deregister_after,
                       limits::kMinDeregisterAfter, limits::kMaxDeregisterAfter,
                       "settings.default_deregister_after");
}

absl::Status ValidateListQuery(const ListQuery& query) {
  RETURN_IF_ERROR(ValidateName(query.realm, "realm"));
  if (!query.service.empty()) {
    RETURN_IF_ERROR(ValidateName(query.service, "service"));
  }
  RETURN_IF_ERROR(
      CheckCount(query.tags.size(), limits::kMaxFilterTags, "tags", "tags"));
  for (size_t i = 0; i < query.tags.size(); ++i) {
    const std::string path = absl::StrCat("tags[", i, "]");
    if (query.tags[i].empty()) return Invalid(path, "tag must not be empty");
    RETURN_IF_ERROR(CheckNoControl(query.tags[i], path, "tag"));
  }
  RETURN_IF_ERROR(CheckCount(query.metadata.size(), limits::kMaxFilterMetadata,
                             "metadata", "pairs"));
  for (const auto& [key, value] : query.metadata) {
    const std::string path = KeyPath("metadata", key);
    if (key.empty()) return Invalid(path, "key must not be empty");
    RETURN_IF_ERROR(CheckNoControl(key, path, "key"));
    RETURN_IF_ERROR(CheckNoControl(value, path, "value"));
  }
  if (!query.zone.empty()) RETURN_IF_ERROR(ValidateName(query.zone, "zone"));
  return ValidatePageSize(query.page_size, "page_size");
}

absl::Status ValidatePageSize(uint32_t page_size, string_view field) {
  return CheckRange(page_size, 0, limits::kMaxPageSize, field);
}

absl::Status ValidateReason(string_view reason, string_view field) {
  RETURN_IF_ERROR(
      CheckBytes(reason, 0, limits::kMaxReasonBytes, field, "text"));
  return CheckNoControl(reason, field, "text");
}

std::string TruncateUtf8(string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  // text[cut] is the first byte dropped. While it continues a character
  // begun before the cut, drop that character too. A character has at most
  // three continuation bytes; stopping there keeps malformed input from
  // being eaten whole.
  size_t cut = max_bytes;
  while (cut > 0 && max_bytes - cut < 3 &&
         (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) {
    --cut;
  }
  return std::string(text.substr(0, cut));
}

}  // namespace muster::registry
