#include "registry/token.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "registry/model.h"

namespace muster::registry {
namespace {

// The verb of a denial: what the caller tried to do.
absl::string_view Verb(TokenRole role) {
  switch (role) {
    case TokenRole::kRead:
      return "read";
    case TokenRole::kWrite:
      return "write";
    case TokenRole::kAdmin:
      return "administer";
  }
  return "use";
}

bool Contains(const std::vector<std::string>& sorted, absl::string_view name) {
  return std::binary_search(
      sorted.begin(), sorted.end(), name,
      [](absl::string_view a, absl::string_view b) { return a < b; });
}

}  // namespace

absl::string_view TokenRoleName(TokenRole role) {
  switch (role) {
    case TokenRole::kRead:
      return "read";
    case TokenRole::kWrite:
      return "write";
    case TokenRole::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<TokenRole> ParseTokenRole(absl::string_view field,
                                         absl::string_view name) {
  for (TokenRole role :
       {TokenRole::kRead, TokenRole::kWrite, TokenRole::kAdmin}) {
    if (name == TokenRoleName(role)) return role;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be read, write or admin"));
}

bool Token::LiveAt(absl::Time now) const {
  if (revoked_at.has_value()) return false;
  return !expires_at.has_value() || now < *expires_at;
}

bool TokenCovers(const Token& token, TokenRole needed,
                 absl::string_view realm) {
  if (static_cast<int>(token.role) < static_cast<int>(needed)) return false;
  return token.all_realms || Contains(token.realms, realm);
}

absl::Status TokenAuthorize(const Token& token, TokenRole needed,
                            absl::string_view realm,
                            absl::string_view service) {
  if (!TokenCovers(token, needed, realm)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "token \"", token.name, "\" may not ", Verb(needed), " in realm \"",
        realm, "\": needs role ", TokenRoleName(needed)));
  }
  // A service list narrows writes only, and only for a write token (an
  // admin token never has one).
  if (needed != TokenRole::kWrite || token.role != TokenRole::kWrite ||
      token.services.empty()) {
    return absl::OkStatus();
  }
  if (service.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "token \"", token.name, "\" may not write in realm \"", realm,
        "\" beyond services ", absl::StrJoin(token.services, ", "),
        ": needs role write for the whole realm"));
  }
  if (!Contains(token.services, service)) {
    return absl::PermissionDeniedError(
        absl::StrCat("token \"", token.name, "\" may not write service \"",
                     service, "\" in realm \"", realm,
                     "\": needs role write for service \"", service, "\""));
  }
  return absl::OkStatus();
}

absl::Status TokenAuthorizeAnyRealm(const Token& token, TokenRole needed,
                                    absl::string_view what) {
  if (token.role >= needed) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "token \"", token.name, "\" may not call ", what, ": needs role ",
      TokenRoleName(needed), " (it has ", TokenRoleName(token.role), ")"));
}

bool TokenSees(const Token* token, absl::string_view realm) {
  if (token == nullptr) return true;
  return TokenCovers(*token, TokenRole::kRead,
                     realm.empty() ? absl::string_view(kDefaultRealm) : realm);
}

}  // namespace muster::registry
