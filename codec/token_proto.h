#pragma once

// Conversions between registry::Token and the muster.v1 token messages:
// Token for the API (never the secret's hash), StoredToken for the store
// (the API message plus the hash), and the create request. Same rules as
// model_proto.h: FromProto is INVALID_ARGUMENT naming the field path for
// an unknown enum value or a malformed Timestamp. Pure; thread-safe.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "muster/v1/tokens.pb.h"
#include "registry/token.h"
#include "registry/tokens.h"

namespace muster::registry {

muster::v1::TokenRole TokenRoleToProto(TokenRole role);
// UNSPECIFIED and unknown values are INVALID_ARGUMENT naming `field`.
absl::StatusOr<TokenRole> TokenRoleFromProto(int value,
                                             absl::string_view field);

// The API view: every field but the secret's hash.
void ToProto(const Token& token, muster::v1::Token* proto);
// The stored record: the API view plus the hash.
void ToProto(const Token& token, muster::v1::StoredToken* proto);
absl::StatusOr<Token> TokenFromProto(const muster::v1::StoredToken& proto,
                                     absl::string_view field);

// The spec of a CreateToken request (realms and services in the client's
// order, so that validation names the index the client sent).
absl::StatusOr<Tokens::Spec> TokenSpecFromProto(
    const muster::v1::CreateTokenRequest& request);

}  // namespace muster::registry
