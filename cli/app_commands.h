#pragma once

// The subcommands of musterctl's tree, added by CommandLine's constructor
// (cli/app.cc). Each writes the values it parses into the Invocation.

#include <optional>
#include <string>
#include <vector>

#include "cli/app.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace muster::cli {

// status, services, list, get, explain, history, watch.
void AddQueryCommands(CLI::App& root, Invocation& inv);
// realm list|get|create|update|delete.
void AddRealmCommands(CLI::App& root, Invocation& inv);
// register.
void AddRegisterCommand(CLI::App& root, Invocation& inv);
// deregister, heartbeat, drain, enable, completion.
void AddChangeCommands(CLI::App& root, Invocation& inv);
// token create|list|revoke (cli/app_token_commands.cc).
void AddTokenCommands(CLI::App& root, Invocation& inv);
// update, run (cli/app_sidecar_commands.cc).
void AddSidecarCommands(CLI::App& root, Invocation& inv);

// Shared by the app_*commands.cc files (defined in app_commands.cc).

// A subcommand with a one-line description and an example footer.
CLI::App* AddCommand(CLI::App& parent, const std::string& name,
                     const std::string& description,
                     const std::string& examples);
// Puts `details` above the examples of `sub`'s help.
void AddDetails(CLI::App& sub, const std::string& details);
// An optional single-valued flag stored in a std::optional.
CLI::Option* AddOptional(CLI::App& app, const std::string& name,
                         std::optional<std::string>& target,
                         const std::string& description);
// A flag that may be repeated (--tag a --tag b), one value each time.
CLI::Option* AddRepeated(CLI::App& app, const std::string& name,
                         std::vector<std::string>& target,
                         const std::string& description);
// The SERVICE and ID positionals, both required.
void AddInstanceRef(CLI::App& app, InstanceRef& ref);

}  // namespace muster::cli
