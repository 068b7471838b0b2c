#pragma once

// HTTP calls to a service by name, over libcurl:
//
//   muster::client::HttpClient http(resolver);
//   auto response = http.Get("service://identity/users/42");
//   if (response.ok()) use(response.body);
//
// `service://<service>/<path>` picks an instance through the resolver and
// sends http://<address>:<port>/<path>; plain http:// and https:// URLs
// are sent as they are (retried on the same host).
//
// Retries. GET, HEAD, PUT, DELETE and OPTIONS are idempotent (POST and
// PATCH only when HttpRequest::idempotent says so). An idempotent request
// is tried again, on another instance when there is one, after a connect
// error, a timeout, or a 502, 503 or 504, as long as:
// - max_attempts is not reached and the overall deadline leaves room;
// - the retry budget allows it: retries may add at most budget_ratio
//   (20%) to the requests sent over the last budget_window, plus
//   budget_min_per_second so that a quiet client can still retry;
// - a response's Retry-After (seconds or an HTTP date), when longer
//   than the backoff, is waited instead (up to the deadline).
// Between tries: exponential backoff from backoff_base, doubling up to
// backoff_max, with full jitter. Each failed or refused try is reported
// to the resolver (outlier ejection).

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "muster/client/clock.h"
#include "muster/client/resolver.h"

namespace muster::client {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  // Zero: the client's defaults.
  std::chrono::milliseconds per_try_timeout{0};
  std::chrono::milliseconds deadline{0};
  // Unset: by method (see above).
  std::optional<bool> idempotent;
};

struct HttpResponse {
  // The HTTP status of the last try; 0 when no try got a response.
  int status = 0;
  // Why the request failed without a response ("connect: Connection
  // refused", "timeout after 2000 ms", "no routable instance of
  // identity", "retry budget exhausted", ...); "" when a response came.
  std::string error;
  HttpHeaders headers;
  std::string body;
  // How many tries were sent (1 without retries).
  int attempts = 0;
  // The instance that answered last (service:// URLs), and its
  // address:port.
  std::string instance_id;
  std::string host_port;

  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  // The first header of this name (case-insensitive); "" when none.
  std::string header(const std::string& name) const;
};

struct HttpClientOptions {
  std::chrono::milliseconds per_try_timeout{2000};
  std::chrono::milliseconds deadline{10000};
  int max_attempts = 3;
  std::chrono::milliseconds backoff_base{25};
  std::chrono::milliseconds backoff_max{1000};
  double budget_ratio = 0.2;
  std::chrono::milliseconds budget_window{10000};
  int budget_min_per_second = 10;
  // Requests in flight at once on the asynchronous path; more wait.
  int max_async_in_flight = 256;
  // Null: Clock::Real().
  std::shared_ptr<Clock> clock;
};

struct HttpClientStats {
  uint64_t requests = 0;          // calls to Send/SendAsync
  uint64_t tries = 0;             // tries sent, retries included
  uint64_t retries = 0;           // tries beyond the first
  uint64_t budget_exhausted = 0;  // retries the budget refused
};

class HttpClient {
 public:
  static std::unique_ptr<HttpClient> Create(
      std::shared_ptr<EndpointPicker> picker, HttpClientOptions options = {});
  // Waits for the asynchronous requests in flight.
  virtual ~HttpClient() = default;

  virtual HttpResponse Send(HttpRequest request) = 0;
  // Runs on the client's own thread (libcurl multi); `done` is called
  // there once, with the final response.
  virtual void SendAsync(HttpRequest request,
                         std::function<void(HttpResponse)> done) = 0;
  std::future<HttpResponse> SendAsync(HttpRequest request);

  HttpResponse Get(const std::string& url);
  HttpResponse Delete(const std::string& url);
  HttpResponse Post(const std::string& url, std::string body,
                    const std::string& content_type = "application/json");
  HttpResponse Put(const std::string& url, std::string body,
                   const std::string& content_type = "application/json");
  std::future<HttpResponse> GetAsync(const std::string& url);

  virtual HttpClientStats stats() const = 0;
};

}  // namespace muster::client
