#pragma once

// The pieces every validation rule is made of (registry/validation.cc,
// registry/check_validation.cc): how a field's error reads and the checks
// of bytes, counts, ranges, durations, control characters and host names.
// Internal to the registry core.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace muster::registry::validation_rules {

using absl::string_view;

inline constexpr char kAlnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// "<field>: <args...>" as INVALID_ARGUMENT.
template <typename... Args>
absl::Status Invalid(string_view field, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", args...));
}

std::string Fmt(absl::Duration d);
// The value, quoted, when it is short and printable; else the word "value".
std::string Shown(string_view value);
// "character '/' at byte 3", or "character 0x01 at byte 3".
std::string ShownCharAt(string_view value, size_t i);
// prefix["key"], the key escaped (it may hold any byte) and cut short.
std::string KeyPath(string_view prefix, string_view key);

// Refuses a value outside [min_bytes, max_bytes] bytes; min_bytes is 0 or
// 1. `subject` names the value ("key", "tag"); when empty an empty value
// "is required" and a long one is shown itself.
absl::Status CheckBytes(string_view value, size_t min_bytes, size_t max_bytes,
                        string_view field, string_view subject = "");
absl::Status CheckCount(size_t count, size_t max, string_view field,
                        string_view noun);
absl::Status CheckRange(uint64_t value, uint64_t min, uint64_t max,
                        string_view field);
// An optional duration: zero is "unset"; else positive and in [min, max].
absl::Status CheckDuration(absl::Duration value, absl::Duration min,
                           absl::Duration max, string_view field);
// The one rule for control characters, applied to every string field a
// client sets: C0 controls (U+0000..U+001F, tab and newline included),
// DEL and UTF-8 encoded C1 controls (U+0080..U+009F) are refused.
absl::Status CheckNoControl(string_view value, string_view field,
                            string_view subject);
// RFC 1123: dot-separated labels of 1..63 bytes of [A-Za-z0-9-], not
// starting or ending with '-'.
absl::Status ValidateHostname(string_view host, string_view field);

}  // namespace muster::registry::validation_rules
