#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace muster::registry {

// A listen address split into its parts.
struct HostPort {
  std::string host;  // without IPv6 brackets
  int port = 0;
};

// Parses "host:port" or "[ipv6]:port" (port 0 to 65535). Errors are
// INVALID_ARGUMENT and start with `what` and the address, e.g.
// `grpc listen "x:99999": port must be 0..65535 (want host:port or
// [ipv6]:port)`.
absl::StatusOr<HostPort> ParseListenAddress(absl::string_view what,
                                            const std::string& listen);

}  // namespace muster::registry
