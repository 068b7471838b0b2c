#pragma once

// One function per musterctl subcommand. Each checks its arguments first
// (a UsageError before anything is sent), then calls the daemon through
// the Client and prints the result to ctx.out as a table or JSON.
// Errors come back as a Status for cli/main.cc to map to an exit code.

#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "cli/output.h"
#include "cli/requests.h"
#include "cli/token_args.h"
#include "cli/update_request.h"

namespace muster::cli {

// What every command gets. Not thread-safe; one command runs at a time.
struct Context {
  Client& client;
  // The --realm flag ("default" unless set).
  std::string realm;
  OutputOptions output;
  std::ostream& out;  // results
  std::ostream& err;  // notices (watch reconnects); never results
  // Wall clock and sleep, injected so that tests control them.
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
  // True once the user asked to stop (SIGINT, SIGTERM); commands that run
  // until interrupted (heartbeat --keep-alive) look at it between steps.
  std::function<bool()> interrupted = [] { return false; };
};

// commands_realm.cc
absl::Status RunStatus(Context& ctx);
absl::Status RunRealmList(Context& ctx);
absl::Status RunRealmGet(Context& ctx, const std::string& name);
absl::Status RunRealmCreate(Context& ctx, const RealmCreateArgs& args);
absl::Status RunRealmUpdate(Context& ctx, const RealmUpdateArgs& args);
absl::Status RunRealmDelete(Context& ctx, const RealmDeleteArgs& args);

// commands_instance.cc
absl::Status RunServices(Context& ctx);
absl::Status RunList(Context& ctx, const ListArgs& args);
absl::Status RunGet(Context& ctx, const InstanceRef& ref);
absl::Status RunRegister(Context& ctx, const RegisterArgs& args);
absl::Status RunDeregister(Context& ctx, const InstanceIncarnationArgs& args);
absl::Status RunHeartbeat(Context& ctx, const InstanceIncarnationArgs& args);
absl::Status RunSetAdminState(Context& ctx, const DrainArgs& args,
                              v1::AdminState state);
// Read-modify-write: GetInstance, apply the changes, Register it again
// (which keeps the incarnation, health and admin state). A Register by
// someone else in between is overwritten. Prints the instance as `get`.
absl::Status RunUpdate(Context& ctx, const UpdateArgs& args);

// commands_register_file.cc: register -f. Every entry is checked before
// the first is sent; then each is registered, one line each. An error
// naming the failed ones when any Register failed.
absl::Status RunRegisterFile(Context& ctx, const std::string& path);

// commands_keepalive.cc: heartbeat --keep-alive. Heartbeats until
// ctx.interrupted() (OK), retrying with backoff while the daemon is
// unreachable; NOT_FOUND or FAILED_PRECONDITION when the instance is
// gone or was registered again.
absl::Status RunKeepAlive(Context& ctx, const HeartbeatArgs& args);

// commands_explain.cc
absl::Status RunExplain(Context& ctx, const InstanceRef& ref);
absl::Status RunHistory(Context& ctx, const InstanceRef& ref);

// commands_watch.cc
absl::Status RunWatch(Context& ctx, const WatchArgs& args);

// commands_token.cc
absl::Status RunTokenCreate(Context& ctx, const TokenCreateArgs& args);
absl::Status RunTokenList(Context& ctx);
absl::Status RunTokenRevoke(Context& ctx, const std::string& name);

// Shared by the command files: prints `message` as one JSON document.
absl::Status PrintJson(Context& ctx, const google::protobuf::Message& message);

}  // namespace muster::cli
