#include "rpc/auth.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "registry/model.h"
#include "rpc/actor.h"

namespace muster::registry {
namespace {

constexpr char kAuthorizationKey[] = "authorization";
constexpr absl::string_view kBearer = "bearer ";
constexpr char kRetryAfterKey[] = "muster-retry-after-ms";
constexpr char kDeniedHelp[] =
    "RPCs refused by access control (unauthenticated, permission_denied) or "
    "by a per-client limit (resource_exhausted).";

// "ipv4:10.1.2.3:5555" -> "ipv4:10.1.2.3", "ipv6:[::1]:5555" ->
// "ipv6:[::1]": a client's connections share its limits.
std::string PeerKey(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  if (colon == std::string::npos || colon < 5 ||
      !(absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:"))) {
    return peer;
  }
  return peer.substr(0, colon);
}

// How the refusal logs and messages name the client.
std::string ClientName(const Caller& caller) {
  if (caller.token != nullptr) {
    return absl::StrCat("token \"", caller.token->name, "\"");
  }
  return absl::StrCat("client ", caller.peer);
}

}  // namespace

bool Caller::Sees(absl::string_view realm) const {
  return TokenSees(token.get(), realm);
}

absl::Status TokenWithinScope(const Caller& caller, TokenRole role,
                              bool all_realms,
                              const std::vector<std::string>& realms) {
  if (caller.token == nullptr) return absl::OkStatus();
  const Token& own = *caller.token;
  if (role > own.role) {
    return absl::PermissionDeniedError(
        absl::StrCat("token \"", own.name, "\" may not manage a token of role ",
                     TokenRoleName(role), ": needs role ", TokenRoleName(role),
                     " (it has role ", TokenRoleName(own.role), ")"));
  }
  if (own.all_realms) return absl::OkStatus();
  const std::string scope = absl::StrCat(
      "its scope is realms \"", absl::StrJoin(own.realms, "\", \""), "\"");
  if (all_realms) {
    return absl::PermissionDeniedError(
        absl::StrCat("token \"", own.name,
                     "\" may not manage a token of every realm: needs role ",
                     TokenRoleName(role), " in every realm (", scope, ")"));
  }
  for (const std::string& realm : realms) {
    if (!TokenCovers(own, role, realm)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "token \"", own.name, "\" may not manage a token of realm \"", realm,
          "\": needs role ", TokenRoleName(role), " in realm \"", realm, "\" (",
          scope, ")"));
    }
  }
  return absl::OkStatus();
}

Auth::Methods::Methods(Auth& auth, const std::string& service,
                       const std::vector<std::string>& methods) {
  for (const std::string& method : methods) {
    auto counter = [&](const char* code) {
      return &auth.metrics_.GetCounter(
          "muster_auth_denied_total", kDeniedHelp,
          {{"service", service}, {"method", method}, {"code", code}});
    };
    methods_.push_back(
        Method{absl::StrCat(service, "/", method), counter("unauthenticated"),
               counter("permission_denied"), counter("resource_exhausted")});
  }
}

Auth::Auth(const AuthOptions& options, Authenticator authenticate, Clock& clock,
           Metrics& metrics)
    : options_(options),
      authenticate_(std::move(authenticate)),
      clock_(clock),
      metrics_(metrics),
      rate_(
          RequestRateLimiter::Options{options.token_rate,
                                      static_cast<double>(options.token_burst)},
          clock),
      watchers_(options.max_watchers_per_client),
      log_limiter_(clock, LogLimiter::Options{}) {}

absl::Status Auth::Admit(grpc::CallbackServerContext& context,
                         const Methods& methods, size_t method,
                         Caller* caller) {
  const Methods::Method& m = methods.methods_[method];
  caller->token.reset();
  absl::string_view key;
  if (!options_.enabled) {
    if (!rate_.enabled()) return absl::OkStatus();
    caller->peer = PeerKey(context.peer());
    key = caller->peer;
  } else {
    const auto& metadata = context.client_metadata();
    auto it = metadata.find(kAuthorizationKey);
    if (it == metadata.end()) {
      return Refuse(context, m, caller,
                    absl::UnauthenticatedError(
                        "missing access token: send the metadata "
                        "\"authorization: Bearer <secret>\" (musterctl "
                        "--token, --token-file or MUSTER_TOKEN)"));
    }
    const absl::string_view value(it->second.data(), it->second.size());
    if (value.size() <= kBearer.size() ||
        !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
      // The value is never repeated: it may be a secret sent wrongly.
      return Refuse(context, m, caller,
                    absl::UnauthenticatedError(
                        "the authorization metadata is not \"Bearer "
                        "<secret>\""));
    }
    absl::StatusOr<std::shared_ptr<const Token>> token = authenticate_(
        absl::StripAsciiWhitespace(value.substr(kBearer.size())), clock_.Now());
    if (!token.ok()) return Refuse(context, m, caller, token.status());
    caller->token = std::move(token).value();
    key = caller->token->name;
  }
  const absl::Duration wait = rate_.Take(key);
  if (wait == absl::ZeroDuration()) return absl::OkStatus();
  const int64_t wait_ms = absl::ToInt64Milliseconds(wait);
  context.AddTrailingMetadata(kRetryAfterKey, std::to_string(wait_ms));
  return Refuse(
      context, m, caller,
      absl::ResourceExhaustedError(absl::StrCat(
          "request rate limit: ", ClientName(*caller), " made more than ",
          options_.token_rate, " requests a second (burst ",
          options_.token_burst, "); retry after ", wait_ms, "ms")));
}

