#pragma once

// Runs a parsed musterctl Invocation: checks the global flags, connects,
// and dispatches to the command. The seam between main() and the rest.

#include <functional>
#include <ostream>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/app.h"
#include "cli/output.h"

namespace muster::cli {

// The process's world, passed in so that tests can substitute it.
struct Environment {
  std::ostream& out;
  std::ostream& err;
  Colour colour = Colour::kOff;
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
  // See Context::interrupted.
  std::function<bool()> interrupted = [] { return false; };
};

// UsageError for a bad --addr, --timeout or command value (nothing is
// sent then); UnreachableError when the daemon cannot be reached; the
// daemon's status when it refuses. REQUIRES: invocation.command != kNone.
absl::Status Run(const Invocation& invocation, const CommandLine& command_line,
                 const Environment& env);

}  // namespace muster::cli
