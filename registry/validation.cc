#include "registry/validation.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "registry/limits.h"

namespace muster::registry {
namespace {

using absl::string_view;

constexpr char kNamePattern[] = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
constexpr char kNameChars[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
constexpr char kAlnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// RFC 1123 label length.
constexpr size_t kMaxLabelBytes = 63;
// Values up to this size are quoted in messages; longer ones are not, so
// that an error stays short enough to log and read.
constexpr size_t kMaxShownBytes = 64;

// "<field>: <args...>" as INVALID_ARGUMENT.
template <typename... Args>
absl::Status Invalid(string_view field, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", args...));
}

std::string Fmt(absl::Duration d) { return absl::FormatDuration(d); }

bool IsPrintableAscii(char c) {
  return static_cast<unsigned char>(c) >= 0x20 &&
         static_cast<unsigned char>(c) < 0x7f;
}

// The value, quoted, when it is short and printable; else the word "value".
std::string Shown(string_view value) {
  if (value.size() > kMaxShownBytes ||
      !std::all_of(value.begin(), value.end(), IsPrintableAscii)) {
    return "value";
  }
  return absl::StrCat(
      "\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

// "character '/' at byte 3", or "character 0x01 at byte 3".
std::string ShownCharAt(string_view value, size_t i) {
  const auto u = static_cast<unsigned char>(value[i]);
  return IsPrintableAscii(value[i])
             ? absl::StrFormat("character '%c' at byte %d", u, i)
             : absl::StrFormat("character 0x%02x at byte %d", u, i);
}

// prefix["key"], the key escaped (it may hold any byte) and cut short.
std::string KeyPath(string_view prefix, string_view key) {
  return absl::StrCat(prefix, "[\"",
                      absl::CHexEscape(key.substr(0, kMaxShownBytes)),
                      key.size() > kMaxShownBytes ? "..." : "", "\"]");
}

// Refuses a value outside [min_bytes, max_bytes] bytes; min_bytes is 0 or
// 1. `subject` names the value ("key", "tag"); when empty an empty value
// "is required" and a long one is shown itself.
absl::Status CheckBytes(string_view value, size_t min_bytes, size_t max_bytes,
                        string_view field, string_view subject = "") {
  if (value.size() < min_bytes) {
    if (subject.empty()) return Invalid(field, "is required");
    return Invalid(field, subject, " must not be empty");
  }
  if (value.size() <= max_bytes) return absl::OkStatus();
  return Invalid(field, subject.empty() ? Shown(value) : std::string(subject),
                 " is ", value.size(), " bytes; at most ", max_bytes,
                 " allowed");
}

absl::Status CheckCount(size_t count, size_t max, string_view field,
                        string_view noun) {
  if (count <= max) return absl::OkStatus();
  return Invalid(field, count, " ", noun, "; at most ", max, " allowed");
}

absl::Status CheckRange(uint64_t value, uint64_t min, uint64_t max,
                        string_view field) {
  if (value >= min && value <= max) return absl::OkStatus();
  return Invalid(field, value, " is outside [", min, ", ", max, "]");
}

// An optional duration: zero is "unset"; else positive and in [min, max].
absl::Status CheckDuration(absl::Duration value, absl::Duration min,
                           absl::Duration max, string_view field) {
  if (value == absl::ZeroDuration()) return absl::OkStatus();
  if (value < absl::ZeroDuration()) {
    return Invalid(field, Fmt(value), " is negative");
  }
  if (value >= min && value <= max) return absl::OkStatus();
  return Invalid(field, Fmt(value), " is outside [", Fmt(min), ", ", Fmt(max),
                 "]");
}

// The one rule for control characters, applied to every string field a
// client sets: C0 controls (U+0000..U+001F, tab and newline included),
// DEL and UTF-8 encoded C1 controls (U+0080..U+009F) are refused. Fields
// with a narrower character set (names, ids, addresses) refuse them
// through that set.
absl::Status CheckNoControl(string_view value, string_view field,
                            string_view subject) {
  for (size_t i = 0; i < value.size(); ++i) {
    const auto u = static_cast<unsigned char>(value[i]);
    const auto next =
        static_cast<unsigned char>(i + 1 < value.size() ? value[i + 1] : 0);
    const bool c1 = u == 0xc2 && next >= 0x80 && next <= 0x9f;
    if (u < 0x20 || u == 0x7f || c1) {
      return Invalid(field, subject,
                     absl::StrFormat(" has control character U+%04X at byte %d",
                                     c1 ? next : u, i));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateHostname(string_view host, string_view field) {
  const std::string bad = absl::StrCat(Shown(host), " is not a valid hostname");
  for (string_view label : absl::StrSplit(host, '.')) {
    if (label.empty()) return Invalid(field, bad, ": empty label");
    if (label.size() > kMaxLabelBytes) {
      return Invalid(field, bad, ": a label is ", label.size(),
                     " bytes; at most ", kMaxLabelBytes, " allowed");
    }
    const size_t i = label.find_first_not_of(absl::StrCat(kAlnum, "-"));
    if (i != string_view::npos) {
      return Invalid(field, bad, ": ", ShownCharAt(label, i),
                     " of a label; labels use [A-Za-z0-9-]");
    }
    if (label.front() == '-' || label.back() == '-') {
      return Invalid(field, bad, ": a label starts or ends with '-'");
    }
  }
  return absl::OkStatus();
}

// An absolute http(s) URL with a non-empty host. The probe reports any
// other flaw (a bad port, say) in the check output.
absl::Status ValidateUrl(string_view url, string_view field) {
  RETURN_IF_ERROR(CheckBytes(url, 1, limits::kMaxUrlBytes, field, "url"));
  const size_t space = url.find_first_of(" \t\n\v\f\r");
  if (space != string_view::npos) {
    return Invalid(field, "url has whitespace at byte ", space);
  }
  RETURN_IF_ERROR(CheckNoControl(url, field, "url"));
  if (!absl::StartsWithIgnoreCase(url, "http://") &&
      !absl::StartsWithIgnoreCase(url, "https://")) {
    return Invalid(field, Shown(url),
                   " is not an absolute http:// or https:// url");
  }
  string_view authority = url.substr(url.find("://") + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  authority.remove_prefix(authority.rfind('@') + 1);  // npos + 1 == 0
  // Up to the port; a bracketed IPv6 literal is non-empty by its '['.
  if (authority.substr(0, authority.find(':')).empty()) {
    return Invalid(field, Shown(url), " has no host");
  }
  return absl::OkStatus();
}

absl::Status MustBeUnset(string_view field, CheckKind kind) {
  return Invalid(field, "must be unset for ", CheckKindName(kind), " checks");
}

// Durations and thresholds, and which of them the kind may set. NONE is
// never checked nor evicted, so its settings would silently do nothing.
absl::Status ValidateCheckTiming(const CheckSpec& check, string_view field) {
  const auto path = [field](string_view leaf) {
    return absl::StrCat(field, ".", leaf);
  };
  const CheckKind kind = check.kind;
  const bool probed = kind == CheckKind::kHttp || kind == CheckKind::kTcp ||
                      kind == CheckKind::kGrpc;
  const bool none = kind == CheckKind::kNone;
  const absl::Duration zero = absl::ZeroDuration();
  const struct {
    absl::Duration value, min, max;
    const char* leaf;
    bool used;
  } durations[] = {
      {check.interval, limits::kMinCheckInterval, limits::kMaxCheckInterval,
       "interval", probed},
      {check.timeout, limits::kMinCheckTimeout, limits::kMaxCheckTimeout,
       "timeout", probed},
      {check.ttl, limits::kMinTtl, limits::kMaxTtl, "ttl",
       kind == CheckKind::kTtl},
      {check.deregister_after, limits::kMinDeregisterAfter,
       limits::kMaxDeregisterAfter, "deregister_after", !none},
  };
  for (const auto& d : durations) {
    if (d.value != zero && !d.used) return MustBeUnset(path(d.leaf), kind);
    RETURN_IF_ERROR(CheckDuration(d.value, d.min, d.max, path(d.leaf)));
  }
  if (check.interval != zero && check.timeout >= check.interval) {
    return Invalid(path("timeout"), Fmt(check.timeout),
                   " must be shorter than interval ", Fmt(check.interval));
  }
  if (kind == CheckKind::kTtl && check.ttl == zero) {
    return Invalid(path("ttl"), "is required for ttl checks");
  }
  const std::pair<uint32_t, const char*> thresholds[] = {
      {check.healthy_threshold, "healthy_threshold"},
      {check.unhealthy_threshold, "unhealthy_threshold"}};
  for (const auto& [value, leaf] : thresholds) {
    if (value != 0 && none) return MustBeUnset(path(leaf), kind);
    if (value != 0) {
      RETURN_IF_ERROR(CheckRange(value, limits::kMinThreshold,
                                 limits::kMaxThreshold, path(leaf)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateHttpFields(const CheckSpec& check, string_view field) {
  const std::string headers_path = absl::StrCat(field, ".http_headers");
  if (check.kind != CheckKind::kHttp) {
    const std::pair<bool, const char*> set[] = {
        {!check.http_url.empty(), ".http_url"},
        {!check.http_method.empty(), ".http_method"},
        {!check.http_headers.empty(), ".http_headers"},
        {check.http_follow_redirects, ".http_follow_redirects"}};
    for (const auto& [is_set, leaf] : set) {
      if (is_set) return MustBeUnset(absl::StrCat(field, leaf), check.kind);
    }
    return absl::OkStatus();
  }
  const std::string url_path = absl::StrCat(field, ".http_url");
  if (check.http_url.empty()) {
    return Invalid(url_path, "is required for http checks");
  }
  RETURN_IF_ERROR(ValidateUrl(check.http_url, url_path));
  const string_view method = check.http_method;
  if (!method.empty() && method != "GET" && method != "HEAD" &&
      method != "POST") {
    return Invalid(absl::StrCat(field, ".http_method"), Shown(method),
                   " is not one of GET, HEAD, POST");
  }
  RETURN_IF_ERROR(CheckCount(check.http_headers.size(), limits::kMaxHttpHeaders,
                             headers_path, "headers"));
  for (const auto& [name, value] : check.http_headers) {
    const std::string path = KeyPath(headers_path, name);
    RETURN_IF_ERROR(
        CheckBytes(name, 1, limits::kMaxHttpHeaderNameBytes, path, "name"));
    // RFC 7230 token.
    if (name.find_first_not_of(absl::StrCat(kAlnum, "!#$%&'*+-.^_`|~")) !=
        std::string::npos) {
      return Invalid(path, "name is not a valid http token");
    }
    RETURN_IF_ERROR(
        CheckBytes(value, 0, limits::kMaxHttpHeaderValueBytes, path, "value"));
    RETURN_IF_ERROR(CheckNoControl(value, path, "value"));
  }
  return absl::OkStatus();
}

// The probe's TLS settings. TLS comes from the check itself (an https://
// URL, grpc_tls), so a setting that cannot take effect is refused rather
// than silently ignored.
absl::Status ValidateTlsFields(const CheckSpec& check, string_view field) {
  const std::string grpc_tls_path = absl::StrCat(field, ".grpc_tls");
  if (check.grpc_tls && check.kind != CheckKind::kGrpc) {
    return MustBeUnset(grpc_tls_path, check.kind);
  }
  const bool http = check.kind == CheckKind::kHttp;
  const bool tls =
      (http && absl::StartsWithIgnoreCase(check.http_url, "https://")) ||
      (check.kind == CheckKind::kGrpc && check.grpc_tls);
  const std::pair<bool, const char*> settings[] = {
      {check.tls_skip_verify, ".tls_skip_verify"},
      {!check.tls_server_name.empty(), ".tls_server_name"}};
  for (const auto& [is_set, leaf] : settings) {
    if (!is_set || tls) continue;
    const std::string path = absl::StrCat(field, leaf);
    if (http) {
      return Invalid(path, "needs TLS: use an https:// http_url");
    }
    if (check.kind == CheckKind::kGrpc) {
      return Invalid(path, "needs TLS: set grpc_tls");
    }
    return MustBeUnset(path, check.kind);
  }
  if (check.tls_server_name.empty()) return absl::OkStatus();
  const std::string name_path = absl::StrCat(field, ".tls_server_name");
  const string_view name = check.tls_server_name;
  RETURN_IF_ERROR(CheckBytes(name, 1, limits::kMaxAddressBytes, name_path));
  // SNI carries DNS names only (RFC 6066 3): an IP literal cannot be one.
  if (name.find(':') != string_view::npos ||
      name.find_first_not_of("0123456789.") == string_view::npos) {
    return Invalid(name_path, Shown(name),
                   " is an IP address; a server name is a DNS name");
  }
  return ValidateHostname(name, name_path);
}

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
  const CheckSpec& check = instance.check;
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
  RETURN_IF_ERROR(ValidateCheckSpec(instance.check, "instance.check"));
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

absl::Status ValidateCheckSpec(const CheckSpec& check, string_view field) {
  switch (check.kind) {
    case CheckKind::kNone:
    case CheckKind::kTtl:
    case CheckKind::kHttp:
    case CheckKind::kTcp:
    case CheckKind::kGrpc:
      break;
    default:
      return Invalid(absl::StrCat(field, ".kind"), "unknown check kind ",
                     static_cast<int>(check.kind));
  }
  RETURN_IF_ERROR(ValidateCheckTiming(check, field));
  RETURN_IF_ERROR(ValidateHttpFields(check, field));
  RETURN_IF_ERROR(ValidateTlsFields(check, field));
  const std::string grpc_path = absl::StrCat(field, ".grpc_service");
  if (check.kind != CheckKind::kGrpc && !check.grpc_service.empty()) {
    return MustBeUnset(grpc_path, check.kind);
  }
  RETURN_IF_ERROR(CheckBytes(check.grpc_service, 0,
                             limits::kMaxGrpcServiceBytes, grpc_path));
  return CheckNoControl(check.grpc_service, grpc_path, "service name");
}

absl::StatusOr<CheckSpec> ResolveCheckSpec(
    const CheckSpec& check, absl::Duration default_deregister_after,
    string_view field) {
  const absl::Duration zero = absl::ZeroDuration();
  if (default_deregister_after != zero &&
      (default_deregister_after < limits::kMinDeregisterAfter ||
       default_deregister_after > limits::kMaxDeregisterAfter)) {
    return absl::InternalError(absl::StrCat("default deregister_after ",
                                            Fmt(default_deregister_after),
                                            " is outside its limits"));
  }
  RETURN_IF_ERROR(ValidateCheckSpec(check, field));
  // Validation left nothing set on a NONE check.
  if (check.kind == CheckKind::kNone) return CheckSpec{};
  CheckSpec out = check;
  if (out.healthy_threshold == 0) {
    out.healthy_threshold = kDefaultHealthyThreshold;
  }
  if (out.unhealthy_threshold == 0) {
    out.unhealthy_threshold = kDefaultUnhealthyThreshold;
  }
  if (out.deregister_after == zero) {
    out.deregister_after = default_deregister_after != zero
                               ? default_deregister_after
                               : kDefaultDeregisterAfter;
  }
  if (out.kind == CheckKind::kTtl) return out;
  if (out.interval == zero) out.interval = kDefaultCheckInterval;
  if (out.timeout == zero) {
    out.timeout = std::min(kDefaultCheckTimeout, out.interval / 2);
  }
  if (out.timeout >= out.interval) {
    return Invalid(absl::StrCat(field, ".timeout"), Fmt(out.timeout),
                   " must be shorter than interval ", Fmt(out.interval),
                   check.interval == zero ? " (the default)" : "");
  }
  if (out.kind == CheckKind::kHttp && out.http_method.empty()) {
    out.http_method = "GET";
  }
  return out;
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
