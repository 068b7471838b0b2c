#include "daemon/http_endpoint.h"

#include <curl/curl.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"

namespace muster::registry {
namespace {

struct HttpResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string content_type;
};

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// A plain GET with libcurl, an independent HTTP client.
HttpResult Get(int port, const std::string& path) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  std::string url = absl::StrCat("http://127.0.0.1:", port, path);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  result.code = curl_easy_perform(curl);
  if (result.code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
    char* content_type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
    if (content_type != nullptr) result.content_type = content_type;
  }
  curl_easy_cleanup(curl);
  return result;
}

std::unique_ptr<HttpEndpoint> StartEndpoint(Metrics& metrics,
                                            HttpEndpoint::ReadyCheck ready) {
  HttpEndpoint::Options options;
  options.listen = "127.0.0.1:0";
  auto endpoint = HttpEndpoint::Create(options, metrics, std::move(ready));
  INFO(endpoint.status());
  REQUIRE(endpoint.ok());
  absl::Status started = (*endpoint)->Start();
  INFO(started);
  REQUIRE(started.ok());
  return std::move(endpoint).value();
}

TEST_CASE("GET /metrics renders the registry's metrics", "[http_endpoint]") {
  Metrics metrics;
  Counter& requests = metrics.GetCounter("muster_test_requests_total",
                                         "Requests seen by the test.",
                                         {{"method", "Register"}});
  requests.Increment(3);
  auto endpoint = StartEndpoint(metrics, nullptr);
  REQUIRE(endpoint->port() > 0);
  CHECK(endpoint->address() == absl::StrCat("127.0.0.1:", endpoint->port()));

  HttpResult first = Get(endpoint->port(), "/metrics");
  REQUIRE(first.code == CURLE_OK);
  CHECK(first.status == 200);
  CHECK(first.content_type == "text/plain; version=0.0.4");
  CHECK_THAT(first.body,
             Catch::Contains("# TYPE muster_test_requests_total counter\n"));
  CHECK_THAT(first.body, Catch::Contains("muster_test_requests_total{method="
                                         "\"Register\"} 3\n"));

  // Every scrape renders the current values.
  requests.Increment(2);
  HttpResult second = Get(endpoint->port(), "/metrics");
  REQUIRE(second.code == CURLE_OK);
  CHECK_THAT(second.body, Catch::Contains("muster_test_requests_total{method="
                                          "\"Register\"} 5\n"));
}

TEST_CASE("GET /healthz is 200 ok and unknown paths are 404",
          "[http_endpoint]") {
  Metrics metrics;
  auto endpoint = StartEndpoint(
      metrics, [] { return absl::UnavailableError("grpc port wedged"); });

  // Liveness does not depend on readiness.
  HttpResult health = Get(endpoint->port(), "/healthz");
  REQUIRE(health.code == CURLE_OK);
  CHECK(health.status == 200);
  CHECK(health.body == "ok");

  HttpResult missing = Get(endpoint->port(), "/nope");
  REQUIRE(missing.code == CURLE_OK);
  CHECK(missing.status == 404);
}

TEST_CASE("GET /readyz follows the readiness callback", "[http_endpoint]") {
  Metrics metrics;
  std::atomic<bool> ready{false};
  auto endpoint = StartEndpoint(metrics, [&ready] {
    return ready ? absl::OkStatus()
                 : absl::UnavailableError("grpc 127.0.0.1:1: no Ping answer");
  });

  HttpResult before = Get(endpoint->port(), "/readyz");
  REQUIRE(before.code == CURLE_OK);
  CHECK(before.status == 503);
  CHECK(before.body == "not ready: grpc 127.0.0.1:1: no Ping answer");

  ready = true;
  HttpResult after = Get(endpoint->port(), "/readyz");
  REQUIRE(after.code == CURLE_OK);
  CHECK(after.status == 200);
  CHECK(after.body == "ready");

  ready = false;
  CHECK(Get(endpoint->port(), "/readyz").status == 503);
}

TEST_CASE("GET /readyz without a callback is always ready", "[http_endpoint]") {
  Metrics metrics;
  auto endpoint = StartEndpoint(metrics, nullptr);
  CHECK(Get(endpoint->port(), "/readyz").status == 200);
}

TEST_CASE("a second endpoint on a taken port fails in Create",
          "[http_endpoint]") {
  Metrics metrics;
  auto first = StartEndpoint(metrics, nullptr);
  std::string listen = absl::StrCat("127.0.0.1:", first->port());

  HttpEndpoint::Options options;
  options.listen = listen;
  auto second = HttpEndpoint::Create(options, metrics, nullptr);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(second.status().message()) ==
        absl::StrCat("http listen ", listen, ": address already in use"));

  // The first endpoint is unharmed.
  CHECK(Get(first->port(), "/healthz").status == 200);

  // Stop() releases the port.
  first->Stop();
  auto third = HttpEndpoint::Create(options, metrics, nullptr);
  INFO(third.status());
  CHECK(third.ok());
}

TEST_CASE("Stop is idempotent and ends serving", "[http_endpoint]") {
  Metrics metrics;
  auto endpoint = StartEndpoint(metrics, nullptr);
  int port = endpoint->port();
  REQUIRE(Get(port, "/healthz").status == 200);

  endpoint->Stop();
  endpoint->Stop();
  CHECK(Get(port, "/healthz").code == CURLE_COULDNT_CONNECT);

  absl::Status restarted = endpoint->Start();
  CHECK(restarted.code() == absl::StatusCode::kFailedPrecondition);
  endpoint->Stop();
}

TEST_CASE("Stop right after Start, or without Start, does not hang",
          "[http_endpoint]") {
  Metrics metrics;
  HttpEndpoint::Options options;
  options.listen = "127.0.0.1:0";

  // Stop() may run before the server thread reaches its accept loop.
  for (int i = 0; i < 20; ++i) {
    auto endpoint = HttpEndpoint::Create(options, metrics, nullptr);
    REQUIRE(endpoint.ok());
    REQUIRE((*endpoint)->Start().ok());
    (*endpoint)->Stop();
  }

  auto never_started = HttpEndpoint::Create(options, metrics, nullptr);
  REQUIRE(never_started.ok());
  int port = (*never_started)->port();
  (*never_started)->Stop();
  CHECK(Get(port, "/healthz").code == CURLE_COULDNT_CONNECT);
}

TEST_CASE("bad listen addresses are INVALID_ARGUMENT", "[http_endpoint]") {
  Metrics metrics;
  for (const char* listen :
       {"", "127.0.0.1", "127.0.0.1:", ":7401", "127.0.0.1:65536",
        "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:http", "127.0.0.1:7401x",
        "::1:7401", "[::1]7401", "[]:7401", "[::1"}) {
    HttpEndpoint::Options options;
    options.listen = listen;
    auto endpoint = HttpEndpoint::Create(options, metrics, nullptr);
    INFO("listen=\"" << listen << "\" -> " << endpoint.status());
    REQUIRE_FALSE(endpoint.ok());
    CHECK(endpoint.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(endpoint.status().message()),
               Catch::StartsWith("http listen"));
  }
}

}  // namespace
}  // namespace muster::registry
