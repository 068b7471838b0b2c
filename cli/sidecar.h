#pragma once

// `musterctl run`: runs a program as a registered instance of a service,
// through the client library's Registration. Not thread-safe; one per
// process (it installs signal handlers).

#include <ostream>

#include "absl/status/status.h"
#include "cli/sidecar_options.h"
#include "muster/client/options.h"

namespace muster::cli {

// Starts args.command, registers it (client/include/muster/client/
// registration.h) and keeps it registered while it runs. SIGHUP,
// SIGQUIT, SIGUSR1 and SIGUSR2 are passed on to the child; SIGINT and
// SIGTERM are passed on and start the shutdown (drain at once). When the
// child has exited and the drain grace has passed, the instance is
// deregistered. Notices go to `err`.
//
// OK when the child exited 0; else an ExitCodeError with its status
// (128+N when killed by signal N), or 127 when it could not be started
// (nothing is registered then). UsageError for bad flags or client
// options, before anything is started.
absl::Status RunSidecar(const SidecarArgs& args,
                        const client::ClientOptions& client_options,
                        std::ostream& err);

}  // namespace muster::cli
