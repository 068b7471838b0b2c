#pragma once

// The musterctl command tree: every subcommand, flag, help text and
// example, built with CLI11. Parsing fills an Invocation; running it is
// cli/run.h's job.

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "cli/requests.h"
#include "cli/sidecar_options.h"
#include "cli/token_args.h"
#include "cli/update_request.h"

namespace CLI {
class App;
}  // namespace CLI

namespace muster::cli {

enum class Command {
  kNone,
  kStatus,
  kRealmList,
  kRealmGet,
  kRealmCreate,
  kRealmUpdate,
  kRealmDelete,
  kServices,
  kList,
  kGet,
  kRegister,
  kDeregister,
  kHeartbeat,
  kDrain,
  kEnable,
  kUpdate,
  kRun,
  kWatch,
  kExplain,
  kHistory,
  kTokenCreate,
  kTokenList,
  kTokenRevoke,
  kCompletionBash,
};

// Flags that apply to every command.
struct GlobalArgs {
  std::string address = "127.0.0.1:7400";  // --addr, MUSTER_ADDR
  std::string realm = "default";           // --realm, MUSTER_REALM
  std::string output = "table";            // -o/--output: table|json
  std::string timeout = "5s";              // --timeout
  // The access token (cli/token_source.h): --token, --token-file, else
  // MUSTER_TOKEN, MUSTER_TOKEN_FILE.
  std::string token;
  std::string token_file;
  // Transport security (cli/tls_options.h): --tls, --ca, --cert, --key,
  // else MUSTER_CA, MUSTER_CERT, MUSTER_KEY.
  bool tls = false;
  std::string ca;
  std::string cert;
  std::string key;
};

// Everything a command line said. Only the fields of `command` are used.
struct Invocation {
  Command command = Command::kNone;
  GlobalArgs global;
  std::string realm_name;  // realm get
  RealmCreateArgs realm_create;
  RealmUpdateArgs realm_update;
  RealmDeleteArgs realm_delete;
  ListArgs list;
  InstanceRef instance;  // get, explain, history
  RegisterArgs register_args;
  InstanceIncarnationArgs incarnation;  // deregister
  HeartbeatArgs heartbeat;
  UpdateArgs update;
  SidecarArgs sidecar;  // run
  DrainArgs admin;      // drain, enable
  WatchArgs watch;
  TokenCreateArgs token_create;
  std::string token_name;  // token revoke
};

// Owns the CLI11 tree and the Invocation its options write into. Not
// thread-safe; parse once.
class CommandLine final {
 public:
  CommandLine();
  ~CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // Parses argv (argv[0] is the program name). nullopt: run
  // invocation(). Otherwise the process should exit with the returned
  // code: 0 after printing help to `out`, kExitUsage after printing the
  // problem to `err`.
  std::optional<int> Parse(int argc, const char* const* argv, std::ostream& out,
                           std::ostream& err);

  const Invocation& invocation() const { return invocation_; }
  const CLI::App& app() const { return *app_; }

 private:
  Invocation invocation_;
  std::unique_ptr<CLI::App> app_;
};

// A bash completion script for the tree of `app`:
//   source <(musterctl completion bash)
std::string BashCompletion(const CLI::App& app);

}  // namespace muster::cli
