#include "registry/validation_rules.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace muster::registry::validation_rules {
namespace {

// RFC 1123 label length.
constexpr size_t kMaxLabelBytes = 63;
// Values up to this size are quoted in messages; longer ones are not, so
// that an error stays short enough to log and read.
constexpr size_t kMaxShownBytes = 64;

bool IsPrintableAscii(char c) {
  return static_cast<unsigned char>(c) >= 0x20 &&
         static_cast<unsigned char>(c) < 0x7f;
}

}  // namespace

std::string Fmt(absl::Duration d) { return absl::FormatDuration(d); }

std::string Shown(string_view value) {
  if (value.size() > kMaxShownBytes ||
      !std::all_of(value.begin(), value.end(), IsPrintableAscii)) {
    return "value";
  }
  return absl::StrCat(
      "\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

std::string ShownCharAt(string_view value, size_t i) {
  const auto u = static_cast<unsigned char>(value[i]);
  return IsPrintableAscii(value[i])
             ? absl::StrFormat("character '%c' at byte %d", u, i)
             : absl::StrFormat("character 0x%02x at byte %d", u, i);
}

std::string KeyPath(string_view prefix, string_view key) {
  return absl::StrCat(prefix, "[\"",
                      absl::CHexEscape(key.substr(0, kMaxShownBytes)),
                      key.size() > kMaxShownBytes ? "..." : "", "\"]");
}

absl::Status CheckBytes(string_view value, size_t min_bytes, size_t max_bytes,
                        string_view field, string_view subject) {
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

}  // namespace muster::registry::validation_rules
