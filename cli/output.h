#pragma once

// Output helpers shared by every command: names of enum values, ages and
// timestamps, colour, and proto -> JSON. Stateless and thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "explain/text.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "muster/v1/types.pb.h"

namespace muster::cli {

// Shared with the explanation (explain/text.h).
using explain::AdminStateName;
using explain::CheckKindName;
using explain::EventCauseName;
using explain::EventTypeName;
using explain::FormatAge;
using explain::FormatRfc3339;
using explain::FromProtoTimestamp;
using explain::HealthName;
using explain::IsRoutable;
using explain::OneLine;

enum class Format { kTable, kJson };
enum class Colour { kOff, kOn };

struct OutputOptions {
  Format format = Format::kTable;
  Colour colour = Colour::kOff;
};

// Whether colour is used: only on a terminal, and never when NO_COLOR is
// set (https://no-color.org).
enum class Terminal { kNo, kYes };
Colour ChooseColour(Terminal stdout_is_terminal, const char* no_color_env);

// `text` wrapped in the colour that goes with the health or admin state
// (green passing, yellow warning/draining, red critical, cyan starting),
// unchanged when colour is kOff.
std::string PaintHealth(const std::string& text, v1::Health health,
                        Colour colour);
std::string PaintAdminState(const std::string& text, v1::AdminState state,
                            Colour colour);

// One `watch` line for an event, columns padded to fixed widths:
//   REVISION  TIME  TYPE  CAUSE  SERVICE/ID  HEALTH  ADMIN  [REASON]
std::string FormatEventLine(const v1::Event& event, Colour colour);
// The header that goes above FormatEventLine lines.
std::string EventLineHeader();

// Proto3 JSON mapping with the default lowerCamelCase names; fields at
// their default value are printed too, so scripts always find them.
enum class JsonLayout { kPretty, kOneLine };
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   JsonLayout layout);
// `text` as a JSON string literal, quotes included.
std::string JsonQuote(const std::string& text);

// A JSON object for documents that combine several messages (status,
// explain). Members print in the order they were added, pretty-printed
// like ToJson's kPretty. Not thread-safe.
class JsonObject final {
 public:
  void AddString(const std::string& key, const std::string& value);
  void AddBool(const std::string& key, bool value);
  void AddStrings(const std::string& key,
                  const std::vector<std::string>& values);
  void AddObject(const std::string& key, const JsonObject& value);
  // INTERNAL if the message cannot be printed.
  absl::Status AddMessage(const std::string& key,
                          const google::protobuf::Message& value);

  std::string Print() const;

 private:
  // Key and the member's pretty JSON, at indentation zero.
  std::vector<std::pair<std::string, std::string>> members_;
};

}  // namespace muster::cli
