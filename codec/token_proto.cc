#include "codec/token_proto.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "codec/model_proto.h"
#include "common/status_macros.h"

namespace muster::registry {
namespace {

std::string Path(absl::string_view prefix, absl::string_view field) {
  return prefix.empty() ? std::string(field) : absl::StrCat(prefix, ".", field);
}

}  // namespace

muster::v1::TokenRole TokenRoleToProto(TokenRole role) {
  // The model's values equal the proto's.
  return static_cast<muster::v1::TokenRole>(role);
}

absl::StatusOr<TokenRole> TokenRoleFromProto(int value,
                                             absl::string_view field) {
  switch (value) {
    case muster::v1::TOKEN_ROLE_READ:
      return TokenRole::kRead;
    case muster::v1::TOKEN_ROLE_WRITE:
      return TokenRole::kWrite;
    case muster::v1::TOKEN_ROLE_ADMIN:
      return TokenRole::kAdmin;
    case muster::v1::TOKEN_ROLE_UNSPECIFIED:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": is required (read, write or admin)"));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": unknown role ", value));
  }
}

void ToProto(const Token& token, muster::v1::Token* proto) {
  proto->Clear();
  proto->set_name(token.name);
  proto->set_role(TokenRoleToProto(token.role));
  proto->set_all_realms(token.all_realms);
  for (const std::string& realm : token.realms) proto->add_realms(realm);
  for (const std::string& service : token.services) {
    proto->add_services(service);
  }
  if (token.expires_at.has_value()) {
    TimeToProto(*token.expires_at, proto->mutable_expires_at());
  }
  TimeToProto(token.created_at, proto->mutable_created_at());
  proto->set_created_by(token.created_by);
  if (token.revoked_at.has_value()) {
    TimeToProto(*token.revoked_at, proto->mutable_revoked_at());
  }
  proto->set_revoked_by(token.revoked_by);
  proto->set_create_revision(token.create_revision);
  proto->set_modify_revision(token.modify_revision);
}

void ToProto(const Token& token, muster::v1::StoredToken* proto) {
  proto->Clear();
  ToProto(token, proto->mutable_token());
  proto->set_secret_hash(token.secret_hash);
}

absl::StatusOr<Token> TokenFromProto(const muster::v1::StoredToken& proto,
                                     absl::string_view field) {
  const muster::v1::Token& p = proto.token();
  const std::string prefix = Path(field, "token");
  Token token;
  token.name = p.name();
  ASSIGN_OR_RETURN(token.role,
                   TokenRoleFromProto(p.role(), Path(prefix, "role")));
  token.all_realms = p.all_realms();
  token.realms.assign(p.realms().begin(), p.realms().end());
  token.services.assign(p.services().begin(), p.services().end());
  if (p.has_expires_at()) {
    ASSIGN_OR_RETURN(token.expires_at,
                     TimeFromProto(p.expires_at(), Path(prefix, "expires_at")));
  }
  ASSIGN_OR_RETURN(token.created_at,
                   TimeFromProto(p.created_at(), Path(prefix, "created_at")));
  token.created_by = p.created_by();
  if (p.has_revoked_at()) {
    ASSIGN_OR_RETURN(token.revoked_at,
                     TimeFromProto(p.revoked_at(), Path(prefix, "revoked_at")));
  }
  token.revoked_by = p.revoked_by();
  token.create_revision = p.create_revision();
  token.modify_revision = p.modify_revision();
  token.secret_hash = proto.secret_hash();
  return token;
}

absl::StatusOr<Tokens::Spec> TokenSpecFromProto(
    const muster::v1::CreateTokenRequest& request) {
  Tokens::Spec spec;
  spec.name = request.name();
  ASSIGN_OR_RETURN(spec.role, TokenRoleFromProto(request.role(), "role"));
  spec.all_realms = request.all_realms();
  spec.realms.assign(request.realms().begin(), request.realms().end());
  spec.services.assign(request.services().begin(), request.services().end());
  if (request.has_expires_at()) {
    ASSIGN_OR_RETURN(spec.expires_at,
                     TimeFromProto(request.expires_at(), "expires_at"));
  }
  return spec;
}

}  // namespace muster::registry
