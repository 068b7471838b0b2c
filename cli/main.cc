// musterctl: the operator CLI of the muster service registry.
// Parses the command line, runs the command, and maps its Status to the
// exit code (see cli/errors.h).

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>

#include "absl/time/clock.h"
#include "cli/app.h"
#include "cli/errors.h"
#include "cli/run.h"

int main(int argc, char** argv) {
  using muster::cli::Colour;
  using muster::cli::Terminal;
  muster::cli::CommandLine command_line;
  std::optional<int> early_exit =
      command_line.Parse(argc, argv, std::cout, std::cerr);
  if (early_exit.has_value()) return *early_exit;

  muster::cli::Environment env{
      std::cout, std::cerr,
      muster::cli::ChooseColour(
          isatty(STDOUT_FILENO) == 1 ? Terminal::kYes : Terminal::kNo,
          std::getenv("NO_COLOR")),
      [] { return absl::Now(); }, [](absl::Duration d) { absl::SleepFor(d); }};
  absl::Status status =
      muster::cli::Run(command_line.invocation(), command_line, env);
  std::cout.flush();
  if (!status.ok()) std::cerr << muster::cli::ErrorLine(status) << std::endl;
  return muster::cli::ExitCodeFor(status);
}