absl::Status Auth::Check(grpc::CallbackServerContext& context,
                         const Methods& methods, size_t method, TokenRole role,
                         absl::string_view realm, absl::string_view service,
                         Caller* caller) {
  absl::Status admitted = Admit(context, methods, method, caller);
  if (!admitted.ok() || caller->token == nullptr) return admitted;
  absl::Status allowed = TokenAuthorize(
      *caller->token, role,
      realm.empty() ? absl::string_view(kDefaultRealm) : realm, service);
  if (allowed.ok()) return allowed;
  return Refuse(context, methods.methods_[method], caller, std::move(allowed));
}

absl::Status Auth::CheckAnyRealm(grpc::CallbackServerContext& context,
                                 const Methods& methods, size_t method,
                                 TokenRole role, Caller* caller) {
  absl::Status admitted = Admit(context, methods, method, caller);
  if (!admitted.ok() || caller->token == nullptr) return admitted;
  absl::Status allowed = TokenAuthorizeAnyRealm(*caller->token, role,
                                                methods.methods_[method].name);
  if (allowed.ok()) return allowed;
  return Refuse(context, methods.methods_[method], caller, std::move(allowed));
}

absl::Status Auth::Deny(grpc::CallbackServerContext& context,
                        const Methods& methods, size_t method,
                        const Caller& caller, absl::Status status) {
  return Refuse(context, methods.methods_[method], &caller, std::move(status));
}

absl::StatusOr<std::unique_ptr<WatcherLimiter::Lease>> Auth::AcquireWatcher(
    grpc::CallbackServerContext& context, const Methods& methods, size_t method,
    const Caller& caller) {
  std::string peer;
  absl::string_view key;
  if (caller.token != nullptr) {
    key = caller.token->name;
  } else if (!caller.peer.empty()) {
    key = caller.peer;
  } else {
    peer = PeerKey(context.peer());
    key = peer;
  }
  std::unique_ptr<WatcherLimiter::Lease> lease = watchers_.Acquire(key);
  if (lease != nullptr) return lease;
  Caller named = caller;
  if (named.token == nullptr) named.peer = std::string(key);
  return Refuse(
      context, methods.methods_[method], &named,
      absl::ResourceExhaustedError(absl::StrCat(
          "too many watch streams: ", ClientName(named), " has ",
          watchers_.max_per_client(),
          " open, the most per client (musterd --max-watchers-per-client); "
          "end one first")));
}

std::string Auth::Actor(const grpc::CallbackServerContext& context,
                        const Caller& caller) {
  if (caller.token != nullptr)
    return absl::StrCat("token:", caller.token->name);
  return TransportActor(context);
}

absl::Status Auth::Refuse(grpc::CallbackServerContext& context,
                          const Methods::Method& method, const Caller* caller,
                          absl::Status status) {
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
      method.unauthenticated->Increment();
      break;
    case absl::StatusCode::kPermissionDenied:
      method.permission_denied->Increment();
      break;
    case absl::StatusCode::kResourceExhausted:
      method.resource_exhausted->Increment();
      break;
    default:
      break;
  }
  uint64_t dropped = 0;
  if (log_limiter_.Allow(&dropped)) {
    // The token's name when known; a secret is never in a status message
    // (Tokens::Authenticate's contract, and the messages above).
    std::string who = caller != nullptr && caller->token != nullptr
                          ? absl::StrCat("token \"", caller->token->name, "\"")
                          : std::string("no valid token");
    MUSTER_LOG(kWarning, "denied %s from %s (%s): %s%s", method.name,
               context.peer(), who, status.ToString(),
               dropped == 0
                   ? std::string()
                   : absl::StrCat(" (", dropped, " more refusals not logged)"));
  }
  return status;
}

}  // namespace muster::registry
