#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

struct sockaddr;
struct sockaddr_storage;

namespace muster::healthchecker {

// An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
// are stored as IPv4, so that a network policy cannot be bypassed by
// spelling. Value type.
class IpAddress final {
 public:
  enum class Family { kV4, kV6 };

  // Parses an IP literal: dotted IPv4 in any form inet_aton accepts
  // ("10.1", "0x7f.1", "2130706433" too), or IPv6, optionally in
  // brackets. nullopt for anything else (e.g. a hostname).
  static std::optional<IpAddress> Parse(absl::string_view text);
  // From an AF_INET or AF_INET6 socket address; nullopt for others.
  static std::optional<IpAddress> FromSockaddr(const sockaddr* address);

  Family family() const { return family_; }
  // Network byte order; IPv4 uses the first 4 bytes.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  int bit_length() const { return family_ == Family::kV4 ? 32 : 128; }

  // "127.0.0.1", "fe80::1".
  std::string ToString() const;
  // Fills `out` with this address and `port`; returns its length.
  uint32_t ToSockaddr(uint16_t port, sockaddr_storage* out) const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }

 private:
  IpAddress(Family family, const std::array<uint8_t, 16>& bytes)
      : family_(family), bytes_(bytes) {}
  static IpAddress FromV6Bytes(const std::array<uint8_t, 16>& bytes);

  Family family_;
  std::array<uint8_t, 16> bytes_;
};

}  // namespace muster::healthchecker
