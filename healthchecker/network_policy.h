#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "healthchecker/ip_address.h"

namespace muster::healthchecker {

// Which networks health checks may reach. An address is refused when it
// is in a denied network, or when allowed networks are given and it is in
// none of them (deny wins). Hostnames are judged after resolution, at
// probe time. Immutable after Create; thread-safe; copyable.
class NetworkPolicy final {
 public:
  struct Options {
    // CIDRs ("10.0.0.0/8", "2001:db8::/32") or single addresses. Empty:
    // every network not denied.
    std::vector<std::string> allow;
    // By default the link-local networks, where cloud metadata endpoints
    // live.
    std::vector<std::string> deny = {"169.254.0.0/16", "fe80::/10"};
  };

  // INVALID_ARGUMENT naming the bad entry.
  static absl::StatusOr<NetworkPolicy> Create(const Options& options);

  // For registration. `host_or_url` is a host, an IP literal, or an
  // http(s) URL whose host is checked. INVALID_ARGUMENT naming `field`
  // when an IP literal is refused or the URL has no host; OK for
  // hostnames (they are checked at probe time).
  absl::Status CheckHost(absl::string_view host_or_url,
                         absl::string_view field) const;

  // For probes, after resolution. PERMISSION_DENIED with the message
  // "refused by network policy: 169.254.169.254" when refused.
  absl::Status CheckAddress(const IpAddress& address) const;

 private:
  struct Network {
    IpAddress base;
    int prefix_length;
    std::string text;
  };

  explicit NetworkPolicy(std::vector<Network> allow, std::vector<Network> deny)
      : allow_(std::move(allow)), deny_(std::move(deny)) {}
  static absl::StatusOr<Network> ParseNetwork(absl::string_view text);
  static bool Contains(const Network& network, const IpAddress& address);
  // The refusing rule in words, or "" when `address` may be reached.
  std::string Refusal(const IpAddress& address) const;

  std::vector<Network> allow_;
  std::vector<Network> deny_;
};

// The host of an absolute http:// or https:// URL, without brackets or
// port ("169.254.169.254", "::1", "example.com"), lowercased.
// INVALID_ARGUMENT when `url` is not such a URL.
absl::StatusOr<std::string> HttpUrlHost(absl::string_view url);

}  // namespace muster::healthchecker
