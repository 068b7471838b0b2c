#include "healthchecker/network_policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace muster::healthchecker {

absl::StatusOr<NetworkPolicy::Network> NetworkPolicy::ParseNetwork(
    absl::string_view text) {
  const std::string entry(absl::StripAsciiWhitespace(text));
  const size_t slash = entry.find('/');
  const absl::string_view ip_text = absl::string_view(entry).substr(0, slash);
  std::optional<IpAddress> base = IpAddress::Parse(ip_text);
  // Networks are written canonically; the legacy IPv4 forms IpAddress
  // accepts would only hide typos here.
  const bool dotted_quad = absl::StrContains(ip_text, ':') ||
                           std::count(ip_text.begin(), ip_text.end(), '.') == 3;
  if (!base.has_value() || !dotted_quad) {
    return absl::InvalidArgumentError(
        absl::StrCat("network \"", entry, "\": not an IP address or CIDR"));
  }
  int prefix_length = base->bit_length();
  if (slash != std::string::npos) {
    if (!absl::SimpleAtoi(absl::string_view(entry).substr(slash + 1),
                          &prefix_length) ||
        prefix_length < 0 || prefix_length > base->bit_length()) {
      return absl::InvalidArgumentError(
          absl::StrCat("network \"", entry, "\": prefix length must be 0..",
                       base->bit_length()));
    }
    // "::ffff:0:0/96"-style mapped networks are stored as IPv4.
    if (base->family() == IpAddress::Family::kV4 &&
        absl::StrContains(ip_text, ':')) {
      prefix_length = std::max(0, prefix_length - 96);
    }
  }
  return Network{*base, prefix_length, entry};
}

absl::StatusOr<NetworkPolicy> NetworkPolicy::Create(const Options& options) {
  std::vector<Network> allow;
  std::vector<Network> deny;
  for (const std::string& text : options.allow) {
    absl::StatusOr<Network> network = ParseNetwork(text);
    if (!network.ok()) return network.status();
    allow.push_back(*std::move(network));
  }
  for (const std::string& text : options.deny) {
    absl::StatusOr<Network> network = ParseNetwork(text);
    if (!network.ok()) return network.status();
    deny.push_back(*std::move(network));
  }
  return NetworkPolicy(std::move(allow), std::move(deny));
}

bool NetworkPolicy::Contains(const Network& network, const IpAddress& address) {
  if (network.base.family() != address.family()) return false;
  const auto& a = network.base.bytes();
  const auto& b = address.bytes();
  int bits = network.prefix_length;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask =
        bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

std::string NetworkPolicy::Refusal(const IpAddress& address) const {
  for (const Network& network : deny_) {
    if (Contains(network, address))
      return absl::StrCat("denied network ", network.text);
  }
  if (allow_.empty()) return "";
  for (const Network& network : allow_) {
    if (Contains(network, address)) return "";
  }
  return "outside the allowed networks";
}

absl::Status NetworkPolicy::CheckHost(absl::string_view host_or_url,
                                      absl::string_view field) const {
  std::string host(host_or_url);
  if (absl::StrContains(host_or_url, "://")) {
    absl::StatusOr<std::string> url_host = HttpUrlHost(host_or_url);
    if (!url_host.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", url_host.status().message()));
    }
    host = *std::move(url_host);
  }
  std::optional<IpAddress> address = IpAddress::Parse(host);
  if (!address.has_value()) return absl::OkStatus();
  const std::string refusal = Refusal(*address);
  if (refusal.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": address ", address->ToString(),
      " may not be health-checked by this server (", refusal, ")"));
}

absl::Status NetworkPolicy::CheckAddress(const IpAddress& address) const {
  if (Refusal(address).empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("refused by network policy: ", address.ToString()));
}

absl::StatusOr<std::string> HttpUrlHost(absl::string_view url) {
  absl::string_view rest = url;
  if (absl::StartsWithIgnoreCase(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (absl::StartsWithIgnoreCase(rest, "https://")) {
    rest.remove_prefix(8);
  } else {
    return absl::InvalidArgumentError(
        "not an absolute http:// or https:// URL");
  }
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  const size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) authority.remove_prefix(at + 1);
  absl::string_view host;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("URL has an unterminated [IPv6] host");
    }
    host = authority.substr(1, close - 1);
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  if (host.empty()) return absl::InvalidArgumentError("URL has no host");
  return absl::AsciiStrToLower(host);
}

}  // namespace muster::healthchecker
