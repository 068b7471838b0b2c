#include "cli/errors.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace muster::cli {
namespace {

constexpr char kClassPayload[] = "type.muster.dev/muster.cli.ErrorClass";
constexpr char kUsage[] = "usage";
constexpr char kUnreachable[] = "unreachable";
// An ExitCodeError's payload is this prefix and the code: "exit:127".
constexpr char kExitPrefix[] = "exit:";

absl::Status Tagged(absl::StatusCode code, std::string_view message,
                    const std::string& error_class) {
  absl::Status status(code, absl::string_view(message.data(), message.size()));
  status.SetPayload(kClassPayload, absl::Cord(error_class));
  return status;
}

}  // namespace

absl::Status UsageError(std::string_view message) {
  return Tagged(absl::StatusCode::kInvalidArgument, message, kUsage);
}

absl::Status UnreachableError(std::string_view address,
                              std::string_view detail) {
  std::string message =
      absl::StrCat("cannot reach musterd at ",
                   absl::string_view(address.data(), address.size()), " (",
                   absl::string_view(detail.data(), detail.size()),
                   "); is it running? Set --addr or MUSTER_ADDR");
  return Tagged(absl::StatusCode::kUnavailable, message, kUnreachable);
}

absl::Status ExitCodeError(int code, std::string_view message) {
  return Tagged(absl::StatusCode::kUnknown, message,
                absl::StrCat(kExitPrefix, code).c_str());
}

namespace {

// The code of an ExitCodeError; nullopt for any other status.
std::optional<int> ExitCodeOf(const absl::Status& status) {
  auto payload = status.GetPayload(kClassPayload);
  if (!payload.has_value()) return std::nullopt;
  std::string text(*payload);
  if (!absl::StartsWith(text, kExitPrefix)) return std::nullopt;
  int code = 0;
  if (!absl::SimpleAtoi(text.substr(sizeof(kExitPrefix) - 1), &code)) {
    return std::nullopt;
  }
  return code;
}

}  // namespace

ErrorClass ClassOf(const absl::Status& status) {
  if (status.ok()) return ErrorClass::kOk;
  auto payload = status.GetPayload(kClassPayload);  // absl::optional here
  if (payload.has_value()) {
    if (*payload == kUsage) return ErrorClass::kUsage;
    if (*payload == kUnreachable) return ErrorClass::kUnreachable;
  }
  if (ExitCodeOf(status).has_value()) return ErrorClass::kExitCode;
  return ErrorClass::kServer;
}

int ExitCodeFor(const absl::Status& status) {
  switch (ClassOf(status)) {
    case ErrorClass::kOk:
      return kExitOk;
    case ErrorClass::kUsage:
      return kExitUsage;
    case ErrorClass::kUnreachable:
      return kExitUnreachable;
    case ErrorClass::kExitCode:
      return *ExitCodeOf(status);
    case ErrorClass::kServer:
      break;
  }
  return kExitServerError;
}

std::string ErrorLine(const absl::Status& status) {
  switch (ClassOf(status)) {
    case ErrorClass::kExitCode:
      if (status.message().empty()) return "";
      return absl::StrCat("musterctl: ", status.message());
    case ErrorClass::kUsage:
    case ErrorClass::kUnreachable:
      return absl::StrCat("musterctl: ", status.message());
    case ErrorClass::kOk:
    case ErrorClass::kServer:
      break;
  }
  return absl::StrCat("musterctl: ", absl::StatusCodeToString(status.code()),
                      ": ", status.message());
}

}  // namespace muster::cli
