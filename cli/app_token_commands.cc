// The `token` commands of musterctl's tree: access tokens for a musterd
// started with --auth.

#include <CLI/CLI.hpp>

#include "cli/app_commands.h"

namespace muster::cli {
namespace {

// As AddCommand, with a footer naming --token.
CLI::App* AddTokenCommand(CLI::App& parent, const std::string& name,
                          const std::string& description,
                          const std::string& examples) {
  CLI::App* sub = parent.add_subcommand(name, description);
  sub->footer("Examples:\n" + examples +
              "\nGlobal flags --addr, --token, -o/--output and --timeout go "
              "before or\nafter the command; see 'musterctl --help'.");
  return sub;
}

}  // namespace

void AddTokenCommands(CLI::App& root, Invocation& inv) {
  CLI::App* token = AddTokenCommand(
      root, "token", "Create, list and revoke access tokens (musterd --auth)",
      "  musterctl token list\n"
      "  musterctl token create ci --role write --realm staging\n");
  token->require_subcommand(1);

  CLI::App* create = AddTokenCommand(
      *token, "create",
      "Create a token and print its secret (shown this once only)",
      "  musterctl token create ci --role write --realm staging --realm dev\n"
      "  musterctl token create web-self --role write --realm prod "
      "--service web\n"
      "  musterctl token create ops --role admin --all-realms "
      "--expires-in 720h\n"
      "  musterctl token create dash --role read --all-realms -o json\n");
  create->footer(
      "A token has a role within its realm scope: read (get, list, watch,\n"
      "history), write (also register, deregister, heartbeat, drain,\n"
      "enable; only the --service ones when given) or admin (also realms\n"
      "and tokens). --realm here names the token's scope (repeat it for\n"
      "several) and must come after 'token create'. The secret is printed\n"
      "once; musterd stores only its SHA-256.\n" +
      create->get_footer());
  create
      ->add_option("NAME", inv.token_create.name,
                   "Token name: [a-z0-9][a-z0-9._-]{0,62}")
      ->required();
  create->add_option("--role", inv.token_create.role, "read, write or admin")
      ->required()
      ->type_name("ROLE");
  create
      ->add_option("--realm", inv.token_create.realms,
                   "A realm of the token's scope (repeatable); it need not "
                   "exist yet")
      ->allow_extra_args(false)
      ->type_name("REALM");
  create->add_flag("--all-realms", inv.token_create.all_realms,
                   "Every realm, present and future");
  create
      ->add_option("--service", inv.token_create.services,
                   "Write tokens only: limit writes to this service "
                   "(repeatable)")
      ->allow_extra_args(false)
      ->type_name("SERVICE");
  create
      ->add_option_function<std::string>(
          "--expires-in",
          [&inv](const std::string& v) { inv.token_create.expires_in = v; },
          "Expire after this long (e.g. 24h, 90m)")
      ->type_name("DURATION");
  create
      ->add_option_function<std::string>(
          "--expires-at",
          [&inv](const std::string& v) { inv.token_create.expires_at = v; },
          "Expire at this RFC 3339 time (e.g. 2030-01-31T18:00:00Z)")
      ->type_name("TIME");
  create->callback([&inv] { inv.command = Command::kTokenCreate; });

  AddTokenCommand(
      *token, "list",
      "List every token: role, scope, services, expiry, creator and "
      "state (live, expired, revoked); never secrets",
      "  musterctl token list\n  musterctl token list -o json\n")
      ->callback([&inv] { inv.command = Command::kTokenList; });

  CLI::App* revoke = AddTokenCommand(
      *token, "revoke",
      "Revoke a token: refused from now on, still listed, name stays taken",
      "  musterctl token revoke ci\n");
  revoke->add_option("NAME", inv.token_name, "Token name")->required();
  revoke->callback([&inv] { inv.command = Command::kTokenRevoke; });
}

}  // namespace muster::cli
