#pragma once

// Checks and conversions of flag values that musterctl does before it
// sends anything. Every failure is a UsageError naming the flag.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace muster::cli {

// "key=value" split at the first '='. The key must be non-empty; the value
// may be empty ("owner=").
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(
    const std::string& flag, const std::string& text);

// Every element parsed by ParseKeyValue; a key given twice is an error.
absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::string& flag, const std::vector<std::string>& texts);

// A decimal integer in [min, max], without sign or spaces.
absl::StatusOr<uint64_t> ParseUnsigned(const std::string& flag,
                                       const std::string& text, uint64_t min,
                                       uint64_t max);

// A TCP port, 1..65535.
absl::StatusOr<uint32_t> ParsePort(const std::string& flag,
                                   const std::string& text);

// A decimal fraction in (0, 1].
absl::StatusOr<double> ParseShare(const std::string& flag,
                                  const std::string& text);

// A gRPC target musterctl can dial: "host:port", "[v6]:port" (port
// 1..65535), or a "unix:" path.
absl::Status ValidateAddress(const std::string& flag, const std::string& text);

// One address or several, comma-separated ("a:7400,b:7400", as
// MUSTER_ADDR may list the daemons of a cluster), each checked by
// ValidateAddress; UsageError naming the one that is not valid.
absl::StatusOr<std::vector<std::string>> ParseAddresses(
    const std::string& flag, const std::string& text);

}  // namespace muster::cli
