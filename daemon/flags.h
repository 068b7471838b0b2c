#pragma once

#include <variant>

#include "daemon/daemon_options.h"

namespace muster::registry {

// musterd's exit codes: 0 a clean stop (and --help, --version), 1 a
// start-up failure, 2 a bad flag or value.
inline constexpr int kExitStartup = 1;
inline constexpr int kExitUsage = 2;

// musterd's command line: every flag (see `musterd --help` and the
// README), parsed with CLI11 into DaemonOptions and checked by
// ValidateDaemonOptions. Returns the options, or the code musterd exits
// with: 0 after --help or --version (printed), kExitUsage after a bad
// flag, reported as one stderr line naming the flag first ("musterd:
// --listen: needs a value").
std::variant<DaemonOptions, int> ParseFlags(int argc, char** argv);

}  // namespace muster::registry
