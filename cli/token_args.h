#pragma once

// The arguments of `musterctl token create` and the request built from
// them (cli/commands_token.cc). Building checks every flag, so a bad one
// is a UsageError before anything is sent. Pure; thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "muster/v1/tokens.pb.h"

namespace muster::cli {

struct TokenCreateArgs {
  std::string name;
  std::string role;                       // read | write | admin
  std::vector<std::string> realms;        // --realm, repeatable
  bool all_realms = false;                // --all-realms
  std::vector<std::string> services;      // --service, repeatable (write only)
  std::optional<std::string> expires_in;  // a duration: "24h", "90d"
  std::optional<std::string> expires_at;  // RFC 3339
};

// --expires-in counts from `now`. The daemon checks the names.
absl::StatusOr<v1::CreateTokenRequest> BuildCreateTokenRequest(
    const TokenCreateArgs& args, absl::Time now);

// "live", "expired" or "revoked", as `token list` shows it.
std::string TokenState(const v1::Token& token, absl::Time now);

}  // namespace muster::cli
