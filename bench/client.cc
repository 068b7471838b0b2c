// The client scenario: what the client library (client/) costs and how
// fast it reacts, against the bench's musterd and HTTP servers of its own
// on 127.0.0.1.
// - pick: Resolver::Pick from the watched cache, against the lookup it
//   replaces (a ListInstances of the same service, one in flight).
// - http: HttpClient::Get("service://...") against libcurl calling the
//   same server directly (one easy handle, kept alive), in alternating
//   rounds.
// - drain and failure: a steady stream of library calls over two
//   instances; then one is drained (or starts answering 503), and the
//   time from the drain call (or the first 503) to the last request that
//   instance gets is measured, as its own HTTP server saw it.

#include "muster/client/client.h"

#include <curl/curl.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench.h"
#include "muster/client/http_client.h"
#include "muster/client/resolver.h"

namespace muster::bench {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

double SecondsSince(SteadyTime start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// An HTTP server on 127.0.0.1 that answers "ok" (or 503 once told to
// fail) and remembers when it last got a request.
class EchoServer {
 public:
  EchoServer() {
    server_.Get(".*", [this](const httplib::Request&, httplib::Response& res) {
      last_request_ns_.store(
          std::chrono::steady_clock::now().time_since_epoch().count());
      requests_.fetch_add(1);
      if (failing_.load()) {
        res.status = 503;
        res.set_content("failing", "text/plain");
      } else {
        res.set_content("ok", "text/plain");
      }
    });
    // Without it, a kept-alive connection waits out delayed ACKs (40 ms).
    server_.set_tcp_nodelay(true);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~EchoServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  uint64_t requests() const { return requests_.load(); }
  SteadyTime last_request() const {
    return SteadyTime(SteadyTime::duration(last_request_ns_.load()));
  }
  void SetFailing(bool failing) { failing_.store(failing); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int64_t> last_request_ns_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<bool> failing_{false};
};

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

void Bench::Client() {
  const std::string realm = "client";
  CreateRealm(realm);
  const double phase = std::max(0.5, config_.duration / 2);

  client::ClientOptions options;
  options.addresses = {daemon_.grpc_address()};
  options.realm = realm;
  grpc::Status status;
  std::shared_ptr<client::Client> library =
      client::Client::Create(options, &status);
  if (library == nullptr) {
    Fail("client: " + status.error_message());
    return;
  }
  client::ResolverOptions resolver_options;
  resolver_options.first_sync_timeout = std::chrono::seconds(10);
  auto resolver = client::Resolver::Create(library, resolver_options);

  // --- pick: the cached pick against the lookup it replaces.
  const int picked = config_.quick ? 10 : 100;
  Preload(std::to_string(picked) + " instances to pick from", picked,
          [&](uint64_t i, v1::RegisterRequest* req) {
            FillInstance(realm, "picked", "p-" + std::to_string(i), req);
          });
  const client::ServiceView view = resolver->View("picked");
  if (static_cast<int>(view.routable.size()) != picked) {
    Fail("client: the resolver holds " + std::to_string(view.routable.size()) +
         " routable instances of " + std::to_string(picked));
    return;
  }
  uint64_t picks = 0;
  uint64_t missed = 0;
  SteadyTime start = std::chrono::steady_clock::now();
  while (SecondsSince(start) < phase) {
    for (int i = 0; i < 1000; ++i) {
      if (!resolver->Pick("picked", {})) ++missed;
      ++picks;
    }
  }
  const double pick_rate = picks / SecondsSince(start);
  LoadResult lookups =
      RunClosedLoop<v1::ListInstancesRequest, v1::ListInstancesResponse>(
          1, phase, 0,
          [&](uint64_t, v1::ListInstancesRequest* req) {
            req->set_realm(realm);
            req->set_service("picked");
            req->set_routable_only(true);
          },
          [this](grpc::ClientContext* ctx, const v1::ListInstancesRequest& req,
                 grpc::CompletionQueue* cq) {
            return registry_->AsyncListInstances(ctx, req, cq);
          });
  CheckErrors("client: lookup baseline", lookups);
  if (missed > 0) Fail("client: " + std::to_string(missed) + " picks failed");
  const double lookup_rate = lookups.ok / std::max(lookups.wall_seconds, 1e-9);
  {
    Row row;
    row.scenario = "client-pick";
    row.in_flight = 1;
    row.ops_per_second = pick_rate;
    row.ratio = lookup_rate > 0 ? pick_rate / lookup_rate : 0;
    row.notes = "Resolver::Pick over " + std::to_string(picked) +
                " instances, " + Fixed(1e9 / pick_rate, 0) + " ns each; " +
                Fixed(row.ratio, 0) + "x a ListInstances lookup";
    row.extra.emplace_back("ns_per_pick", 1e9 / pick_rate);
    row.extra.emplace_back("lookups_per_second", lookup_rate);
    rows_.push_back(std::move(row));
  }

  // --- http: a library call against a direct libcurl call.
  EchoServer a;
  EchoServer b;
  int index = 0;
  for (EchoServer* server : {&a, &b}) {
    v1::RegisterRequest req;
    FillInstance(realm, "echo", "e-" + std::to_string(index++), &req);
    req.mutable_instance()->set_address("127.0.0.1");
    req.mutable_instance()->set_port(server->port());
    grpc::ClientContext ctx;
    v1::RegisterResponse resp;
    if (!registry_->Register(&ctx, req, &resp).ok()) {
      Fail("client: cannot register an echo instance");
      return;
    }
  }
  client::HttpClientOptions http_options;
  http_options.per_try_timeout = std::chrono::seconds(5);
  http_options.deadline = std::chrono::seconds(10);
  auto http = client::HttpClient::Create(resolver, http_options);
  const std::string direct_url =
      "http://127.0.0.1:" + std::to_string(a.port()) + "/x";
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, direct_url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  uint64_t library_calls = 0, direct_calls = 0, failures = 0;
  double library_seconds = 0, direct_seconds = 0;
  std::vector<double> library_ms, direct_ms;
  for (int round = 0; round < 4; ++round) {
    start = std::chrono::steady_clock::now();
    while (SecondsSince(start) < phase / 4) {
      const SteadyTime call = std::chrono::steady_clock::now();
      if (curl_easy_perform(curl) != CURLE_OK) ++failures;
      direct_ms.push_back(SecondsSince(call) * 1000);
      ++direct_calls;
    }
    direct_seconds += SecondsSince(start);
    start = std::chrono::steady_clock::now();
    while (SecondsSince(start) < phase / 4) {
      const SteadyTime call = std::chrono::steady_clock::now();
      if (!http->Get("service://echo/x").ok()) ++failures;
      library_ms.push_back(SecondsSince(call) * 1000);
      ++library_calls;
    }
    library_seconds += SecondsSince(start);
  }
  curl_easy_cleanup(curl);
  if (failures > 0) {
    Fail("client: " + std::to_string(failures) + " HTTP calls failed");
  }
  const double direct_rate = direct_calls / direct_seconds;
  const double library_rate = library_calls / library_seconds;
  for (bool library : {false, true}) {
    Row row;
    row.scenario = library ? "client-http" : "client-http-direct";
    row.in_flight = 1;
    row.ops_per_second = library ? library_rate : direct_rate;
    FillLatencies(library ? library_ms : direct_ms, &row);
    if (library) {
      row.ratio = library_rate / direct_rate;
      const double overhead_us = (1 / library_rate - 1 / direct_rate) * 1e6;
      row.notes = "HttpClient::Get(service://echo/x), " + Fixed(row.ratio, 2) +
                  "x direct, " + Fixed(overhead_us, 0) + " us more per call";
      row.extra.emplace_back("overhead_us_per_call", overhead_us);
    } else {
      row.notes = "libcurl to the same server, one handle kept alive";
    }
    rows_.push_back(std::move(row));
  }

  // --- drain and failure: how fast traffic stops reaching an instance.
  // Each round has a resolver and HTTP client of its own, so that no
  // ejection of an earlier round is still in force.
  const int repeats = config_.quick ? 2 : 5;
  const auto settle = std::chrono::milliseconds(config_.quick ? 300 : 1000);
  std::vector<double> drain_ms, failure_ms;
  uint64_t stream_failures = 0;
  auto set_admin = [&](int which, v1::AdminState state) {
    v1::SetAdminStateRequest req;
    req.set_realm(realm);
    req.set_service("echo");
    req.set_id("e-" + std::to_string(which));
    req.set_admin_state(state);
    grpc::ClientContext ctx;
    v1::Instance resp;
    return registry_->SetAdminState(&ctx, req, &resp).ok();
  };
  // Calls service://echo in a loop while `round` runs; returns the calls
  // that failed.
  auto with_stream = [&](const std::function<void()>& round) {
    auto round_resolver = client::Resolver::Create(library, resolver_options);
    auto round_http = client::HttpClient::Create(round_resolver, http_options);
    std::atomic<bool> running{true};
    std::atomic<uint64_t> failed{0};
    std::thread stream([&] {
      while (running.load()) {
        if (!round_http->Get("service://echo/x").ok()) failed.fetch_add(1);
      }
    });
    std::this_thread::sleep_for(settle);
    round();
    running.store(false);
    stream.join();
    return failed.load();
  };
  auto since = [](SteadyTime last, SteadyTime from) {
    return std::max(
        0.0, std::chrono::duration<double, std::milli>(last - from).count());
  };
  for (int i = 0; i < repeats && failures_.empty(); ++i) {
    EchoServer& target = i % 2 == 0 ? a : b;
    const int which = i % 2;
    stream_failures += with_stream([&] {
      // The drain's event is committed (and sent to watchers) during the
      // call: timing from the call's start bounds the delay from above.
      const SteadyTime drained = std::chrono::steady_clock::now();
      if (!set_admin(which, v1::ADMIN_STATE_DRAINING)) {
        Fail("client: drain failed");
        return;
      }
      std::this_thread::sleep_for(settle);
      drain_ms.push_back(since(target.last_request(), drained));
      set_admin(which, v1::ADMIN_STATE_ENABLED);
    });
    // Failure: the instance answers 503 from now on; the retries, then
    // outlier ejection, take traffic off it.
    stream_failures += with_stream([&] {
      target.SetFailing(true);
      const SteadyTime failing = std::chrono::steady_clock::now();
      std::this_thread::sleep_for(settle);
      failure_ms.push_back(since(target.last_request(), failing));
      target.SetFailing(false);
    });
  }
  if (stream_failures > 0) {
    Fail("client: " + std::to_string(stream_failures) +
         " calls failed while instances were drained or failing");
  }
  for (bool drain : {true, false}) {
    const std::vector<double>& ms = drain ? drain_ms : failure_ms;
    Row row;
    row.scenario = drain ? "client-drain" : "client-failure";
    row.in_flight = 1;
    FillLatencies(ms, &row);
    row.notes = drain ? "ms from the drain call to the instance's last request"
                      : "ms from the first 503 to the instance's last request "
                        "(retries, then outlier ejection)";
    row.extra.emplace_back("median_ms", Median(ms));
    rows_.push_back(std::move(row));
  }
  DeleteRealm(realm);
}

}  // namespace muster::bench
