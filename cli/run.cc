#include "cli/run.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/errors.h"
#include "cli/flag_values.h"
#include "cli/sidecar.h"
#include "cli/tls_options.h"
#include "cli/token_source.h"

namespace muster::cli {

absl::Status Run(const Invocation& inv, const CommandLine& command_line,
                 const Environment& env) {
  if (inv.command == Command::kCompletionBash) {
    env.out << BashCompletion(command_line.app());
    return absl::OkStatus();
  }
  const GlobalArgs& global = inv.global;
  absl::StatusOr<std::vector<std::string>> addresses =
      ParseAddresses("--addr", global.address);
  if (!addresses.ok()) return addresses.status();
  absl::StatusOr<absl::Duration> timeout =
      ParseDuration("--timeout", global.timeout);
  if (!timeout.ok()) return timeout.status();
  if (*timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout: must be longer than zero");
  }
  if (global.realm.empty()) {
    return UsageError(
        "--realm: must not be empty (the default is \"default\")");
  }

  absl::StatusOr<std::string> token =
      ResolveToken(TokenSource{global.token, global.token_file}, &std::getenv);
  if (!token.ok()) return token.status();

  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ResolveCredentials(
          TlsFlags{global.tls, global.ca, global.cert, global.key},
          &std::getenv);
  if (!credentials.ok()) return credentials.status();

  if (inv.command == Command::kRun) {
    // The sidecar reaches musterd through the client library, with the
    // same settings.
    return RunSidecar(
        inv.sidecar,
        BuildClientOptions(
            *addresses, global.realm, *timeout, *token,
            TlsFlags{global.tls, global.ca, global.cert, global.key}),
        env.err);
  }

  // Several daemons (--addr a,b): the first that answers.
  Client client(
      ConnectionOptions{FirstReachable(*addresses, *credentials, *timeout),
                        *timeout, *token, *credentials});
  Context ctx{
      client,
      global.realm,
      OutputOptions{global.output == "json" ? Format::kJson : Format::kTable,
                    env.colour},
      env.out,
      env.err,
      env.now,
      env.sleep,
      env.interrupted};
  switch (inv.command) {
    case Command::kStatus:
      return RunStatus(ctx);
    case Command::kRealmList:
      return RunRealmList(ctx);
    case Command::kRealmGet:
      return RunRealmGet(ctx, inv.realm_name);
    case Command::kRealmCreate:
      return RunRealmCreate(ctx, inv.realm_create);
    case Command::kRealmUpdate:
      return RunRealmUpdate(ctx, inv.realm_update);
    case Command::kRealmDelete:
      return RunRealmDelete(ctx, inv.realm_delete);
    case Command::kServices:
      return RunServices(ctx);
    case Command::kList:
      return RunList(ctx, inv.list);
    case Command::kGet:
      return RunGet(ctx, inv.instance);
    case Command::kRegister:
      if (!inv.register_args.file.empty()) {
        return RunRegisterFile(ctx, inv.register_args.file);
      }
      return RunRegister(ctx, inv.register_args);
    case Command::kDeregister:
      return RunDeregister(ctx, inv.incarnation);
    case Command::kHeartbeat:
      if (inv.heartbeat.keep_alive) return RunKeepAlive(ctx, inv.heartbeat);
      return RunHeartbeat(ctx, inv.heartbeat.target);
    case Command::kUpdate:
      return RunUpdate(ctx, inv.update);
    case Command::kDrain:
      return RunSetAdminState(ctx, inv.admin, v1::ADMIN_STATE_DRAINING);
    case Command::kEnable:
      return RunSetAdminState(ctx, DrainArgs{inv.admin.ref, ""},
                              v1::ADMIN_STATE_ENABLED);
    case Command::kWatch:
      return RunWatch(ctx, inv.watch);
    case Command::kExplain:
      return RunExplain(ctx, inv.instance);
    case Command::kHistory:
      return RunHistory(ctx, inv.instance);
    case Command::kTokenCreate:
      return RunTokenCreate(ctx, inv.token_create);
    case Command::kTokenList:
      return RunTokenList(ctx);
    case Command::kTokenRevoke:
      return RunTokenRevoke(ctx, inv.token_name);
    case Command::kCompletionBash:
    case Command::kRun:
    case Command::kNone:
      break;
  }
  return UsageError("no command given; run 'musterctl --help'");
}

}  // namespace muster::cli
