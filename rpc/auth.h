#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/log_limiter.h"
#include "common/metrics.h"
#include "registry/token.h"
#include "rpc/client_limits.h"

namespace grpc {
class CallbackServerContext;
}  // namespace grpc

namespace muster::registry {

// How musterd decides who may call what (musterd --auth, README
// "Security").
struct AuthOptions {
  // On: every call but Ping needs `authorization: Bearer <secret>` of a
  // live token whose scope and role cover it. Off: everyone may do
  // everything.
  bool enabled = false;
  // Per client (the token's name; with auth off the peer's address):
  // requests a second (0: unlimited) and the burst after being idle.
  double token_rate = 50000;
  uint32_t token_burst = 100000;
  // Most watch streams open at once per client; 0: unlimited.
  uint32_t max_watchers_per_client = 20000;
};

// The caller of one RPC, as Auth::Check found it.
struct Caller {
  // The token it presented (auth on); null with auth off.
  std::shared_ptr<const Token> token;
  // With auth off: the peer's address without its port, which stands for
  // the client in the per-client limits.
  std::string peer;

  // Whether the caller may read `realm` (always, with auth off).
  bool Sees(absl::string_view realm) const;
  // Whether it may see everything (auth off, or a token of every realm).
  bool SeesAll() const { return token == nullptr || token->all_realms; }
};

// Whether the caller may create, see or revoke a token of `role` over
// `all_realms` / `realms`: an admin never reaches beyond its own scope and
// role (an admin of some realms only tokens within those). OK with auth
// off; else PERMISSION_DENIED naming what lies beyond, e.g.
//   token "ops" may not manage a token of realm "prod": its scope is realms
//   "staging"
absl::Status TokenWithinScope(const Caller& caller, TokenRole role,
                              bool all_realms,
                              const std::vector<std::string>& realms);

// Auth is the one place the gRPC services ask whether a call may go on:
// it reads the bearer token, authenticates it, applies the per-client
// request rate, checks the token's scope and role, counts and logs every
// refusal (muster_auth_denied_total, rate-limited log lines naming the
// token, never its secret), and holds the per-client watcher leases.
// Checks cost a hash lookup and an uncontended lock; nothing is
// allocated for a token caller. Thread-safe; outlives the services and
// their watch streams.
class Auth final {
 public:
  // Looks a secret up (Tokens::Authenticate).
  using Authenticator =
      std::function<absl::StatusOr<std::shared_ptr<const Token>>(
          absl::string_view secret, absl::Time now)>;

  // One service's methods, with their refusal counters created up front.
  class Methods final {
   public:
    Methods(Auth& auth, const std::string& service,
            const std::vector<std::string>& methods);

   private:
    friend class Auth;
    struct Method {
      std::string name;  // "muster.v1.Registry/Register"
      Counter* unauthenticated;
      Counter* permission_denied;
      Counter* resource_exhausted;
    };
    std::vector<Method> methods_;
  };

  // `authenticate` may be empty when options.enabled is false.
  Auth(const AuthOptions& options, Authenticator authenticate, Clock& clock,
       Metrics& metrics);
  Auth(const Auth&) = delete;
  Auth& operator=(const Auth&) = delete;

  bool enabled() const { return options_.enabled; }

  // Whether the call may go on, needing `role` in `realm` (empty:
  // "default") and, for a write, `service` (empty: realm-wide). OK fills
  // `caller`. Else UNAUTHENTICATED (no token, a malformed header, or an
  // unknown, expired or revoked token), RESOURCE_EXHAUSTED (the client's
  // request rate; the message and the trailing metadata
  // `muster-retry-after-ms` say when to retry) or PERMISSION_DENIED
  // naming the realm and the role needed; counted and logged.
  absl::Status Check(grpc::CallbackServerContext& context,
                     const Methods& methods, size_t method, TokenRole role,
                     absl::string_view realm, absl::string_view service,
                     Caller* caller);
  // The same for a call that names no realm (ListRealms, GetServerInfo,
  // the Tokens service): the token needs `role` in at least one realm;
  // what it then sees is filtered with Caller::Sees.
  absl::Status CheckAnyRealm(grpc::CallbackServerContext& context,
                             const Methods& methods, size_t method,
                             TokenRole role, Caller* caller);

  // Counts and logs a refusal a handler decided itself (a token asking
  // for more than its own scope).
  absl::Status Deny(grpc::CallbackServerContext& context,
                    const Methods& methods, size_t method, const Caller& caller,
                    absl::Status status);

  // A lease on one more watch stream for the caller; RESOURCE_EXHAUSTED
  // naming the limit when it has max_watchers_per_client open already
  // (counted and logged).
  absl::StatusOr<std::unique_ptr<WatcherLimiter::Lease>> AcquireWatcher(
      grpc::CallbackServerContext& context, const Methods& methods,
      size_t method, const Caller& caller);

  // The name a caller's changes are recorded under (Event.actor):
  // "token:<name>" for a token caller, else the transport's
  // (TransportActor: "cert:<subject>" or "anonymous").
  static std::string Actor(const grpc::CallbackServerContext& context,
                           const Caller& caller);

  // For tests.
  RequestRateLimiter& rate_limiter() { return rate_; }
  WatcherLimiter& watchers() { return watchers_; }

 private:
  // Authentication and the rate; `any_realm` leaves the scope to the
  // caller of this.
  absl::Status Admit(grpc::CallbackServerContext& context,
                     const Methods& methods, size_t method, Caller* caller);
  absl::Status Refuse(grpc::CallbackServerContext& context,
                      const Methods::Method& method, const Caller* caller,
                      absl::Status status);

  const AuthOptions options_;
  const Authenticator authenticate_;
  Clock& clock_;
  Metrics& metrics_;
  RequestRateLimiter rate_;
  WatcherLimiter watchers_;
  LogLimiter log_limiter_;
};

// The first line of a service's handler: the call goes on, or it finishes
// refused. Declares `caller`; the service has members `auth_` (Auth&) and
// `auth_methods_` (Auth::Methods) and a Finish(context, method, status).
#define MUSTER_AUTHORIZE(method, role, realm, service)                         \
  Caller caller;                                                               \
  if (absl::Status denied = auth_.Check(*context, auth_methods_, method, role, \
                                        realm, service, &caller);              \
      !denied.ok())                                                            \
  return Finish(context, method, denied)

// The same for a call that names no realm (Auth::CheckAnyRealm).
#define MUSTER_AUTHORIZE_ANY_REALM(method, role)                               \
  Caller caller;                                                               \
  if (absl::Status denied =                                                    \
          auth_.CheckAnyRealm(*context, auth_methods_, method, role, &caller); \
      !denied.ok())                                                            \
  return Finish(context, method, denied)

}  // namespace muster::registry
