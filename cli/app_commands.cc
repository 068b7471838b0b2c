// The command tree of musterctl: descriptions, flags, details and an
// example for every command.

#include "cli/app_commands.h"

#include <CLI/CLI.hpp>

namespace muster::cli {

// A subcommand with a one-line description and an example footer.
CLI::App* AddCommand(CLI::App& parent, const std::string& name,
                     const std::string& description,
                     const std::string& examples) {
  CLI::App* sub = parent.add_subcommand(name, description);
  sub->footer("Examples:\n" + examples +
              "\nGlobal flags --addr, --realm, -o/--output and --timeout go "
              "before or\nafter the command; see 'musterctl --help'.");
  return sub;
}

// Puts `details` above the examples of `sub`'s help.
void AddDetails(CLI::App& sub, const std::string& details) {
  sub.footer(details + "\n" + sub.get_footer());
}

// An optional single-valued flag stored in a std::optional.
CLI::Option* AddOptional(CLI::App& app, const std::string& name,
                         std::optional<std::string>& target,
                         const std::string& description) {
  return app.add_option_function<std::string>(
      name, [&target](const std::string& value) { target = value; },
      description);
}

// A flag that may be repeated (--tag a --tag b), one value each time.
CLI::Option* AddRepeated(CLI::App& app, const std::string& name,
                         std::vector<std::string>& target,
                         const std::string& description) {
  return app.add_option(name, target, description)->allow_extra_args(false);
}

void AddInstanceRef(CLI::App& app, InstanceRef& ref) {
  app.add_option("SERVICE", ref.service, "Service name")->required();
  app.add_option("ID", ref.id, "Instance id")->required();
}

void AddRealmCommands(CLI::App& root, Invocation& inv) {
  CLI::App* realm =
      AddCommand(root, "realm", "Create, inspect, change and delete realms",
                 "  musterctl realm list\n  musterctl realm create staging\n");
  realm->require_subcommand(1);

  AddCommand(*realm, "list",
             "List realms with their service, instance and routable counts",
             "  musterctl realm list\n  musterctl realm list -o json\n")
      ->callback([&inv] { inv.command = Command::kRealmList; });

  CLI::App* get = AddCommand(*realm, "get", "Show one realm and its settings",
                             "  musterctl realm get prod\n");
  get->add_option("NAME", inv.realm_name, "Realm name")->required();
  get->callback([&inv] { inv.command = Command::kRealmGet; });

  CLI::App* create = AddCommand(
      *realm, "create", "Create a realm",
      "  musterctl realm create staging --description 'pre-production'\n"
      "  musterctl realm create prod --eviction-protection-share 0.3 "
      "--default-deregister-after 30m\n");
  create->add_option("NAME", inv.realm_create.name, "Realm name")->required();
  create->add_option("--description", inv.realm_create.description,
                     "Free text shown by 'realm get'");
  AddOptional(*create, "--eviction-protection-share",
              inv.realm_create.eviction_protection_share,
              "Pause evictions when more than this share (0 < x <= 1) of the "
              "realm is critical at once; 1 disables protection");
  AddOptional(*create, "--default-deregister-after",
              inv.realm_create.default_deregister_after,
              "Default time critical before eviction for checks that do not "
              "set it");
  create->callback([&inv] { inv.command = Command::kRealmCreate; });

  CLI::App* update = AddCommand(
      *realm, "update", "Change some settings of a realm; the others stay",
      "  musterctl realm update prod --description 'production, eu-1'\n"
      "  musterctl realm update prod --eviction-protection-share 0.3\n"
      "  musterctl realm update prod --default-deregister-after default\n");
  AddDetails(*update,
             "Only the settings given change: each is sent and named in the\n"
             "request's update mask. Give at least one. \"default\" resets\n"
             "the share or deregister-after to the daemon's default, and\n"
             "--description '' clears the description. Prints the realm as\n"
             "'realm get' does.\n");
  update->add_option("NAME", inv.realm_update.name, "Realm name")->required();
  AddOptional(*update, "--description", inv.realm_update.description,
              "Free text shown by 'realm get' ('' clears it)")
      ->type_name("TEXT");
  AddOptional(*update, "--eviction-protection-share",
              inv.realm_update.eviction_protection_share,
              "Pause evictions when more than this share (0 < x <= 1) of the "
              "realm is critical at once; 1 disables protection; default "
              "resets it")
      ->type_name("X|default");
  AddOptional(*update, "--default-deregister-after",
              inv.realm_update.default_deregister_after,
              "Default time critical before eviction for checks that do not "
              "set it; default resets it")
      ->type_name("DURATION|default");
  update->callback([&inv] { inv.command = Command::kRealmUpdate; });

  CLI::App* del = AddCommand(
      *realm, "delete",
      "Delete a realm (refused while it has instances, unless --force)",
      "  musterctl realm delete staging\n"
      "  musterctl realm delete staging --force\n");
  del->add_option("NAME", inv.realm_delete.name, "Realm name")->required();
  del->add_flag("--force", inv.realm_delete.force,
                "Also delete every instance in the realm");
  del->callback([&inv] { inv.command = Command::kRealmDelete; });
}

void AddQueryCommands(CLI::App& root, Invocation& inv) {
  AddCommand(root, "status",
             "Daemon reachability, version, revision and per-realm counts",
             "  musterctl status\n"
             "  musterctl --addr 10.0.0.5:7400 status -o json\n")
      ->callback([&inv] { inv.command = Command::kStatus; });

  AddCommand(root, "services",
             "Services of the realm with instance and routable counts",
             "  musterctl services\n  musterctl --realm prod services\n")
      ->callback([&inv] { inv.command = Command::kServices; });

  CLI::App* list = AddCommand(
      root, "list", "Instances with health, admin state, zone, tags and age",
      "  musterctl list\n"
      "  musterctl list web --routable --tag canary --meta team=payments\n"
      "  musterctl --realm prod list web -o json\n");
  AddDetails(
      *list,
      "Filters combine (all must match). Every page is fetched; -o json\n"
      "prints one ListInstancesResponse holding all instances.\n");
  list->add_option("SERVICE", inv.list.service,
                   "Only this service (default: every service)");
  list->add_flag("--routable", inv.list.routable_only,
                 "Only ENABLED instances that are PASSING or WARNING");
  AddRepeated(*list, "--tag", inv.list.tags,
              "Only instances carrying this tag (repeat for several)");
  AddRepeated(*list, "--meta", inv.list.meta,
              "Only instances whose metadata has key=value (repeatable)");
  list->add_option("--zone", inv.list.zone, "Only instances in this zone");
  list->callback([&inv] { inv.command = Command::kList; });

  CLI::App* get = AddCommand(
      root, "get", "Everything about one instance, incl. check and last output",
      "  musterctl get web web-1\n  musterctl get web web-1 -o json\n");
  AddInstanceRef(*get, inv.instance);
  get->callback([&inv] { inv.command = Command::kGet; });

  CLI::App* explain = AddCommand(
      root, "explain", "Why an instance is or is not routable, in plain words",
      "  musterctl explain web web-1\n");
  AddDetails(
      *explain,
      "Routable means ENABLED and PASSING or WARNING. explain reports the\n"
      "admin state and drain reason, the health verdict with the\n"
      "consecutive successes/failures against the thresholds, the last\n"
      "check output, and when the instance will be evicted or why\n"
      "eviction is held back (draining, eviction protection).\n");
  AddInstanceRef(*explain, inv.instance);
  explain->callback([&inv] { inv.command = Command::kExplain; });

  CLI::App* history =
      AddCommand(root, "history",
                 "An instance's retained events, with revisions and times",
                 "  musterctl history web web-1\n");
  AddDetails(
      *history,
      "Only events still in the daemon's change log are shown; 'status'\n"
      "prints the oldest retained revision.\n");
  AddInstanceRef(*history, inv.instance);
  history->callback([&inv] { inv.command = Command::kHistory; });

  CLI::App* watch = AddCommand(
      root, "watch",
      "Print one line per change until interrupted (survives restarts)",
      "  musterctl watch\n"
      "  musterctl watch web --from-revision 120\n"
      "  musterctl watch -o json | jq .instance.id\n");
  AddDetails(
      *watch,
      "Without --from-revision, watch first prints the current instances\n"
      "(cause SNAPSHOT), then every change. After a dropped stream or a\n"
      "daemon restart it reconnects with backoff and resumes after the last\n"
      "revision printed; if that revision is no longer retained it says so\n"
      "and starts over from a fresh snapshot. Notices go to stderr. With\n"
      "-o json, stdout carries one JSON event per line. --timeout bounds\n"
      "connecting only; the stream has no deadline.\n");
  watch->add_option("SERVICE", inv.watch.service,
                    "Only this service (default: every service)");
  AddOptional(*watch, "--from-revision", inv.watch.from_revision,
              "Replay retained events from this revision (default: print "
              "the current instances, then changes)")
      ->type_name("N");
  AddOptional(*watch, "--max-events", inv.watch.max_events,
              "Exit after printing this many events")
      ->type_name("N");
  watch->callback([&inv] { inv.command = Command::kWatch; });
}

void AddRegisterCommand(CLI::App& root, Invocation& inv) {
  RegisterArgs& args = inv.register_args;
  CLI::App* reg = AddCommand(
      root, "register",
      "Register or update an instance; prints id and incarnation",
      "  musterctl register web --address 10.0.0.7 --port 8080 --id web-1 \\\n"
      "      --check-http http://10.0.0.7:8080/health --interval 10s\n"
      "  musterctl register batch --address 10.0.0.9 --port 9000 "
      "--check-ttl 30s\n"
      "  musterctl register api --address api-3.internal --port 9090 "
      "--check-grpc --tag v2 --meta team=core\n"
      "  musterctl register -f instances.yaml\n");
  AddDetails(
      *reg,
      "-f FILE registers many instances: a JSON or YAML list of instances,\n"
      "or an object {\"instances\": [...]}, each with the fields service,\n"
      "id, address, port, tags, metadata, weight, zone, version and check\n"
      "({kind: ttl|http|tcp|grpc|none, ttl, interval, timeout, http_url,\n"
      "...}). Every entry is checked before any is sent; an error names\n"
      "the entry (from 1) and the field. Then each is registered, one line\n"
      "each; the exit code is 1 if any Register failed.\n");
  CLI::Option* service = reg->add_option("SERVICE", args.service,
                                         "Service name (required without -f)");
  CLI::Option* address =
      reg->add_option("--address", args.address,
                      "Host name or IP address (required without -f)");
  CLI::Option* port = reg->add_option("--port", args.port,
                                      "Port, 1..65535 (required without -f)")
                          ->type_name("PORT");
  reg->add_option("--id", args.id,
                  "Instance id (default: the daemon generates one)");
  AddRepeated(*reg, "--tag", args.tags, "A tag (repeat for several)");
  AddRepeated(*reg, "--meta", args.meta, "Metadata key=value (repeatable)");
  reg->add_option("--zone", args.zone, "Failure domain");
  AddOptional(*reg, "--weight", args.weight, "Routing weight, 0..10000")
      ->type_name("N");
  reg->add_option("--instance-version", args.version,
                  "The instance's software version");

  const std::string group = "Health check (at most one kind)";
  CLI::Option* http =
      AddOptional(*reg, "--check-http", args.check_http,
                  "GET this URL: 2xx passing, 429 warning, else critical")
          ->group(group);
  CLI::Option* tcp =
      reg->add_flag("--check-tcp", args.check_tcp, "Connect to address:port")
          ->group(group);
  CLI::Option* grpc_check =
      AddOptional(*reg, "--check-grpc", args.check_grpc,
                  "grpc.health.v1 Check on address:port, for service NAME "
                  "(default: the whole server)")
          ->expected(0, 1)
          ->type_name("[NAME]")
          ->group(group);
  CLI::Option* ttl = AddOptional(*reg, "--check-ttl", args.check_ttl,
                                 "The instance heartbeats at least this often")
                         ->type_name("DURATION")
                         ->group(group);
  CLI::Option* kinds[] = {http, tcp, grpc_check, ttl};
  for (CLI::Option* a : kinds) {
    for (CLI::Option* b : kinds) {
      if (a != b) a->excludes(b);
    }
  }
  AddOptional(*reg, "--interval", args.interval,
              "Time between probes (default 10s)")
      ->type_name("DURATION")
      ->group(group);
  AddOptional(*reg, "--check-timeout", args.check_timeout,
              "Deadline of one probe (default 2s)")
      ->type_name("DURATION")
      ->group(group);
  AddOptional(*reg, "--deregister-after", args.deregister_after,
              "Evict after this long critical (default: realm's, 10m)")
      ->type_name("DURATION")
      ->group(group);
  AddOptional(*reg, "--healthy-threshold", args.healthy_threshold,
              "Consecutive successes to become passing (default 1)")
      ->type_name("N")
      ->group(group);
  AddOptional(*reg, "--unhealthy-threshold", args.unhealthy_threshold,
              "Consecutive failures to become critical (default 3)")
      ->type_name("N")
      ->group(group);
  AddOptional(*reg, "--http-method", args.http_method,
              "HTTP check method: GET (default), HEAD or POST")
      ->group(group);
  AddRepeated(*reg, "--http-header", args.http_headers,
              "HTTP check request header Name=value (repeatable)")
      ->group(group);
  reg->add_flag("--http-follow-redirects", args.http_follow_redirects,
                "HTTP check follows up to 5 redirects")
      ->group(group);
  reg->add_flag("--check-grpc-tls", args.check_grpc_tls,
                "gRPC check over TLS; the certificate is verified against "
                "the daemon's probe CAs (--probe-ca-file, else the system's)")
      ->group(group);
  reg->add_flag("--check-tls-skip-verify", args.check_tls_skip_verify,
                "Do not verify the certificate of an https or gRPC-over-TLS "
                "check (encrypted, but proves nothing about the target)")
      ->group(group);
  AddOptional(*reg, "--check-tls-server-name", args.check_tls_server_name,
              "The DNS name the check's certificate must carry, also sent as "
              "SNI (and HTTP Host), for targets reached by IP address")
      ->type_name("NAME")
      ->group(group);

  // -f stands for every instance field: given together, CLI11 reports
  // "-f,--file excludes --port" (exit 2).
  CLI::Option* file =
      reg->add_option("-f,--file", args.file,
                      "Register every instance of this JSON or YAML file "
                      "('-': stdin) instead of one from the flags")
          ->type_name("FILE");
  for (CLI::Option* option : reg->get_options()) {
    if (option != file && option != reg->get_help_ptr()) file->excludes(option);
  }
  reg->callback([&inv, &args, service, address, port] {
    if (args.file.empty()) {
      // Required unless -f; reported the way CLI11 reports a missing
      // required option (the exception is CLI11's, caught in Parse).
      for (const CLI::Option* option : {service, address, port}) {
        if (option->count() == 0) throw CLI::RequiredError(option->get_name());
      }
    }
    inv.command = Command::kRegister;
  });
}

void AddChangeCommands(CLI::App& root, Invocation& inv) {
  CLI::App* dereg =
      AddCommand(root, "deregister", "Remove an instance",
                 "  musterctl deregister web web-1\n"
                 "  musterctl deregister web web-1 --incarnation 42\n");
  AddInstanceRef(*dereg, inv.incarnation.ref);
  AddOptional(*dereg, "--incarnation", inv.incarnation.incarnation,
              "Only if this is still the current incarnation")
      ->type_name("N");
  dereg->callback([&inv] { inv.command = Command::kDeregister; });

  CLI::App* heartbeat = AddCommand(
      root, "heartbeat", "Send one TTL heartbeat, or keep an instance alive",
      "  musterctl heartbeat batch batch-7\n"
      "  musterctl heartbeat batch batch-7 --keep-alive\n"
      "  musterctl heartbeat batch batch-7 --keep-alive "
      "--interval 5s\n");
  AddDetails(*heartbeat,
             "A heartbeat names the incarnation (create revision) it is for.\n"
             "Without --incarnation, musterctl first reads the instance and\n"
             "uses its current one. A stale incarnation is refused.\n"
             "\n"
             "--keep-alive heartbeats until interrupted (SIGINT or SIGTERM:\n"
             "exit 0), one line per heartbeat, every --interval (default: a\n"
             "third of the instance's TTL, else 10s). While the daemon is\n"
             "unreachable it retries with backoff. It stops with an error\n"
             "(exit 1) when the instance is gone (NOT_FOUND) or was\n"
             "registered again (FAILED_PRECONDITION).\n");
  AddInstanceRef(*heartbeat, inv.heartbeat.target.ref);
  AddOptional(*heartbeat, "--incarnation", inv.heartbeat.target.incarnation,
              "The incarnation (create revision) the heartbeat is for")
      ->type_name("N");
  CLI::Option* keep_alive = heartbeat->add_flag(
      "--keep-alive", inv.heartbeat.keep_alive, "Heartbeat until interrupted");
  AddOptional(*heartbeat, "--interval", inv.heartbeat.interval,
              "With --keep-alive: time between heartbeats (default: TTL/3, "
              "else 10s)")
      ->type_name("DURATION")
      ->needs(keep_alive);
  heartbeat->callback([&inv] { inv.command = Command::kHeartbeat; });

  CLI::App* drain = AddCommand(
      root, "drain", "Take an instance out of traffic (it stays registered)",
      "  musterctl drain web web-1 --reason 'kernel upgrade'\n");
  AddDetails(*drain,
             "A drained instance keeps being checked but gets no new traffic\n"
             "and is never evicted; heartbeats and checks never undo a drain.\n"
             "Undo it with 'musterctl enable'.\n");
  AddInstanceRef(*drain, inv.admin.ref);
  drain->add_option("--reason", inv.admin.reason,
                    "Why; shown by 'get' and 'explain'");
  drain->callback([&inv] { inv.command = Command::kDrain; });

  CLI::App* enable =
      AddCommand(root, "enable", "Let a drained instance take traffic again",
                 "  musterctl enable web web-1\n");
  AddInstanceRef(*enable, inv.admin.ref);
  enable->callback([&inv] { inv.command = Command::kEnable; });

  CLI::App* completion = AddCommand(
      root, "completion", "Print a shell completion script",
      "  musterctl completion bash > /etc/bash_completion.d/musterctl\n"
      "  source <(musterctl completion bash)\n");
  completion->require_subcommand(1);
  AddCommand(*completion, "bash", "Print the bash completion script",
             "  musterctl completion bash > ~/.local/share/bash-completion/"
             "completions/musterctl\n"
             "  source <(musterctl completion bash)\n")
      ->callback([&inv] { inv.command = Command::kCompletionBash; });
}

}  // namespace muster::cli
