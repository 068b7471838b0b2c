#include "cli/app.h"

#include <CLI/CLI.hpp>

#include "cli/app_commands.h"
#include "cli/errors.h"

namespace muster::cli {
namespace {

constexpr char kRootFooter[] = R"(Environment:
  MUSTER_ADDR    default for --addr
  MUSTER_REALM   default for --realm
  MUSTER_TOKEN   the access token, when neither --token nor --token-file
                 is given
  MUSTER_TOKEN_FILE  a file holding it, when MUSTER_TOKEN is unset too
  MUSTER_CA      default for --ca
  MUSTER_CERT    default for --cert
  MUSTER_KEY     default for --key
  NO_COLOR       when set, tables are never coloured

Durations are written like 500ms, 10s, 1m, 1h30m or 2d.

Exit codes:
  0  success
  1  the daemon refused or failed the request (message: musterctl: CODE: ...)
  2  usage error: bad command, flag or value; nothing was sent
  3  the daemon could not be reached (the message names the address tried)
  'musterctl run' exits with its program's status (127: it could not start)

Run 'musterctl COMMAND --help' for a command's flags and an example, or
'musterctl --help-all' for the whole tree.)";

// The full help of `app` and of every command below it, depth first.
// `parent_path` is "" for the root, else the command path above `app`.
void PrintHelpTree(const CLI::App& app, const std::string& parent_path,
                   std::ostream& out) {
  out << app.help(parent_path);
  std::string path =
      parent_path.empty() ? app.get_name() : parent_path + " " + app.get_name();
  for (const CLI::App* sub : app.get_subcommands({})) {
    out << "\n" << std::string(72, '-') << "\n";
    PrintHelpTree(*sub, path, out);
  }
}

}  // namespace

CommandLine::CommandLine()
    : app_(std::make_unique<CLI::App>(
          "musterctl: inspect and edit the muster service registry",
          "musterctl")) {
  CLI::App& root = *app_;
  // Global flags are accepted after the subcommand too:
  //   musterctl list web -o json
  root.fallthrough();
  root.require_subcommand(1);
  root.set_help_all_flag("--help-all", "Print help for every command");
  root.footer(kRootFooter);
  GlobalArgs& global = invocation_.global;
  root.add_option("--addr", global.address,
                  "musterd gRPC address host:port, or several comma-separated "
                  "(the first that answers is used)")
      ->envname("MUSTER_ADDR")
      ->capture_default_str();
  root.add_option("--realm", global.realm, "Realm to work in")
      ->envname("MUSTER_REALM")
      ->capture_default_str();
  root.add_option("-o,--output", global.output, "Output format: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  root.add_option("--timeout", global.timeout,
                  "Deadline of each call to the daemon")
      ->type_name("DURATION")
      ->capture_default_str();
  root.add_option("--token", global.token,
                  "Access token sent as 'authorization: Bearer' (musterd "
                  "--auth); visible to other users in ps, prefer "
                  "--token-file or MUSTER_TOKEN")
      ->type_name("SECRET");
  root.add_option("--token-file", global.token_file,
                  "File holding the access token (trailing newline ignored)")
      ->type_name("FILE");
  root.add_flag("--tls", global.tls,
                "Connect with TLS, trusting the system's CAs unless --ca");
  root.add_option("--ca", global.ca,
                  "PEM CA certificate(s) to trust for musterd's certificate; "
                  "implies --tls")
      ->type_name("FILE");
  root.add_option("--cert", global.cert,
                  "PEM client certificate for mutual TLS (with --key); "
                  "implies --tls")
      ->type_name("FILE");
  root.add_option("--key", global.key, "PEM private key of --cert")
      ->type_name("FILE");

  AddQueryCommands(root, invocation_);
  AddRealmCommands(root, invocation_);
  AddRegisterCommand(root, invocation_);
  AddChangeCommands(root, invocation_);
  AddTokenCommands(root, invocation_);
  AddSidecarCommands(root, invocation_);
}

CommandLine::~CommandLine() = default;

std::optional<int> CommandLine::Parse(int argc, const char* const* argv,
                                      std::ostream& out, std::ostream& err) {
  try {
    app_->parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_->exit(e, out, err);
  } catch (const CLI::CallForAllHelp&) {
    // CLI11's own --help-all stops one level down and drops the examples;
    // print every command's full help instead.
    PrintHelpTree(*app_, "", out);
    return 0;
  } catch (const CLI::ParseError& e) {
    // CLI11 reports parse errors by exception; this is the one place that
    // catches them.
    std::vector<std::string> rest = app_->remaining();
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr &&
        !rest.empty() && rest.front().rfind("-", 0) != 0) {
      // "A subcommand is required" reads oddly after a mistyped command.
      err << "musterctl: unknown command \"" << rest.front() << "\"\n";
    } else {
      err << "musterctl: " << e.what() << "\n";
    }
    err << "Run 'musterctl --help' (or 'musterctl COMMAND --help') for "
           "usage.\n";
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace muster::cli
