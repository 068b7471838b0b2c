#include "muster/client/http_client.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/unit/client/fake_clock.h"

namespace muster::client {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Report = std::pair<std::string, bool>;

// A real HTTP server on 127.0.0.1 (an ephemeral port), serving every
// method and path with `handler`; it records what it was sent.
class Backend {
 public:
  using Handler = std::function<void(const httplib::Request&,
                                     httplib::Response&, Backend&)>;

  explicit Backend(Handler handler) : handler_(std::move(handler)) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(64); };
    // Without it, Nagle and delayed ACKs slow reused connections down.
    server_.set_tcp_nodelay(true);
    auto serve = [this](const httplib::Request& request,
                        httplib::Response& response) {
      Serve(request, response);
    };
    server_.Get(".*", serve);
    server_.Post(".*", serve);
    server_.Put(".*", serve);
    server_.Delete(".*", serve);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is lost on a server whose loop has not started yet.
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~Backend() {
    Release();
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  int hits() const { return hits_.load(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  httplib::Request last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  // How many connections the requests came on.
  size_t connections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return remote_ports_.size();
  }

  // For handlers that hang: waits until the test ends (or 10 s).
  void WaitForRelease() {
    std::unique_lock<std::mutex> lock(mu_);
    released_cv_.wait_for(lock, seconds(10), [this] { return released_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    released_cv_.notify_all();
  }

 private:
  void Serve(const httplib::Request& request, httplib::Response& response) {
    ++hits_;
    const int now = ++in_flight_;
    int seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_ = request;
      remote_ports_.insert(request.remote_port);
    }
    handler_(request, response, *this);
    --in_flight_;
  }

  const Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> hits_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  mutable std::mutex mu_;
  httplib::Request last_;
  std::set<int> remote_ports_;
  bool released_ = false;
  std::condition_variable released_cv_;
};

Backend::Handler Status(int status, HttpHeaders headers = {}) {
  return [status, headers](const httplib::Request&, httplib::Response& response,
                           Backend&) {
    response.status = status;
    for (const auto& [name, value] : headers) response.set_header(name, value);
    response.set_content("status " + std::to_string(status), "text/plain");
  };
}

Backend::Handler Hang() {
  return [](const httplib::Request&, httplib::Response& response,
            Backend& backend) {
    backend.WaitForRelease();
    response.set_content("late", "text/plain");
  };
}

// A port bound on 127.0.0.1 with nothing listening: connecting to it is
// refused, and no one else can take it while the test runs.
class ClosedPort {
 public:
  ClosedPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) ==
            0);
    port_ = ntohs(address.sin_port);
  }
  ~ClosedPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// Endpoints of "svc" in the order added; records Pick and Report calls.
class FakePicker final : public EndpointPicker {
 public:
  void Add(const std::string& id, int port) {
    Endpoint endpoint;
    endpoint.service = "svc";
    endpoint.id = id;
    endpoint.address = "127.0.0.1";
    endpoint.port = static_cast<uint32_t>(port);
    std::lock_guard<std::mutex> lock(mu_);
    endpoints_.push_back(endpoint);
  }

  std::optional<Endpoint> Pick(const std::string& service,
                               const std::vector<std::string>& exclude,
                               std::string* why) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++picks_;
    for (const Endpoint& endpoint : endpoints_) {
      if (service == endpoint.service &&
          std::find(exclude.begin(), exclude.end(), endpoint.id) ==
              exclude.end()) {
        return endpoint;
      }
    }
    if (why != nullptr) *why = "no routable instance of " + service;
    return std::nullopt;
  }

  void Report(const Endpoint& endpoint, bool success) override {
    std::lock_guard<std::mutex> lock(mu_);
    reports_.emplace_back(endpoint.id, success);
  }

  std::vector<::muster::client::Report> reports() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_;
  }
  int picks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return picks_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Endpoint> endpoints_;
  std::vector<::muster::client::Report> reports_;
  int picks_ = 0;
};

HttpClientOptions Options(std::shared_ptr<Clock> clock) {
  HttpClientOptions options;
  options.backoff_base = milliseconds(1);
  options.backoff_max = milliseconds(2);
  options.clock = std::move(clock);
  return options;
}

