#pragma once

// How ServiceChannel turns a routable set into a gRPC target. Internal.

#include <string>
#include <vector>

#include "muster/client/resolver.h"

namespace muster::client::internal {

// "ipv4:10.0.0.1:80,10.0.0.2:80" or "ipv6:[::1]:80,...": every endpoint's
// address (hostnames resolved with getaddrinfo, the first address kept)
// and port, sorted, duplicates dropped. The family of the first endpoint
// that resolves wins; endpoints of the other family, and those that do
// not resolve, are left out. "" when none is left.
std::string ChannelTarget(const std::vector<Endpoint>& endpoints);

// The target of the channel used while there is no instance: its calls
// fail with UNAVAILABLE at once.
inline constexpr char kNoInstanceTarget[] = "ipv4:127.0.0.1:0";

}  // namespace muster::client::internal
