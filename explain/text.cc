#include "explain/text.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace muster::explain {
namespace {

// "HEALTH_PASSING" -> "PASSING"; "-" for the zero value.
std::string Strip(const std::string& name, absl::string_view prefix,
                  int value) {
  if (value == 0 || name.empty()) return "-";
  absl::string_view view(name);
  if (view.substr(0, prefix.size()) == prefix)
    view.remove_prefix(prefix.size());
  return std::string(view);
}

std::string Coarse(absl::Duration d) {
  if (d < absl::Minutes(1)) return absl::StrCat(absl::ToInt64Seconds(d), "s");
  if (d < absl::Hours(1)) return absl::StrCat(absl::ToInt64Minutes(d), "m");
  if (d < absl::Hours(24)) return absl::StrCat(absl::ToInt64Hours(d), "h");
  return absl::StrCat(absl::ToInt64Hours(d) / 24, "d");
}

// Length of the valid UTF-8 sequence that starts at text[i] (0 when the
// bytes there are not one: a stray continuation byte, a truncated or
// overlong sequence, a surrogate or a code point above U+10FFFF); its code
// point goes to `code_point`.
size_t Utf8SequenceAt(std::string_view text, size_t i, uint32_t& code_point) {
  const auto lead = static_cast<unsigned char>(text[i]);
  size_t length = 0;
  uint32_t min = 0;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    min = 0x80;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    min = 0x800;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    min = 0x10000;
    code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() - i < length) return 0;
  for (size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[i + k]);
    if ((next & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  if (code_point < min || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

void AppendHexEscapes(std::string& out, std::string_view bytes) {
  for (char c : bytes) {
    absl::StrAppend(&out, "\\x",
                    absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
  }
}

}  // namespace

std::string HealthName(v1::Health health) {
  return Strip(v1::Health_Name(health), "HEALTH_", health);
}

std::string AdminStateName(v1::AdminState state) {
  return Strip(v1::AdminState_Name(state), "ADMIN_STATE_", state);
}

std::string CheckKindName(v1::CheckKind kind) {
  if (kind == v1::CHECK_KIND_UNSPECIFIED) return "NONE";
  return Strip(v1::CheckKind_Name(kind), "CHECK_KIND_", kind);
}

std::string EventTypeName(v1::Event::Type type) {
  return Strip(v1::Event::Type_Name(type), "", type);
}

std::string EventCauseName(v1::Event::Cause cause) {
  return Strip(v1::Event::Cause_Name(cause), "", cause);
}

bool IsRoutable(const v1::Instance& instance) {
  return instance.admin_state() == v1::ADMIN_STATE_ENABLED &&
         (instance.health() == v1::HEALTH_PASSING ||
          instance.health() == v1::HEALTH_WARNING);
}

std::optional<absl::Time> FromProtoTimestamp(
    const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return std::nullopt;
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string FormatAge(absl::Time then, absl::Time now) {
  absl::Duration d = now - then;
  if (d < absl::ZeroDuration()) {
    if (-d < absl::Seconds(1)) return "just now";
    return absl::StrCat("in ", Coarse(-d));
  }
  if (d < absl::Seconds(1)) return "just now";
  return absl::StrCat(Coarse(d), " ago");
}

std::string FormatAge(const google::protobuf::Timestamp& then, absl::Time now) {
  std::optional<absl::Time> t = FromProtoTimestamp(then);
  return t.has_value() ? FormatAge(*t, now) : "-";
}

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string FormatRfc3339(const google::protobuf::Timestamp& t) {
  std::optional<absl::Time> time = FromProtoTimestamp(t);
  return time.has_value() ? FormatRfc3339(*time) : "-";
}

std::string OneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint32_t code_point = 0;
    size_t length = Utf8SequenceAt(text, i, code_point);
    if (length == 0) {
      AppendHexEscapes(out, text.substr(i, 1));
      ++i;
      continue;
    }
    switch (code_point) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (code_point < 0x20 || (code_point >= 0x7F && code_point < 0xA0)) {
          AppendHexEscapes(out, text.substr(i, length));
        } else {
          out.append(text.substr(i, length));
        }
    }
    i += length;
  }
  return out;
}

std::string FormatCompactDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return "-" + FormatCompactDuration(-d);
  d = absl::Trunc(d, absl::Milliseconds(1));
  if (d == absl::ZeroDuration()) return "0s";
  struct Part {
    absl::Duration size;
    const char* suffix;
  };
  static const Part kParts[] = {{absl::Hours(24), "d"},
                                {absl::Hours(1), "h"},
                                {absl::Minutes(1), "m"},
                                {absl::Seconds(1), "s"},
                                {absl::Milliseconds(1), "ms"}};
  std::string out;
  for (const Part& part : kParts) {
    int64_t n = absl::IDivDuration(d, part.size, &d);
    if (n > 0) absl::StrAppend(&out, n, part.suffix);
  }
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace muster::explain