struct Fixture {
  std::shared_ptr<testing::FakeClock> clock =
      std::make_shared<testing::FakeClock>();
  std::shared_ptr<FakePicker> picker = std::make_shared<FakePicker>();
};

TEST_CASE("http client retries a 503 on another instance",
          "[client][http_client]") {
  Fixture f;
  Backend a(Status(503));
  Backend b(Status(200));
  f.picker->Add("a", a.port());
  f.picker->Add("b", b.port());
  auto http = HttpClient::Create(f.picker, Options(f.clock));

  HttpResponse response = http->Get("service://svc/users/42?full=1");
  CHECK(response.ok());
  CHECK(response.error.empty());
  CHECK(response.status == 200);
  CHECK(response.body == "status 200");
  CHECK(response.attempts == 2);
  CHECK(response.instance_id == "b");
  CHECK(response.host_port == "127.0.0.1:" + std::to_string(b.port()));
  CHECK(response.header("content-type") == "text/plain");
  CHECK(a.hits() == 1);
  CHECK(b.hits() == 1);
  CHECK(b.last().path == "/users/42");
  CHECK(b.last().get_param_value("full") == "1");
  CHECK(f.picker->reports() == std::vector<Report>{{"a", false}, {"b", true}});
  const HttpClientStats stats = http->stats();
  CHECK(stats.requests == 1);
  CHECK(stats.tries == 2);
  CHECK(stats.retries == 1);
  CHECK(stats.budget_exhausted == 0);
}

TEST_CASE("http client retries a refused connection on another instance",
          "[client][http_client]") {
  Fixture f;
  ClosedPort closed;
  Backend b(Status(200));
  f.picker->Add("a", closed.port());
  f.picker->Add("b", b.port());
  auto http = HttpClient::Create(f.picker, Options(f.clock));

  HttpResponse response = http->Get("service://svc/x");
  CHECK(response.ok());
  CHECK(response.attempts == 2);
  CHECK(response.instance_id == "b");
  CHECK(f.picker->reports() == std::vector<Report>{{"a", false}, {"b", true}});
}

TEST_CASE("http client reuses the only instance and says why it failed",
          "[client][http_client]") {
  Fixture f;
  ClosedPort closed;
  f.picker->Add("a", closed.port());
  auto http = HttpClient::Create(f.picker, Options(f.clock));

  HttpResponse response = http->Get("service://svc/x");
  CHECK_FALSE(response.ok());
  CHECK(response.status == 0);
  CHECK(response.error == "connect: Connection refused");
  CHECK(response.attempts == 3);
  CHECK(f.picker->reports() ==
        std::vector<Report>{{"a", false}, {"a", false}, {"a", false}});
  // Backoff between the tries, on the client's clock.
  CHECK(f.clock->sleeps().size() == 2);
}

TEST_CASE("http client retries after a per-try timeout",
          "[client][http_client]") {
  Fixture f;
  Backend slow(Hang());
  Backend b(Status(200));
  f.picker->Add("slow", slow.port());
  f.picker->Add("b", b.port());
  HttpClientOptions options = Options(f.clock);
  options.per_try_timeout = milliseconds(200);
  auto http = HttpClient::Create(f.picker, options);

  HttpResponse response = http->Get("service://svc/x");
  CHECK(response.ok());
  CHECK(response.attempts == 2);
  CHECK(f.picker->reports() ==
        std::vector<Report>{{"slow", false}, {"b", true}});

  HttpRequest once;
  once.url = "http://127.0.0.1:" + std::to_string(slow.port()) + "/x";
  once.per_try_timeout = milliseconds(100);
  HttpClientOptions single = options;
  single.max_attempts = 1;
  response = HttpClient::Create(f.picker, single)->Send(once);
  CHECK(response.status == 0);
  CHECK(response.error == "timeout after 100 ms");
}

