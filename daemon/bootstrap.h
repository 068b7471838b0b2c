#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "registry/tokens.h"

namespace muster::registry {

// The name of the admin token musterd makes on a first start with --auth
// ("bootstrap-2", "bootstrap-3"... when that name is taken by a revoked
// one); also the actor it is recorded as created by.
inline constexpr char kBootstrapTokenName[] = "bootstrap";
// --bootstrap-token-file's default, inside --data-dir.
inline constexpr char kBootstrapTokenFileName[] = "bootstrap-token";

// Makes sure someone can administer a musterd started with --auth, after
// the registry has loaded its tokens. `file` is --bootstrap-token-file:
//
// - The file exists: its content (trailing whitespace trimmed) is a
//   secret. When it is a live token's, nothing happens. When it is no
//   token's and no live admin token of every realm exists, an admin token
//   of every realm is created with it. When it is the secret of a revoked
//   or expired token and no live admin exists, FAILED_PRECONDITION (delete
//   the file to get a fresh one). Otherwise (another admin exists) it is
//   left alone with a warning.
// - The file is missing: when no live admin token of every realm exists,
//   a fresh secret is written to it (mode 0600, created exclusively, synced)
//   and then the token is created with it; so a crash in between leaves a
//   file the next start uses. When an admin exists, nothing is written.
//
// The secret is never logged; the file's path is. Restarts never make a
// second token while one admin lives, and the file is never rewritten.
// Errors (an unreadable file, a secret the token rules refuse, a failed
// write or commit) name the file and stop musterd.
absl::Status EnsureBootstrapToken(Tokens& tokens, absl::Time now,
                                  const std::string& file);

}  // namespace muster::registry
