#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace muster::registry {

// Defaults and ranges of musterd's access-control flags (README
// "Security"); every limit is per client: a token's name, or with auth off
// the peer's address. The defaults are a safety net against a runaway
// client that a fleet never meets: one musterd answers some 30,000 calls a
// second in all (the bench), and a thousand watchers from one address is a
// normal load test.
inline constexpr uint64_t kDefaultTokenRate = 50000;  // requests/s; 0: off
inline constexpr uint64_t kMaxTokenRate = 10000000;
inline constexpr uint64_t kDefaultTokenBurst = 100000;
inline constexpr uint64_t kMinTokenBurst = 1;
inline constexpr uint64_t kMaxTokenBurst = 100000000;
inline constexpr uint64_t kDefaultMaxWatchersPerClient = 20000;  // 0: off
inline constexpr uint64_t kMaxWatchersPerClient = 10000000;

// Whether a listen address ("host:port", "[v6]:port") is this host's
// loopback only: 127.0.0.0/8, ::1 or "localhost".
bool IsLoopbackListen(const std::string& listen);

// Redis's protected mode for musterd: serving a non-loopback --listen or
// --http-listen without --auth needs --insecure-no-auth. Also refuses
// --auth with --insecure-no-auth. INVALID_ARGUMENT naming the flag.
absl::Status CheckAuthExposure(const std::string& listen,
                               const std::string& http_listen, bool auth,
                               bool insecure_no_auth);

}  // namespace muster::registry