TEST_CASE("http client does not retry a POST unless it is idempotent",
          "[client][http_client]") {
  Fixture f;
  Backend a(Status(503));
  Backend b([](const httplib::Request& request, httplib::Response& response,
               Backend&) {
    response.set_header("X-Reply", "echo");
    response.set_content(request.method + " " + request.body + " " +
                             request.get_header_value("X-Test"),
                         "text/plain");
  });
  f.picker->Add("a", a.port());
  f.picker->Add("b", b.port());
  auto http = HttpClient::Create(f.picker, Options(f.clock));

  HttpResponse response = http->Post("service://svc/orders", "{\"n\":1}");
  CHECK(response.status == 503);
  CHECK(response.error.empty());
  CHECK(response.attempts == 1);
  CHECK(b.hits() == 0);
  CHECK(a.last().body == "{\"n\":1}");
  CHECK(a.last().get_header_value("Content-Type") == "application/json");

  HttpRequest request;
  request.method = "POST";
  request.url = "service://svc/orders";
  request.body = "payload";
  request.headers = {{"X-Test", "yes"}};
  request.idempotent = true;
  response = http->Send(request);
  CHECK(response.ok());
  CHECK(response.attempts == 2);
  CHECK(response.body == "POST payload yes");
  CHECK(response.header("x-REPLY") == "echo");

  // PUT and DELETE are idempotent by method.
  CHECK(http->Put("service://svc/orders/1", "v").body == "PUT v ");
  CHECK(http->Delete("service://svc/orders/1").body == "DELETE  ");
  CHECK(a.hits() == 4);
}

TEST_CASE("http client does not retry a 404 or a 500",
          "[client][http_client]") {
  Fixture f;
  Backend missing(Status(404));
  Backend broken(Status(500));
  Backend spare(Status(200));
  auto http = HttpClient::Create(f.picker, Options(f.clock));

  f.picker->Add("missing", missing.port());
  f.picker->Add("spare", spare.port());
  HttpResponse response = http->Get("service://svc/x");
  CHECK(response.status == 404);
  CHECK_FALSE(response.ok());
  CHECK(response.error.empty());
  CHECK(response.attempts == 1);
  // A 4xx is the caller's problem, not the instance's.
  CHECK(f.picker->reports() == std::vector<Report>{{"missing", true}});

  auto picker = std::make_shared<FakePicker>();
  picker->Add("broken", broken.port());
  picker->Add("spare", spare.port());
  response =
      HttpClient::Create(picker, Options(f.clock))->Get("service://svc/x");
  CHECK(response.status == 500);
  CHECK(response.attempts == 1);
  CHECK(picker->reports() == std::vector<Report>{{"broken", false}});
  CHECK(spare.hits() == 0);
}

