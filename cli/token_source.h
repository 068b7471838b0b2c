#pragma once

// Where musterctl's access token comes from: --token, --token-file,
// MUSTER_TOKEN or MUSTER_TOKEN_FILE, in that order (a flag wins over the
// environment; the two flags together are a usage error).

#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace muster::cli {

struct TokenSource {
  std::string token;       // --token
  std::string token_file;  // --token-file
};

// Reads an environment variable; nullptr when unset.
using GetEnv = std::function<const char*(const char*)>;

// The secret to send as `authorization: Bearer`, or "" for none. A
// file's content loses its trailing whitespace (the newline editors
// add). UsageError naming the flag (or variable) for an unreadable or
// empty file, or for --token and --token-file together.
absl::StatusOr<std::string> ResolveToken(const TokenSource& flags,
                                         const GetEnv& getenv);

}  // namespace muster::cli
