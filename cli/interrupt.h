#pragma once

// SIGINT and SIGTERM for the commands that run until interrupted
// (heartbeat --keep-alive): the signal is only noted, and the command's
// loop ends cleanly at its next step. Thread-safe.

#include "absl/time/time.h"

namespace muster::cli {

// Installs handlers for SIGINT and SIGTERM that set the flag read by
// Interrupted(). Without this call the signals keep their default action.
void CatchInterrupts();

// True once SIGINT or SIGTERM arrived after CatchInterrupts().
bool Interrupted();

// Sleeps for `d`, returning early once Interrupted().
void SleepUnlessInterrupted(absl::Duration d);

}  // namespace muster::cli
