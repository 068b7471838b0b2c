#include "cli/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace muster::cli {
namespace {

constexpr char kClassPayload[] = "type.muster.dev/muster.cli.ErrorClass";
constexpr char kUsage[] = "usage";
constexpr char kUnreachable[] = "unreachable";

absl::Status Tagged(absl::StatusCode code, std::string_view message,
                    const char* error_class) {
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

ErrorClass ClassOf(const absl::Status& status) {
  if (status.ok()) return ErrorClass::kOk;
  auto payload = status.GetPayload(kClassPayload);  // absl::optional here
  if (payload.has_value()) {
    if (*payload == kUsage) return ErrorClass::kUsage;
    if (*payload == kUnreachable) return ErrorClass::kUnreachable;
  }
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
    case ErrorClass::kServer:
      break;
  }
  return kExitServerError;
}

std::string ErrorLine(const absl::Status& status) {
  switch (ClassOf(status)) {
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
