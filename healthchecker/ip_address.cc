#include "healthchecker/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/match.h"

namespace muster::healthchecker {

IpAddress IpAddress::FromV6Bytes(const std::array<uint8_t, 16>& bytes) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                                0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    std::array<uint8_t, 16> v4{};
    std::memcpy(v4.data(), bytes.data() + 12, 4);
    return IpAddress(Family::kV4, v4);
  }
  return IpAddress(Family::kV6, bytes);
}

std::optional<IpAddress> IpAddress::Parse(absl::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  std::string literal(text);
  std::array<uint8_t, 16> bytes{};
  if (absl::StrContains(literal, ':')) {
    // A zone ("fe80::1%eth0") does not change which network it is in.
    literal = literal.substr(0, literal.find('%'));
    if (inet_pton(AF_INET6, literal.c_str(), bytes.data()) != 1)
      return std::nullopt;
    return FromV6Bytes(bytes);
  }
  // inet_aton, unlike inet_pton, accepts the legacy forms ("2852039166",
  // "0xa9.254.169.254") that resolvers and libcurl also accept.
  in_addr v4{};
  if (inet_aton(literal.c_str(), &v4) == 0) return std::nullopt;
  std::memcpy(bytes.data(), &v4.s_addr, 4);
  return IpAddress(Family::kV4, bytes);
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr* address) {
  if (address == nullptr) return std::nullopt;
  std::array<uint8_t, 16> bytes{};
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    std::memcpy(bytes.data(), &v4->sin_addr.s_addr, 4);
    return IpAddress(Family::kV4, bytes);
  }
  if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    std::memcpy(bytes.data(), v6->sin6_addr.s6_addr, 16);
    return FromV6Bytes(bytes);
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  const int af = family_ == Family::kV4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes_.data(), buffer, sizeof(buffer)) == nullptr)
    return "?";
  return buffer;
}

uint32_t IpAddress::ToSockaddr(uint16_t port, sockaddr_storage* out) const {
  std::memset(out, 0, sizeof(*out));
  if (family_ == Family::kV4) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(out);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    std::memcpy(&v4->sin_addr.s_addr, bytes_.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  std::memcpy(v6->sin6_addr.s6_addr, bytes_.data(), 16);
  return sizeof(sockaddr_in6);
}

}  // namespace muster::healthchecker
