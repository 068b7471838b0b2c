#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "checkapi/check_spec.h"
#include "registry/model.h"

// Request validation: every rule a request must satisfy before the
// registry writes anything. The limits live in registry/limits.h.
//
// Every failure is INVALID_ARGUMENT (unless stated otherwise) with a
// lowercase message that starts with the field path, as named in
// proto/muster/v1, then the rule broken:
//   instance.metadata["owner"]: value is 600 bytes; at most 512 allowed
//   realm: "Prod" does not match [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?
// A value is quoted in the message only when it is short and printable.
// Validation stops at the first broken rule.
//
// Thread-safety: every function is pure and may be called concurrently.
namespace muster::registry {

// Checks a realm, service or zone name against
// [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?. `field` is the path used in the
// message ("realm", "instance.service", ...). An empty name is refused:
// callers map an empty realm to "default" and skip optional empty names
// before calling.
absl::Status ValidateName(absl::string_view value, absl::string_view field);

// Checks an instance id: 1..limits::kMaxInstanceIdBytes bytes of
// [A-Za-z0-9._:-].
absl::Status ValidateInstanceId(absl::string_view id, absl::string_view field);

// Checks an instance address: 1..limits::kMaxAddressBytes bytes, and an
// IPv4 literal (dotted quad), an IPv6 literal (no brackets, no zone id) or
// an RFC 1123 hostname (dot-separated labels of 1..63 bytes of
// [A-Za-z0-9-], not starting or ending with '-', no trailing dot). A name
// made only of digits and dots must be a valid IPv4 literal.
absl::Status ValidateAddress(absl::string_view address,
                             absl::string_view field);

// Checks the client-settable fields of a Register request, as converted
// to the model: service (required), id (empty means "the server generates
// one"), address, port, tags, metadata, weight, zone (optional), version,
// the check (via ValidateCheckSpec under "instance.check") and the total
// size: the bytes of every string field listed here plus `realm` must not
// exceed limits::kMaxInstanceBytes. Field paths are the proto's:
// "instance.tags[3]", "instance.metadata[\"owner\"]", "instance.check.ttl".
// `instance.realm` and the output-only fields are not checked here: the
// caller validates the request's realm with ValidateName(realm, "realm").
// Tags are taken in the client's order, so "instance.tags[i]" is the
// index the client sent. Duplicate tags are not an error (tags are a
// set): the tag limit and the size total count each distinct tag once.
absl::Status ValidateRegistration(const Instance& instance);

// Puts a registration in the form the registry stores and compares
// (Instance::SameRegistration, the index): tags sorted and unique,
// metadata sorted by key. Call after ValidateRegistration.
void NormalizeRegistration(Instance& instance);

// Checks a check spec as a client sends it. `field` prefixes every path
// ("instance.check" gives "instance.check.interval"). A zero duration or
// threshold means "unset, use the default". Rules:
// - `kind` is one of the CheckKind values;
// - durations are never negative; when set, interval, timeout, ttl and
//   deregister_after lie within their limits::kMin*/kMax* bounds and
//   thresholds within [kMinThreshold, kMaxThreshold];
// - when interval and timeout are both set, timeout < interval;
// - TTL needs `ttl`; no other kind may set it;
// - TTL and NONE set neither interval nor timeout; NONE sets no
//   threshold and no deregister_after either (it is never checked);
// - HTTP needs an absolute http:// or https:// `http_url` with a host
//   (<= kMaxUrlBytes, no whitespace or control characters), an
//   `http_method` of "", GET, HEAD or POST, at most kMaxHttpHeaders
//   headers whose names are HTTP tokens of <= kMaxHttpHeaderNameBytes
//   and whose values have <= kMaxHttpHeaderValueBytes and no CR, LF or
//   NUL; no other kind may set an http_* field;
// - only GRPC may set `grpc_service`, <= kMaxGrpcServiceBytes;
// - only GRPC may set `grpc_tls`; `tls_skip_verify` and `tls_server_name`
//   need TLS (HTTP with an https:// url, or GRPC with grpc_tls);
//   `tls_server_name` is a hostname (<= kMaxAddressBytes), not an IP.
absl::Status ValidateCheckSpec(const CheckSpec& check, absl::string_view field);

// Validates `check` (as ValidateCheckSpec) and returns it with every
// unset field its kind uses filled from the defaults in check_spec.h:
// interval, timeout = min(kDefaultCheckTimeout, interval / 2), the
// thresholds, deregister_after (`default_deregister_after` when non-zero,
// else kDefaultDeregisterAfter) and, for HTTP, http_method "GET". TTL
// keeps interval and timeout zero; NONE comes back with every field zero
// or empty. After filling, timeout must be shorter than interval (an
// error names "<field>.timeout"). Idempotent: resolving a resolved spec
// returns it unchanged.
// REQUIRES: `default_deregister_after` is zero or within
// [kMinDeregisterAfter, kMaxDeregisterAfter] (ValidateRealmSettings
// guarantees it for realm settings); otherwise returns INTERNAL.
absl::StatusOr<CheckSpec> ResolveCheckSpec(
    const CheckSpec& check, absl::Duration default_deregister_after,
    absl::string_view field);

// Checks a realm as given to CreateRealm/UpdateRealm: `name` (realm name
// rule), "settings.description" <= kMaxDescriptionBytes,
// "settings.eviction_protection_share" in [0, 1] (0 = daemon default; NaN
// refused) and "settings.default_deregister_after" zero (= daemon
// default) or within [kMinDeregisterAfter, kMaxDeregisterAfter].
absl::Status ValidateRealmSettings(const Realm& realm);

// Checks a ListInstances query: `realm` (required), `service` and `zone`
// (name rule when non-empty), at most kMaxFilterTags non-empty "tags[i]",
// at most kMaxFilterMetadata "metadata[\"k\"]" pairs with non-empty keys,
// and `page_size` <= kMaxPageSize (0 = default). The page token is opaque
// here; the index checks it.
absl::Status ValidateListQuery(const ListQuery& query);

// Checks a page size: 0 (the method's default) to limits::kMaxPageSize.
absl::Status ValidatePageSize(uint32_t page_size, absl::string_view field);

// Checks an operator's free-text reason (SetAdminState): at most
// limits::kMaxReasonBytes and no control characters at all (not even
// newline or tab). Empty is allowed.
absl::Status ValidateReason(absl::string_view reason, absl::string_view field);

// Returns the longest prefix of `text` of at most `max_bytes` bytes that
// does not end inside a UTF-8 character (check output is capped this way
// at limits::kMaxCheckOutputBytes). If `text` is valid UTF-8, so is the
// result. Never fails.
std::string TruncateUtf8(absl::string_view text, size_t max_bytes);

}  // namespace muster::registry
