// musterctl: the operator CLI of the muster service registry.
// Parses the command line, runs the command, and maps its Status to the
// exit code (see cli/errors.h).

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "cli/app.h"
#include "cli/errors.h"
#include "cli/interrupt.h"
#include "cli/run.h"

int main(int argc, char** argv) {
  using muster::cli::Colour;
  using muster::cli::Terminal;
  muster::cli::CommandLine command_line;
  std::optional<int> early_exit =
      command_line.Parse(argc, argv, std::cout, std::cerr);
  if (early_exit.has_value()) return *early_exit;

  const muster::cli::Invocation& invocation = command_line.invocation();
  // heartbeat --keep-alive ends cleanly (exit 0) on SIGINT and SIGTERM;
  // every other command keeps their default action (run handles its own).
  if (invocation.command == muster::cli::Command::kHeartbeat &&
      invocation.heartbeat.keep_alive) {
    muster::cli::CatchInterrupts();
  }
  muster::cli::Environment env{
      std::cout,
      std::cerr,
      muster::cli::ChooseColour(
          isatty(STDOUT_FILENO) == 1 ? Terminal::kYes : Terminal::kNo,
          std::getenv("NO_COLOR")),
      [] { return absl::Now(); },
      &muster::cli::SleepUnlessInterrupted,
      &muster::cli::Interrupted};
  absl::Status status = muster::cli::Run(invocation, command_line, env);
  std::cout.flush();
  if (!status.ok()) {
    std::string line = muster::cli::ErrorLine(status);
    if (!line.empty()) std::cerr << line << std::endl;
  }
  return muster::cli::ExitCodeFor(status);
}
