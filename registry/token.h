#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// The access token as a value: its role, scope and the checks of what it
// may do. The Tokens part (registry/tokens.h) creates, stores and finds
// them; the Store keeps them (registry/store.h). Pure; thread-safe.
namespace muster::registry {

// What a token may do. Roles are ordered: each includes the ones below it
// within the token's scope.
//   kRead   get, list, watch, history, server info
//   kWrite  register, deregister, heartbeat, drain/enable (limited to
//           `services` when the token names any)
//   kAdmin  realms (create, update, delete) and tokens (create, list,
//           revoke; never beyond its own scope and role)
// The values are stored on disk (muster.v1.TokenRole): never renumber.
enum class TokenRole : uint8_t {
  kRead = 1,
  kWrite = 2,
  kAdmin = 3,
};

absl::string_view TokenRoleName(TokenRole role);  // "read", "write", "admin"
// INVALID_ARGUMENT naming `field` for anything but the three names.
absl::StatusOr<TokenRole> ParseTokenRole(absl::string_view field,
                                         absl::string_view name);

// An access token as stored: never its secret, only the secret's hash.
struct Token {
  // [a-z0-9] then [a-z0-9._-], at most 63 bytes; unique among tokens.
  std::string name;
  TokenRole role = TokenRole::kRead;
  // Every realm, present and future, or exactly `realms` (sorted, unique,
  // at least one).
  bool all_realms = false;
  std::vector<std::string> realms;
  // Only meaningful for kWrite: when non-empty, the token's writes are
  // limited to instances of these services (sorted, unique). Reads stay
  // realm-wide.
  std::vector<std::string> services;
  // After this the token is refused (UNAUTHENTICATED, "expired").
  std::optional<absl::Time> expires_at;
  absl::Time created_at = absl::UnixEpoch();
  // The actor that created it ("bootstrap" for the bootstrap token).
  std::string created_by;
  // Set by Revoke; a revoked token is kept (and listed) so that a client
  // still using it is told "revoked", and its name stays taken.
  std::optional<absl::Time> revoked_at;
  // The actor that revoked it (with revoked_at).
  std::string revoked_by;
  // Lowercase hex SHA-256 of the secret.
  std::string secret_hash;
  uint64_t create_revision = 0;
  uint64_t modify_revision = 0;

  // Neither revoked nor expired at `now`.
  bool LiveAt(absl::Time now) const;
};

// Whether `token` holds at least `needed` in `realm`.
bool TokenCovers(const Token& token, TokenRole needed, absl::string_view realm);
// OK, or PERMISSION_DENIED naming the realm (and service, for a token
// limited to services) and the role needed, e.g.
//   token "ci" may not write in realm "production": needs role write
// `service` empty: a realm-wide action.
absl::Status TokenAuthorize(const Token& token, TokenRole needed,
                            absl::string_view realm, absl::string_view service);
// The decision for a request that names no realm (the realm listing,
// server info), what it then shows is filtered with TokenSees: OK when
// the token's role is at least `needed`; else PERMISSION_DENIED naming
// `what` (e.g. "muster.v1.Realms/ListRealms" or "GET /v1/realms"), e.g.
//   token "ci" may not call GET /v1/info: needs role read (it has ...)
absl::Status TokenAuthorizeAnyRealm(const Token& token, TokenRole needed,
                                    absl::string_view what);
// Whether the holder of `token` may read `realm` (empty: "default");
// a null token (access control off) reads everything.
bool TokenSees(const Token* token, absl::string_view realm);

}  // namespace muster::registry
