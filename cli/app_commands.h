#pragma once

// The subcommands of musterctl's tree, added by CommandLine's constructor
// (cli/app.cc). Each writes the values it parses into the Invocation.

#include "cli/app.h"

namespace CLI {
class App;
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

}  // namespace muster::cli
