#include "cli/output.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "cli/table.h"
#include "google/protobuf/util/json_util.h"

namespace muster::cli {
namespace {

constexpr char kGreen[] = "\x1b[32m";
constexpr char kYellow[] = "\x1b[33m";
constexpr char kRed[] = "\x1b[31m";
constexpr char kCyan[] = "\x1b[36m";
constexpr char kReset[] = "\x1b[0m";

std::string Paint(const std::string& text, const char* code, Colour colour) {
  if (colour == Colour::kOff || code == nullptr) return text;
  return absl::StrCat(code, text, kReset);
}

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

std::string Pad(std::string text, size_t width) {
  for (size_t w = VisibleWidth(text); w < width; ++w) text += ' ';
  return text;
}

// Column widths of a watch line; a wider value pushes the rest along.
constexpr size_t kRevisionWidth = 10;
constexpr size_t kTimeWidth = 22;
constexpr size_t kTypeWidth = 8;
constexpr size_t kCauseWidth = 16;
constexpr size_t kInstanceWidth = 28;
constexpr size_t kHealthWidth = 10;

}  // namespace

Colour ChooseColour(Terminal stdout_is_terminal, const char* no_color_env) {
  if (stdout_is_terminal == Terminal::kNo) return Colour::kOff;
  if (no_color_env != nullptr && no_color_env[0] != '\0') return Colour::kOff;
  return Colour::kOn;
}

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

std::string PaintHealth(const std::string& text, v1::Health health,
                        Colour colour) {
  const char* code = nullptr;
  switch (health) {
    case v1::HEALTH_PASSING:
      code = kGreen;
      break;
    case v1::HEALTH_WARNING:
      code = kYellow;
      break;
    case v1::HEALTH_CRITICAL:
      code = kRed;
      break;
    case v1::HEALTH_STARTING:
      code = kCyan;
      break;
    default:
      break;
  }
  return Paint(text, code, colour);
}

std::string PaintAdminState(const std::string& text, v1::AdminState state,
                            Colour colour) {
  return Paint(text, state == v1::ADMIN_STATE_DRAINING ? kYellow : nullptr,
               colour);
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

std::string FormatEventLine(const v1::Event& event, Colour colour) {
  const v1::Instance& i = event.instance();
  std::string line =
      absl::StrCat(Pad(absl::StrCat(event.revision()), kRevisionWidth),
                   Pad(FormatRfc3339(event.time()), kTimeWidth),
                   Pad(EventTypeName(event.type()), kTypeWidth),
                   Pad(EventCauseName(event.cause()), kCauseWidth),
                   Pad(absl::StrCat(i.service(), "/", i.id()), kInstanceWidth),
                   Pad(PaintHealth(HealthName(i.health()), i.health(), colour),
                       kHealthWidth),
                   PaintAdminState(AdminStateName(i.admin_state()),
                                   i.admin_state(), colour));
  if (!event.reason().empty()) {
    absl::StrAppend(&line, "  ", OneLine(event.reason()));
  }
  if (!event.actor().empty()) {
    absl::StrAppend(&line, "  by ", OneLine(event.actor()));
  }
  return line;
}

std::string EventLineHeader() {
  std::string line = absl::StrCat(
      Pad("REVISION", kRevisionWidth), Pad("TIME", kTimeWidth),
      Pad("TYPE", kTypeWidth), Pad("CAUSE", kCauseWidth),
      Pad("INSTANCE", kInstanceWidth), Pad("HEALTH", kHealthWidth), "ADMIN");
  return line;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   JsonLayout layout) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = layout == JsonLayout::kPretty;
  options.always_print_primitive_fields = true;
  std::string json;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ",
                                            message.GetTypeName(),
                                            " as JSON: ", status.ToString()));
  }
  // add_whitespace ends the document with a newline; one-line output must
  // not.
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

std::string JsonQuote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00",
                          absl::Hex(static_cast<int>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

void JsonObject::AddString(const std::string& key, const std::string& value) {
  members_.emplace_back(key, JsonQuote(value));
}

void JsonObject::AddBool(const std::string& key, bool value) {
  members_.emplace_back(key, value ? "true" : "false");
}

void JsonObject::AddStrings(const std::string& key,
                            const std::vector<std::string>& values) {
  if (values.empty()) {
    members_.emplace_back(key, "[]");
    return;
  }
  std::string array = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    absl::StrAppend(&array, i == 0 ? "\n " : ",\n ", JsonQuote(values[i]));
  }
  array += "\n]";
  members_.emplace_back(key, array);
}

void JsonObject::AddObject(const std::string& key, const JsonObject& value) {
  members_.emplace_back(key, value.Print());
}

absl::Status JsonObject::AddMessage(const std::string& key,
                                    const google::protobuf::Message& value) {
  absl::StatusOr<std::string> json = ToJson(value, JsonLayout::kPretty);
  if (!json.ok()) return json.status();
  members_.emplace_back(key, *std::move(json));
  return absl::OkStatus();
}

std::string JsonObject::Print() const {
  if (members_.empty()) return "{}";
  std::string out = "{";
  for (size_t i = 0; i < members_.size(); ++i) {
    // Nested values move one level (one space, as protobuf indents) in.
    std::string value =
        absl::StrReplaceAll(members_[i].second, {{"\n", "\n "}});
    absl::StrAppend(&out, i == 0 ? "\n " : ",\n ", JsonQuote(members_[i].first),
                    ": ", value);
  }
  out += "\n}";
  return out;
}

}  // namespace muster::cli
