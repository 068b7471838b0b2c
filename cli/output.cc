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
