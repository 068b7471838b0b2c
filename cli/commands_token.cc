// token create|list|revoke: access tokens (musterd --auth).

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/errors.h"
#include "cli/table.h"

namespace muster::cli {
namespace {

std::string RoleName(v1::TokenRole role) {
  switch (role) {
    case v1::TOKEN_ROLE_READ:
      return "read";
    case v1::TOKEN_ROLE_WRITE:
      return "write";
    case v1::TOKEN_ROLE_ADMIN:
      return "admin";
    default:
      return "unknown";
  }
}

std::string Scope(const v1::Token& token) {
  if (token.all_realms()) return "all realms";
  return absl::StrJoin(token.realms(), ",");
}

std::string Services(const v1::Token& token) {
  if (token.services().empty()) return "-";
  return absl::StrJoin(token.services(), ",");
}

std::string Expires(const v1::Token& token, absl::Time now) {
  std::optional<absl::Time> at = FromProtoTimestamp(token.expires_at());
  if (!token.has_expires_at() || !at.has_value()) return "never";
  if (*at <= now) return absl::StrCat(FormatRfc3339(*at), " (past)");
  return absl::StrCat(
      FormatRfc3339(*at), " (in ",
      FormatCompactDuration(absl::Trunc(*at - now, absl::Seconds(1))), ")");
}

}  // namespace

std::string TokenState(const v1::Token& token, absl::Time now) {
  if (token.has_revoked_at()) return "revoked";
  std::optional<absl::Time> at = FromProtoTimestamp(token.expires_at());
  if (token.has_expires_at() && at.has_value() && *at <= now) return "expired";
  return "live";
}

absl::StatusOr<v1::CreateTokenRequest> BuildCreateTokenRequest(
    const TokenCreateArgs& args, absl::Time now) {
  v1::CreateTokenRequest request;
  request.set_name(args.name);
  if (args.role == "read") {
    request.set_role(v1::TOKEN_ROLE_READ);
  } else if (args.role == "write") {
    request.set_role(v1::TOKEN_ROLE_WRITE);
  } else if (args.role == "admin") {
    request.set_role(v1::TOKEN_ROLE_ADMIN);
  } else {
    return UsageError("--role: must be read, write or admin");
  }
  if (args.all_realms == !args.realms.empty()) {
    return UsageError(
        "token create: give --realm (one or more) or --all-realms, not both");
  }
  request.set_all_realms(args.all_realms);
  for (const std::string& realm : args.realms) request.add_realms(realm);
  if (!args.services.empty() && args.role != "write") {
    return UsageError(
        "--service: only a write token may be limited to "
        "services");
  }
  for (const std::string& service : args.services) {
    request.add_services(service);
  }
  if (args.expires_in.has_value() && args.expires_at.has_value()) {
    return UsageError(
        "token create: give --expires-in or --expires-at, not "
        "both");
  }
  std::optional<absl::Time> expires;
  if (args.expires_in.has_value()) {
    absl::StatusOr<absl::Duration> in =
        ParseDuration("--expires-in", *args.expires_in);
    if (!in.ok()) return in.status();
    if (*in <= absl::ZeroDuration()) {
      return UsageError("--expires-in: must be longer than zero");
    }
    expires = now + *in;
  }
  if (args.expires_at.has_value()) {
    absl::Time at;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, *args.expires_at, &at, &error)) {
      return UsageError(absl::StrCat(
          "--expires-at: \"", *args.expires_at,
          "\" is not an RFC 3339 time such as 2030-01-31T18:00:00Z"));
    }
    expires = at;
  }
  if (expires.has_value()) {
    request.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(*expires));
  }
  return request;
}

absl::Status RunTokenCreate(Context& ctx, const TokenCreateArgs& args) {
  absl::StatusOr<v1::CreateTokenRequest> request =
      BuildCreateTokenRequest(args, ctx.now());
  if (!request.ok()) return request.status();
  absl::StatusOr<v1::CreateTokenResponse> created = ctx.client.Call(
      ctx.client.tokens(), &v1::Tokens::StubInterface::CreateToken, *request);
  if (!created.ok()) return created.status();
  ctx.err << "musterctl: the secret is shown this once; musterd keeps only "
             "its hash. Store it now.\n";
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *created);
  const v1::Token& token = created->token();
  ctx.out << "token \"" << token.name() << "\" created (role "
          << RoleName(token.role()) << ", " << Scope(token) << ", revision "
          << created->revision() << ")\n"
          << "secret: " << created->secret() << "\n";
  return absl::OkStatus();
}

absl::Status RunTokenList(Context& ctx) {
  absl::StatusOr<v1::ListTokensResponse> tokens = ctx.client.Call(
      ctx.client.tokens(), &v1::Tokens::StubInterface::ListTokens,
      v1::ListTokensRequest());
  if (!tokens.ok()) return tokens.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *tokens);
  const absl::Time now = ctx.now();
  Table table({"NAME", "ROLE", "SCOPE", "SERVICES", "EXPIRES", "CREATED",
               "CREATED BY", "STATE"});
  for (const v1::Token& token : tokens->tokens()) {
    table.AddRow({token.name(), RoleName(token.role()), Scope(token),
                  Services(token), Expires(token, now),
                  FormatAge(token.created_at(), now),
                  token.created_by().empty() ? "-" : token.created_by(),
                  TokenState(token, now)});
  }
  table.Print(ctx.out);
  return absl::OkStatus();
}

absl::Status RunTokenRevoke(Context& ctx, const std::string& name) {
  v1::RevokeTokenRequest request;
  request.set_name(name);
  absl::StatusOr<v1::RevokeTokenResponse> revoked = ctx.client.Call(
      ctx.client.tokens(), &v1::Tokens::StubInterface::RevokeToken, request);
  if (!revoked.ok()) return revoked.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *revoked);
  ctx.out << "token \"" << name << "\" revoked (revision "
          << revoked->revision() << ")\n";
  return absl::OkStatus();
}

}  // namespace muster::cli
