#pragma once

// How musterctl classifies a failure, and how main turns it into an exit
// code. The class travels as a payload of the absl::Status itself, so any
// layer can return a Status and only cli/main.cc converts it.

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace muster::cli {

// Exit codes of musterctl; documented in --help and cli/README.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;  // the daemon refused or failed
inline constexpr int kExitUsage = 2;        // bad flags or values; nothing sent
inline constexpr int kExitUnreachable = 3;  // the daemon could not be reached

enum class ErrorClass { kOk, kServer, kUsage, kUnreachable, kExitCode };

// A bad command line or flag value, found before anything was sent.
// The code is INVALID_ARGUMENT.
absl::Status UsageError(std::string_view message);

// The daemon at `address` could not be reached; `detail` says what the
// transport reported. The code is UNAVAILABLE.
absl::Status UnreachableError(std::string_view address,
                              std::string_view detail);

// musterctl should exit with `code` (1..255): `run` passes on its child's
// exit status this way. `message`, when not empty, is printed as
// "musterctl: MESSAGE". The code is UNKNOWN.
absl::Status ExitCodeError(int code, std::string_view message);

// kOk for an OK status, kUsage/kUnreachable/kExitCode for the errors made
// above, kServer for anything else (a status the daemon returned).
ErrorClass ClassOf(const absl::Status& status);

// kExitOk, kExitServerError, kExitUsage or kExitUnreachable; an
// ExitCodeError's own code.
int ExitCodeFor(const absl::Status& status);

// The line printed on stderr for a failed command, without a newline:
//   musterctl: NOT_FOUND: instance "web/3" not found in realm "prod"
//   musterctl: --port: want an integer in 1..65535, got "x"
//   musterctl: cannot reach musterd at 127.0.0.1:7400 (UNAVAILABLE: ...)
// Empty for an ExitCodeError without a message: nothing is printed.
// REQUIRES: !status.ok()
std::string ErrorLine(const absl::Status& status);

}  // namespace muster::cli
