// The rules of a check spec (ValidateCheckSpec) and the defaults it is
// completed with (ResolveCheckSpec); see registry/validation.h.

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "registry/limits.h"
#include "registry/validation.h"
#include "registry/validation_rules.h"

namespace muster::registry {
namespace {

using absl::string_view;
using validation_rules::CheckBytes;
using validation_rules::CheckCount;
using validation_rules::CheckDuration;
using validation_rules::CheckNoControl;
using validation_rules::CheckRange;
using validation_rules::Fmt;
using validation_rules::Invalid;
using validation_rules::kAlnum;
using validation_rules::KeyPath;
using validation_rules::Shown;
using validation_rules::ValidateHostname;

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

}  // namespace

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

}  // namespace muster::registry
