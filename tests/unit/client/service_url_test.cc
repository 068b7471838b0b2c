#include "client/src/service_url.h"

#include <catch2/catch.hpp>
#include <string>

namespace muster::client::internal {
namespace {

TEST_CASE("service urls name a service and the path to send",
          "[client][service_url]") {
  std::string error;
  std::optional<TargetUrl> url =
      ParseTargetUrl("service://identity/users/42?full=1#top", &error);
  REQUIRE(url.has_value());
  CHECK(url->service == "identity");
  CHECK(url->rest == "/users/42?full=1");
  CHECK(url->ForHost("10.0.0.1:8080") ==
        "http://10.0.0.1:8080/users/42?full=1");

  url = ParseTargetUrl("SERVICE://identity", &error);
  REQUIRE(url.has_value());
  CHECK(url->rest == "/");
  url = ParseTargetUrl("service://my-svc.v2?q=1", &error);
  REQUIRE(url.has_value());
  CHECK(url->service == "my-svc.v2");
  CHECK(url->rest == "/?q=1");
}

TEST_CASE("http and https urls are sent as they are", "[client][service_url]") {
  std::string error;
  std::optional<TargetUrl> url =
      ParseTargetUrl("http://127.0.0.1:99/a?b", &error);
  REQUIRE(url.has_value());
  CHECK_FALSE(url->is_service());
  CHECK(url->ForHost("ignored:1") == "http://127.0.0.1:99/a?b");
  CHECK(ParseTargetUrl("https://example.com", &error).has_value());
}

TEST_CASE("bad urls are refused with the problem named",
          "[client][service_url]") {
  const std::pair<const char*, const char*> cases[] = {
      {"", "url is empty"},
      {"service:/x", "needs two slashes"},
      {"service:///x", "names no service"},
      {"service://", "names no service"},
      {"service://identity:80/x", "may hold only letters"},
      {"ftp://host/x", "unsupported scheme \"ftp\""},
      {"identity/users", "has no scheme"},
      {"http://", "has no host"},
      {"http:/x", "has no host"},
      {"service://identity/a b", "space"},
  };
  for (const auto& [url, problem] : cases) {
    INFO(url);
    std::string error;
    CHECK_FALSE(ParseTargetUrl(url, &error).has_value());
    CHECK_THAT(error, Catch::Contains(problem));
  }
}

TEST_CASE("host_port brackets ipv6 literals", "[client][service_url]") {
  Endpoint endpoint;
  endpoint.address = "10.1.2.3";
  endpoint.port = 80;
  CHECK(HostPort(endpoint) == "10.1.2.3:80");
  endpoint.address = "::1";
  CHECK(HostPort(endpoint) == "[::1]:80");
}

}  // namespace
}  // namespace muster::client::internal
