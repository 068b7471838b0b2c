// The `update` and `run` commands of musterctl's tree: changing an
// instance in place, and running a program as a registered instance.

#include <CLI/CLI.hpp>

#include "cli/app_commands.h"

namespace muster::cli {
namespace {

void AddUpdateCommand(CLI::App& root, Invocation& inv) {
  UpdateArgs& args = inv.update;
  CLI::App* update = AddCommand(
      root, "update",
      "Change tags, metadata, weight or zone of an instance; the rest stays",
      "  musterctl update web web-1 --weight 5 --add-tag canary\n"
      "  musterctl update web web-1 --tag v2 --tag eu --meta team=payments\n"
      "  musterctl update web web-1 --remove-meta owner --zone ''\n");
  AddDetails(
      *update,
      "Read-modify-write: update reads the instance, changes only the\n"
      "fields given and registers it again. Register keeps the\n"
      "incarnation, health and admin state. A register by someone else\n"
      "between the read and the write is overwritten. Give at least one\n"
      "change. --tag replaces the whole set; --add-tag and --remove-tag\n"
      "edit it. --meta sets a key, --remove-meta drops one. Prints the\n"
      "instance as 'get' does.\n");
  AddInstanceRef(*update, args.ref);
  CLI::Option* tag = AddRepeated(*update, "--tag", args.tags,
                                 "The new set of tags (repeat for several)");
  CLI::Option* add_tag = AddRepeated(*update, "--add-tag", args.add_tags,
                                     "Add a tag (repeatable)");
  CLI::Option* remove_tag = AddRepeated(
      *update, "--remove-tag", args.remove_tags, "Remove a tag (repeatable)");
  tag->excludes(add_tag);
  tag->excludes(remove_tag);
  AddRepeated(*update, "--meta", args.meta,
              "Set metadata key=value (repeatable)");
  AddRepeated(*update, "--remove-meta", args.remove_meta,
              "Remove a metadata key (repeatable)")
      ->type_name("KEY");
  AddOptional(*update, "--weight", args.weight, "Routing weight, 0..10000")
      ->type_name("N");
  AddOptional(*update, "--zone", args.zone, "Failure domain ('' clears it)");
  AddOptional(*update, "--instance-version", args.version,
              "The instance's software version ('' clears it)");
  update->callback([&inv] { inv.command = Command::kUpdate; });
}

void AddRunCommand(CLI::App& root, Invocation& inv) {
  SidecarArgs& args = inv.sidecar;
  CLI::App* run = AddCommand(
      root, "run",
      "Run a program as a registered instance of a service (a sidecar)",
      "  musterctl run --service web --port 8080 -- ./server --port 8080\n"
      "  musterctl run --service api --port 9090 --check-grpc "
      "--drain-grace 10s -- ./api\n"
      "  musterctl run --service web --port 8080 --check-http "
      "http://127.0.0.1:8080/health -- ./server\n");
  AddDetails(
      *run,
      "Starts the command given after --, registers it (a TTL check of\n"
      "10s by default, heartbeats sent by musterctl) and keeps it\n"
      "registered while it runs, re-registering if it is evicted.\n"
      "SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are passed on to the command.\n"
      "SIGINT and SIGTERM are passed on too, and start the shutdown: the\n"
      "instance is drained at once. When the command exits (by itself\n"
      "or after the signal) the instance is drained, left DRAINING for\n"
      "--drain-grace, then deregistered, and musterctl exits with the\n"
      "command's status (128+N if killed by signal N). If the command\n"
      "cannot be started: exit 127, nothing registered.\n");
  run->add_option("--service", args.service, "Service name")->required();
  run->add_option("--port", args.port, "Port the command listens on, 1..65535")
      ->required()
      ->type_name("PORT");
  run->add_option("--address", args.address,
                  "Where clients reach the command (host name or IP)")
      ->capture_default_str();
  run->add_option("--id", args.id,
                  "Instance id (default: ADDRESS:PORT, stable across "
                  "restarts)");
  AddRepeated(*run, "--tag", args.tags, "A tag (repeat for several)");
  AddRepeated(*run, "--meta", args.meta, "Metadata key=value (repeatable)");
  AddOptional(*run, "--weight", args.weight, "Routing weight, 1..10000")
      ->type_name("N");
  run->add_option("--zone", args.zone,
                  "Failure domain (default: MUSTER_ZONE, else none)");
  run->add_option("--instance-version", args.version,
                  "The instance's software version");
  run->add_option("--drain-grace", args.drain_grace,
                  "How long the instance stays DRAINING before it is "
                  "deregistered")
      ->type_name("DURATION")
      ->capture_default_str();

  const std::string group = "Health check (at most one; default --ttl 10s)";
  CLI::Option* http =
      AddOptional(*run, "--check-http", args.check_http,
                  "musterd GETs this URL: 2xx passing, 429 warning")
          ->type_name("URL")
          ->group(group);
  CLI::Option* tcp = run->add_flag("--check-tcp", args.check_tcp,
                                   "musterd connects to ADDRESS:PORT")
                         ->group(group);
  CLI::Option* grpc_check =
      AddOptional(*run, "--check-grpc", args.check_grpc,
                  "grpc.health.v1 Check on ADDRESS:PORT for service NAME "
                  "(default: the whole server)")
          ->expected(0, 1)
          ->type_name("[NAME]")
          ->group(group);
  CLI::Option* ttl =
      AddOptional(*run, "--ttl", args.ttl,
                  "A TTL check; musterctl heartbeats every third of it")
          ->type_name("DURATION")
          ->group(group);
  CLI::Option* kinds[] = {http, tcp, grpc_check, ttl};
  for (CLI::Option* a : kinds) {
    for (CLI::Option* b : kinds) {
      if (a != b) a->excludes(b);
    }
  }
  run->add_option("COMMAND", args.command,
                  "The program and its arguments, after --")
      ->required();
  run->callback([&inv] { inv.command = Command::kRun; });
}

}  // namespace

void AddSidecarCommands(CLI::App& root, Invocation& inv) {
  AddUpdateCommand(root, inv);
  AddRunCommand(root, inv);
}

}  // namespace muster::cli
