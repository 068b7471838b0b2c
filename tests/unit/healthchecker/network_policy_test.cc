#include "healthchecker/network_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "healthchecker/ip_address.h"

namespace muster::healthchecker {
namespace {

NetworkPolicy MakePolicy(NetworkPolicy::Options options = {}) {
  absl::StatusOr<NetworkPolicy> policy = NetworkPolicy::Create(options);
  INFO(policy.status());
  REQUIRE(policy.ok());
  return *policy;
}

IpAddress Ip(const char* text) {
  std::optional<IpAddress> ip = IpAddress::Parse(text);
  INFO(text);
  REQUIRE(ip.has_value());
  return *ip;
}

TEST_CASE("ip literals parse, hostnames do not", "[network_policy]") {
  REQUIRE(Ip("127.0.0.1").ToString() == "127.0.0.1");
  REQUIRE(Ip("[::1]").ToString() == "::1");
  REQUIRE(Ip("fe80::1%eth0").ToString() == "fe80::1");
  // Legacy IPv4 spellings resolvers accept, and IPv4-mapped IPv6.
  REQUIRE(Ip("2852039166").ToString() == "169.254.169.254");
  REQUIRE(Ip("0xa9.254.169.254").ToString() == "169.254.169.254");
  REQUIRE(Ip("::ffff:169.254.169.254").ToString() == "169.254.169.254");
  REQUIRE(Ip("::ffff:169.254.169.254").family() == IpAddress::Family::kV4);
  REQUIRE_FALSE(IpAddress::Parse("example.com").has_value());
  REQUIRE_FALSE(IpAddress::Parse("").has_value());
  REQUIRE_FALSE(IpAddress::Parse("1.2.3.4.example.com").has_value());
}

TEST_CASE("ip addresses round-trip through sockaddr", "[network_policy]") {
  sockaddr_storage storage;
  REQUIRE(Ip("10.1.2.3").ToSockaddr(8080, &storage) == sizeof(sockaddr_in));
  REQUIRE(ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port) == 8080);
  REQUIRE(IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage)) ==
          Ip("10.1.2.3"));
  REQUIRE(Ip("2001:db8::7").ToSockaddr(1, &storage) == sizeof(sockaddr_in6));
  REQUIRE(IpAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage)) ==
          Ip("2001:db8::7"));
}

TEST_CASE("the default policy refuses link-local networks",
          "[network_policy]") {
  NetworkPolicy policy = MakePolicy();
  REQUIRE(policy.CheckAddress(Ip("127.0.0.1")).ok());
  REQUIRE(policy.CheckAddress(Ip("10.0.0.1")).ok());
  REQUIRE(policy.CheckAddress(Ip("2001:db8::1")).ok());
  absl::Status refused = policy.CheckAddress(Ip("169.254.169.254"));
  REQUIRE(absl::IsPermissionDenied(refused));
  REQUIRE(refused.message() == "refused by network policy: 169.254.169.254");
  REQUIRE(absl::IsPermissionDenied(policy.CheckAddress(Ip("fe80::1"))));
  REQUIRE(absl::IsPermissionDenied(policy.CheckAddress(Ip("febf::1"))));
  REQUIRE(policy.CheckAddress(Ip("fec0::1")).ok());
  REQUIRE(
      absl::IsPermissionDenied(policy.CheckAddress(Ip("::ffff:169.254.1.1"))));
}

TEST_CASE("check host refuses literals at registration, naming the field",
          "[network_policy]") {
  NetworkPolicy policy = MakePolicy();
  REQUIRE(policy.CheckHost("10.0.0.5", "instance.address").ok());
  REQUIRE(policy.CheckHost("db.internal", "instance.address").ok());
  absl::Status refused =
      policy.CheckHost("169.254.169.254", "instance.address");
  REQUIRE(absl::IsInvalidArgument(refused));
  REQUIRE(refused.message().find("instance.address") == 0);
  REQUIRE(refused.message().find("169.254.0.0/16") != absl::string_view::npos);
  refused = policy.CheckHost("http://169.254.169.254/latest/meta-data",
                             "check.http_url");
  REQUIRE(absl::IsInvalidArgument(refused));
  REQUIRE(refused.message().find("check.http_url") == 0);
  REQUIRE(absl::IsInvalidArgument(
      policy.CheckHost("http://[fe80::1]:80/", "check.http_url")));
  REQUIRE(absl::IsInvalidArgument(
      policy.CheckHost("http://user@2852039166/", "u")));
  REQUIRE(policy.CheckHost("https://example.com:8443/health", "check.http_url")
              .ok());
  REQUIRE(absl::IsInvalidArgument(
      policy.CheckHost("http:///nohost", "check.http_url")));
}

TEST_CASE("allow lists admit only their networks and deny wins",
          "[network_policy]") {
  NetworkPolicy::Options options;
  options.allow = {"10.0.0.0/8", "2001:db8::/32"};
  options.deny = {"10.9.0.0/16"};
  NetworkPolicy policy = MakePolicy(options);
  REQUIRE(policy.CheckAddress(Ip("10.1.2.3")).ok());
  REQUIRE(policy.CheckAddress(Ip("2001:db8:1::1")).ok());
  REQUIRE_FALSE(policy.CheckAddress(Ip("10.9.1.1")).ok());
  REQUIRE_FALSE(policy.CheckAddress(Ip("192.168.1.1")).ok());
  REQUIRE_FALSE(policy.CheckAddress(Ip("2001:db9::1")).ok());
  absl::Status refused = policy.CheckHost("192.168.1.1", "instance.address");
  REQUIRE(refused.message().find("outside the allowed networks") !=
          absl::string_view::npos);
  // With the deny list emptied, link-local is allowed.
  REQUIRE(MakePolicy({{}, {}}).CheckAddress(Ip("169.254.169.254")).ok());
}

TEST_CASE("bad networks are refused at creation", "[network_policy]") {
  for (const char* bad : {"10.0.0.0/33", "fe80::/129", "example.com/8",
                          "10.1/8", "", "1.2.3.4/x"}) {
    INFO(bad);
    absl::StatusOr<NetworkPolicy> policy = NetworkPolicy::Create({{bad}, {}});
    REQUIRE(absl::IsInvalidArgument(policy.status()));
  }
  REQUIRE(NetworkPolicy::Create({{"192.0.2.7", "::1"}, {}}).ok());
}

TEST_CASE("the host of an http url", "[network_policy]") {
  REQUIRE(*HttpUrlHost("http://Example.COM:8080/health") == "example.com");
  REQUIRE(*HttpUrlHost("HTTPS://[::1]:443/x?y#z") == "::1");
  REQUIRE(*HttpUrlHost("http://user:pw@10.0.0.1/") == "10.0.0.1");
  REQUIRE(*HttpUrlHost("http://10.0.0.1?q") == "10.0.0.1");
  REQUIRE_FALSE(HttpUrlHost("ftp://example.com/").ok());
  REQUIRE_FALSE(HttpUrlHost("example.com/health").ok());
  REQUIRE_FALSE(HttpUrlHost("http://[::1/").ok());
}

}  // namespace
}  // namespace muster::healthchecker
