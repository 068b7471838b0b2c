#include "cli/duration.h"

#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "cli/errors.h"

namespace muster::cli {
namespace {

struct Unit {
  const char* name;
  absl::Duration size;
};

// Longest names first so that "ms" is not read as "m" followed by "s".
const Unit kUnits[] = {
    {"ns", absl::Nanoseconds(1)},  {"us", absl::Microseconds(1)},
    {"ms", absl::Milliseconds(1)}, {"s", absl::Seconds(1)},
    {"m", absl::Minutes(1)},       {"h", absl::Hours(1)},
    {"d", absl::Hours(24)},
};

// Far beyond any limit of the API, and well inside absl::Duration's range.
constexpr absl::Duration kMaxDuration = absl::Hours(24 * 365 * 100);

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

absl::Status Invalid(const std::string& flag, const std::string& text,
                     const std::string& why) {
  return UsageError(absl::StrCat(flag, ": invalid duration \"", text,
                                 "\": ", why,
                                 " (write e.g. 500ms, 10s, 1m, 1h30m, 2d)"));
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(const std::string& flag,
                                             const std::string& text) {
  if (text.empty()) return Invalid(flag, text, "empty");
  if (text == "0") return absl::ZeroDuration();
  absl::Duration total = absl::ZeroDuration();
  size_t pos = 0;
  while (pos < text.size()) {
    // Integer part, then an optional fraction. Sixteen digits fit an int64
    // and are more than any duration here needs.
    size_t start = pos;
    int64_t whole = 0;
    while (pos < text.size() && IsDigit(text[pos])) {
      if (pos - start >= 16) return Invalid(flag, text, "number too long");
      whole = whole * 10 + (text[pos] - '0');
      ++pos;
    }
    bool has_whole = pos > start;
    int64_t frac = 0;
    int64_t frac_scale = 1;
    bool has_frac = false;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      size_t frac_start = pos;
      while (pos < text.size() && IsDigit(text[pos])) {
        if (pos - frac_start < 9) {
          frac = frac * 10 + (text[pos] - '0');
          frac_scale *= 10;
        }
        ++pos;
      }
      has_frac = pos > frac_start;
    }
    if (!has_whole && !has_frac) {
      if (text[start] == '-')
        return Invalid(flag, text, "must not be negative");
      return Invalid(flag, text, "expected a number");
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      std::string_view name(u.name);
      if (text.compare(pos, name.size(), name) == 0) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) {
      return Invalid(flag, text,
                     pos == text.size() ? "missing unit" : "unknown unit");
    }
    pos += std::string_view(unit->name).size();
    total += unit->size * whole;
    total += unit->size * frac / frac_scale;
    if (total > kMaxDuration) return Invalid(flag, text, "too large");
  }
  return total;
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

}  // namespace muster::cli