TEST_CASE("http client waits a Retry-After longer than the backoff",
          "[client][http_client]") {
  Fixture f;
  Backend busy(Status(503, {{"Retry-After", "3"}}));
  Backend b(Status(200));
  f.picker->Add("busy", busy.port());
  f.picker->Add("b", b.port());
  auto http = HttpClient::Create(f.picker, Options(f.clock));

  HttpResponse response = http->Get("service://svc/x");
  CHECK(response.ok());
  CHECK(response.attempts == 2);
  using Sleeps = std::vector<Clock::Duration>;
  CHECK(f.clock->sleeps() == Sleeps{seconds(3)});

  // A date, measured from the response's own Date.
  auto dated = std::make_shared<testing::FakeClock>();
  Backend later(
      Status(503, {{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"},
                   {"Retry-After", "Sun, 06 Nov 1994 08:49:39 GMT"}}));
  auto picker = std::make_shared<FakePicker>();
  picker->Add("later", later.port());
  picker->Add("b", b.port());
  CHECK(
      HttpClient::Create(picker, Options(dated))->Get("service://svc/x").ok());
  CHECK(dated->sleeps() == Sleeps{seconds(2)});
}

TEST_CASE("http client stops when Retry-After would pass the deadline",
          "[client][http_client]") {
  Fixture f;
  Backend busy(Status(503, {{"Retry-After", "30"}}));
  Backend b(Status(200));
  f.picker->Add("busy", busy.port());
  f.picker->Add("b", b.port());
  HttpClientOptions options = Options(f.clock);
  options.deadline = milliseconds(5000);
  auto http = HttpClient::Create(f.picker, options);

  HttpResponse response = http->Get("service://svc/x");
  CHECK(response.status == 503);
  CHECK(response.header("Retry-After") == "30");
  CHECK(response.attempts == 1);
  CHECK(f.clock->sleeps().empty());
  CHECK(b.hits() == 0);
}

TEST_CASE("http client deadline stops the retries", "[client][http_client]") {
  Fixture f;
  Backend a(Status(503, {{"Retry-After", "1"}}));
  f.picker->Add("a", a.port());
  HttpClientOptions options = Options(f.clock);
  options.max_attempts = 10;
  HttpRequest request;
  request.url = "service://svc/x";
  request.deadline = milliseconds(2500);
  HttpResponse response = HttpClient::Create(f.picker, options)->Send(request);
  // Tries at 0 s, 1 s and 2 s; a third wait would end past 2.5 s.
  CHECK(response.status == 503);
  CHECK(response.attempts == 3);
  CHECK(f.clock->sleeps() ==
        std::vector<Clock::Duration>{seconds(1), seconds(1)});
}

TEST_CASE("http client deadline trims the last try's timeout",
          "[client][http_client]") {
  // Real time: the tries hang until their timeouts.
  auto picker = std::make_shared<FakePicker>();
  Backend slow(Hang());
  Backend slower(Hang());
  picker->Add("slow", slow.port());
  picker->Add("slower", slower.port());
  HttpClientOptions options = Options(Clock::Real());
  options.per_try_timeout = milliseconds(400);
  options.deadline = milliseconds(600);
  options.max_attempts = 10;
  auto http = HttpClient::Create(picker, options);

  const auto start = std::chrono::steady_clock::now();
  HttpResponse response = http->Get("service://svc/x");
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(response.status == 0);
  CHECK_THAT(response.error,
             Catch::StartsWith("deadline of 600 ms reached (last try: "
                               "timeout after "));
  CHECK(response.attempts >= 2);
  CHECK(response.attempts <= 3);
  CHECK(took < milliseconds(2000));
}

TEST_CASE("http client retry budget caps the retries",
          "[client][http_client]") {
  Fixture f;
  Backend a(Status(503));
  Backend b(Status(503));
  f.picker->Add("a", a.port());
  f.picker->Add("b", b.port());
  HttpClientOptions options = Options(f.clock);
  options.max_attempts = 3;
  options.budget_ratio = 0.2;
  options.budget_min_per_second = 10;
  auto http = HttpClient::Create(f.picker, options);

  for (int i = 0; i < 200; ++i) {
    HttpResponse response = http->Get("service://svc/x");
    REQUIRE(response.status == 503);
  }
  const HttpClientStats stats = http->stats();
  CHECK(stats.requests == 200);
  // The fake clock moved less than a second (1-2 ms backoffs): 20% of
  // 200 plus one second's minimum allowance.
  CHECK(stats.retries <= 40 + 10);
  CHECK(stats.retries >= 40);
  CHECK(stats.tries == 200 + stats.retries);
  CHECK(stats.budget_exhausted > 0);
  CHECK(a.hits() + b.hits() == static_cast<int>(stats.tries));
}

TEST_CASE("http client refuses bad urls without sending",
          "[client][http_client]") {
  Fixture f;
  Backend a(Status(200));
  f.picker->Add("a", a.port());
  auto http = HttpClient::Create(f.picker, Options(f.clock));
  const std::pair<const char*, const char*> cases[] = {
      {"service:/x", "service:// needs two slashes"},
      {"ftp://127.0.0.1/x", "unsupported scheme \"ftp\""},
      {"service:///x", "names no service"},
  };
  for (const auto& [url, problem] : cases) {
    INFO(url);
    HttpResponse response = http->Get(url);
    CHECK(response.status == 0);
    CHECK(response.attempts == 0);
    CHECK_THAT(response.error, Catch::Contains(problem));
  }
  HttpRequest request;
  request.method = "GET /x";
  request.url = "service://svc/x";
  CHECK_THAT(http->Send(request).error, Catch::Contains("not an HTTP method"));
  CHECK(http->stats().tries == 0);
  CHECK(f.picker->picks() == 0);
  CHECK(a.hits() == 0);
}

TEST_CASE("http client says when no instance is routable",
          "[client][http_client]") {
  Fixture f;
  auto http = HttpClient::Create(f.picker, Options(f.clock));
  HttpResponse response = http->Get("service://identity/x");
  CHECK(response.error == "no routable instance of identity");
  CHECK(response.attempts == 0);

  auto no_picker = HttpClient::Create(nullptr, Options(f.clock));
  CHECK_THAT(no_picker->Get("service://svc/x").error,
             Catch::Contains("needs a resolver"));
}

TEST_CASE("http client sends http urls as they are", "[client][http_client]") {
  Fixture f;
  Backend a(Status(200));
  auto http = HttpClient::Create(f.picker, Options(f.clock));
  HttpResponse response =
      http->Get("http://127.0.0.1:" + std::to_string(a.port()) + "/p?q=2");
  CHECK(response.ok());
  CHECK(response.instance_id.empty());
  CHECK(a.last().path == "/p");
  CHECK(a.last().get_param_value("q") == "2");
  CHECK(f.picker->picks() == 0);
}

TEST_CASE("http client reuses connections across calls",
          "[client][http_client]") {
  Fixture f;
  Backend a(Status(200));
  f.picker->Add("a", a.port());
  auto http = HttpClient::Create(f.picker, Options(f.clock));
  for (int i = 0; i < 10; ++i) REQUIRE(http->Get("service://svc/x").ok());
  // httplib closes a connection after 5 requests.
  CHECK(a.connections() <= 2);
}

TEST_CASE("http response header lookup ignores case", "[client][http_client]") {
  HttpResponse response;
  response.headers = {{"Content-Type", "a"}, {"content-type", "b"}};
  CHECK(response.header("CONTENT-TYPE") == "a");
  CHECK(response.header("missing").empty());
}

// The asynchronous path: the client's own thread, real time.

TEST_CASE("async http client retries like the synchronous one",
          "[client][http_client][async]") {
  auto picker = std::make_shared<FakePicker>();
  ClosedPort closed;
  Backend a(Status(503));
  Backend b(Status(200));
  picker->Add("closed", closed.port());
  picker->Add("a", a.port());
  picker->Add("b", b.port());
  auto http = HttpClient::Create(picker, Options(Clock::Real()));

  HttpResponse response = http->GetAsync("service://svc/x").get();
  CHECK(response.ok());
  CHECK(response.attempts == 3);
  CHECK(response.instance_id == "b");
  CHECK(picker->reports() ==
        std::vector<Report>{{"closed", false}, {"a", false}, {"b", true}});

  HttpRequest post;
  post.method = "POST";
  post.url = "service://svc/x";
  std::promise<HttpResponse> done;
  http->SendAsync(post, [&done](HttpResponse r) { done.set_value(r); });
  response = done.get_future().get();
  CHECK(response.error == "connect: Connection refused");
  CHECK(response.attempts == 1);

  CHECK_THAT(http->GetAsync("service:/x").get().error,
             Catch::Contains("two slashes"));
  CHECK(http->stats().requests == 3);
}

TEST_CASE("async http client retries after a per-try timeout",
          "[client][http_client][async]") {
  auto picker = std::make_shared<FakePicker>();
  Backend slow(Hang());
  Backend b(Status(200));
  picker->Add("slow", slow.port());
  picker->Add("b", b.port());
  HttpClientOptions options = Options(Clock::Real());
  options.per_try_timeout = milliseconds(200);
  auto http = HttpClient::Create(picker, options);
  HttpResponse response = http->GetAsync("service://svc/x").get();
  CHECK(response.ok());
  CHECK(response.attempts == 2);
  CHECK(picker->reports() == std::vector<Report>{{"slow", false}, {"b", true}});
}

Backend::Handler Slow(milliseconds delay) {
  return
      [delay](const httplib::Request&, httplib::Response& response, Backend&) {
        std::this_thread::sleep_for(delay);
        response.set_content("done", "text/plain");
      };
}

TEST_CASE("async http client runs many requests at once",
          "[client][http_client][async]") {
  // Five instances, as httplib's listen backlog of 5 drops part of a
  // burst of 50 connections to one (the kernel then retries the SYN a
  // second later, hence the generous per-try timeout).
  auto picker = std::make_shared<FakePicker>();
  auto in_flight = std::make_shared<std::atomic<int>>(0);
  auto most = std::make_shared<std::atomic<int>>(0);
  auto handler = [in_flight, most](const httplib::Request&,
                                   httplib::Response& response, Backend&) {
    const int now = ++*in_flight;
    int seen = most->load();
    while (now > seen && !most->compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(milliseconds(200));
    --*in_flight;
    response.set_content("done", "text/plain");
  };
  std::vector<std::unique_ptr<Backend>> backends;
  for (int i = 0; i < 5; ++i) {
    backends.push_back(std::make_unique<Backend>(handler));
  }
  // Round robin, as a resolver would: each request starts elsewhere.
  class RoundRobin final : public EndpointPicker {
   public:
    explicit RoundRobin(std::vector<int> ports) : ports_(std::move(ports)) {}
    std::optional<Endpoint> Pick(const std::string& service,
                                 const std::vector<std::string>&,
                                 std::string*) override {
      Endpoint endpoint;
      endpoint.service = service;
      const size_t i = next_++ % ports_.size();
      endpoint.id = std::to_string(i);
      endpoint.address = "127.0.0.1";
      endpoint.port = static_cast<uint32_t>(ports_[i]);
      return endpoint;
    }
    void Report(const Endpoint&, bool) override {}

   private:
    const std::vector<int> ports_;
    std::atomic<size_t> next_{0};
  };
  std::vector<int> ports;
  for (const auto& backend : backends) ports.push_back(backend->port());
  HttpClientOptions options = Options(Clock::Real());
  options.per_try_timeout = milliseconds(5000);
  auto http = HttpClient::Create(std::make_shared<RoundRobin>(ports), options);

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<HttpResponse>> futures;
  for (int i = 0; i < 50; ++i) {
    futures.push_back(http->GetAsync("service://svc/x"));
  }
  for (auto& future : futures) {
    HttpResponse response = future.get();
    INFO(response.error);
    CHECK(response.ok());
  }
  const auto took = std::chrono::steady_clock::now() - start;
  // One after the other they would take 10 s.
  CHECK(took < milliseconds(50 * 200 / 2));
  CHECK(*most >= 10);
}

TEST_CASE("async http client keeps max_async_in_flight",
          "[client][http_client][async]") {
  auto picker = std::make_shared<FakePicker>();
  Backend a(Slow(milliseconds(50)));
  picker->Add("a", a.port());
  HttpClientOptions options = Options(Clock::Real());
  options.max_async_in_flight = 3;
  auto http = HttpClient::Create(picker, options);
  std::vector<std::future<HttpResponse>> futures;
  for (int i = 0; i < 12; ++i)
    futures.push_back(http->GetAsync("service://svc/x"));
  for (auto& future : futures) CHECK(future.get().ok());
  CHECK(a.hits() == 12);
  CHECK(a.max_in_flight() <= 3);
  CHECK(a.max_in_flight() >= 2);
}

TEST_CASE("async http client deadline counts the wait for a turn",
          "[client][http_client][async]") {
  auto picker = std::make_shared<FakePicker>();
  Backend slow(Hang());
  picker->Add("slow", slow.port());
  HttpClientOptions options = Options(Clock::Real());
  options.max_async_in_flight = 1;
  options.max_attempts = 1;
  options.per_try_timeout = milliseconds(300);
  auto http = HttpClient::Create(picker, options);
  std::future<HttpResponse> first = http->GetAsync("service://svc/x");
  HttpRequest second;
  second.url = "service://svc/x";
  second.deadline = milliseconds(100);
  HttpResponse response = http->SendAsync(second).get();
  CHECK(response.error == "deadline of 100 ms reached before the first try");
  CHECK(response.attempts == 0);
  CHECK(first.get().error == "timeout after 300 ms");
  CHECK(slow.hits() == 1);
}

TEST_CASE("http client destruction waits for async requests",
          "[client][http_client][async]") {
  auto picker = std::make_shared<FakePicker>();
  Backend a(Slow(milliseconds(100)));
  picker->Add("a", a.port());
  std::atomic<int> done{0};
  {
    auto http = HttpClient::Create(picker, Options(Clock::Real()));
    for (int i = 0; i < 5; ++i) {
      HttpRequest request;
      request.url = "service://svc/x";
      http->SendAsync(request, [&done](HttpResponse response) {
        if (response.ok()) ++done;
      });
    }
  }
  CHECK(done == 5);
}

}  // namespace
}  // namespace muster::client
