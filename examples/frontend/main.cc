// frontend: an example client that calls the identity service by name.
//
//   frontend [--rate 20/s] [--duration 0] [--stats-port 0] [--users 100]
//            [--service identity] [--log FILE] [--sync]
//
// It sends GET service://identity/users/<n> (n = 1..users, in turn) at
// --rate through the client library's HttpClient, which picks an
// instance with the Resolver and retries on another one within its
// budget. GET /stats on --stats-port (127.0.0.1) answers, as JSON, what
// happened so far: requests, successes, final failures, retries, which
// instance answered how often, the tries (and failed tries) each got, the
// instances seen, and the resolver's revision and staleness. --log FILE
// gets one line per request:
//
//   <revision> <instance id> <status> <attempts>
//
// where <revision> is the resolver's revision read right before the
// request was handed to the HttpClient (so before its instance was
// picked), <instance id> the one that answered last ("-" for none) and
// <status> the HTTP status (0 for none). Requests go out asynchronously
// unless --sync. Runs for --duration (0: until SIGTERM or SIGINT), then
// prints the stats on stdout and exits 0.

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "examples/common/example_util.h"
#include "muster/client/client.h"
#include "muster/client/http_client.h"
#include "muster/client/options.h"
#include "muster/client/resolver.h"

namespace {

using muster::client::Endpoint;
using muster::client::EndpointPicker;
using muster_examples::Flags;
using muster_examples::JsonString;

constexpr char kUsage[] =
    "usage: frontend [--rate 20/s] [--duration 0] [--stats-port 0]\n"
    "                [--users 100] [--service identity] [--log FILE] "
    "[--sync]\n"
    "musterd and the realm come from MUSTER_ADDR and MUSTER_REALM.\n";

struct FrontendFlags {
  std::string service = "identity";
  double rate = 20;
  // Zero: until a signal.
  std::chrono::milliseconds duration{0};
  int stats_port = 0;
  int users = 100;
  std::string log_path;
  bool sync = false;
};

bool ParseFlags(int argc, char** argv, FrontendFlags* flags,
                std::string* error) {
  Flags parser(
      {"service", "rate", "duration", "stats-port", "users", "log", "sync"});
  if (!parser.Parse(argc, argv)) {
    *error = parser.error();
    return false;
  }
  if (parser.has("help")) {
    *error = "";
    return false;
  }
  flags->service = parser.Get("service", flags->service);
  std::string rate = parser.Get("rate", "20/s");
  if (rate.size() > 2 && rate.compare(rate.size() - 2, 2, "/s") == 0) {
    rate.resize(rate.size() - 2);
  }
  char* end = nullptr;
  flags->rate = std::strtod(rate.c_str(), &end);
  if (rate.empty() || *end != '\0' || !(flags->rate > 0) ||
      flags->rate > 100000) {
    *error =
        "--rate: must be requests a second, above 0 and at most 100000 "
        "(e.g. 20/s)";
    return false;
  }
  auto duration = muster_examples::ParseDuration(parser.Get("duration", "0"));
  if (!duration) {
    *error =
        "--duration: must be a duration (e.g. 30s, 2m; 0 runs until "
        "SIGTERM or SIGINT)";
    return false;
  }
  flags->duration = *duration;
  auto port =
      muster_examples::ParseInt(parser.Get("stats-port", "0"), 0, 65535);
  if (!port) {
    *error = "--stats-port: must be a number from 0 (any free port) to 65535";
    return false;
  }
  flags->stats_port = static_cast<int>(*port);
  auto users =
      muster_examples::ParseInt(parser.Get("users", "100"), 1, 1000000000);
  if (!users) {
    *error = "--users: must be a number from 1 to 1000000000";
    return false;
  }
  flags->users = static_cast<int>(*users);
  flags->log_path = parser.Get("log", "");
  const std::string sync = parser.Get("sync", "false");
  if (sync != "true" && sync != "false") {
    *error = "--sync: must be true or false";
    return false;
  }
  flags->sync = sync == "true";
  return true;
}

// The resolver, counting the tries the HttpClient makes on each instance
// and those that failed: what shows a dead instance being retried away.
// Thread-safe.
class CountingPicker final : public EndpointPicker {
 public:
  explicit CountingPicker(std::shared_ptr<EndpointPicker> picker)
      : picker_(std::move(picker)) {}

  std::optional<Endpoint> Pick(const std::string& service,
                               const std::vector<std::string>& exclude,
                               std::string* why) override {
    std::optional<Endpoint> endpoint = picker_->Pick(service, exclude, why);
    if (endpoint) {
      std::lock_guard<std::mutex> lock(mu_);
      ++tries_[endpoint->id];
    }
    return endpoint;
  }

  void Report(const Endpoint& endpoint, bool success) override {
    if (!success) {
      std::lock_guard<std::mutex> lock(mu_);
      ++failed_tries_[endpoint.id];
    }
    picker_->Report(endpoint, success);
  }

  std::map<std::string, uint64_t> tries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tries_;
  }
  std::map<std::string, uint64_t> failed_tries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_tries_;
  }

 private:
  const std::shared_ptr<EndpointPicker> picker_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> tries_;         // guarded by mu_
  std::map<std::string, uint64_t> failed_tries_;  // guarded by mu_
};

std::string JsonCounts(const std::map<std::string, uint64_t>& counts) {
  std::string out = "{";
  for (const auto& [key, count] : counts) {
    if (out.size() > 1) out += ",";
    out += JsonString(key) + ":" + std::to_string(count);
  }
  return out + "}";
}

std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ",";
    out += JsonString(item);
  }
  return out + "]";
}

// The request loop and its counters. Thread-safe.
class Frontend {
 public:
  Frontend(FrontendFlags flags,
           std::shared_ptr<muster::client::Resolver> resolver,
           std::shared_ptr<CountingPicker> picker,
           std::unique_ptr<muster::client::HttpClient> http, FILE* log)
      : flags_(std::move(flags)),
        resolver_(std::move(resolver)),
        picker_(std::move(picker)),
        log_(log),
        http_(std::move(http)) {}

  // Every instance the resolver has shown as routable.
  void Subscribe() {
    subscription_ = resolver_->Subscribe(
        flags_.service, [this](const std::vector<Endpoint>& routable) {
          std::lock_guard<std::mutex> lock(mu_);
          for (const Endpoint& endpoint : routable) seen_.insert(endpoint.id);
        });
  }

  // Sends at --rate until Stop().
  void Run() {
    const auto interval =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(1.0 / flags_.rate));
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t i = 0;; ++i) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (stop_cv_.wait_until(lock, start + i * interval,
                                [this] { return stopping_; })) {
          return;
        }
        ++sent_;
      }
      muster::client::HttpRequest request;
      request.url = "service://" + flags_.service + "/users/" +
                    std::to_string(i % flags_.users + 1);
      // Read before the request is handed over, hence before its
      // instance is picked: the revision the pick can be no older than.
      const uint64_t revision = resolver_->View(flags_.service).revision;
      if (flags_.sync) {
        Record(revision, http_->Send(std::move(request)));
      } else {
        http_->SendAsync(std::move(request),
                         [this, revision](muster::client::HttpResponse r) {
                           Record(revision, r);
                         });
      }
    }
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    stop_cv_.notify_all();
  }

  // Waits for the requests in flight (the HttpClient's destructor does)
  // and stops the subscription.
  void Finish() {
    resolver_->Unsubscribe(subscription_);
    std::unique_ptr<muster::client::HttpClient> http;
    {
      std::lock_guard<std::mutex> lock(mu_);
      http_stats_ = http_->stats();
      http = std::move(http_);
    }
    // Outside mu_: the responses still to come are recorded under it.
    http.reset();
  }

  std::string StatsJson() {
    const muster::client::ServiceView view = resolver_->View(flags_.service);
    std::vector<std::string> routable;
    for (const Endpoint& endpoint : view.routable) {
      routable.push_back(endpoint.id);
    }
    muster::client::HttpClientStats http_stats;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (http_ != nullptr) http_stats_ = http_->stats();
      http_stats = http_stats_;
    }
    std::ostringstream out;
    std::lock_guard<std::mutex> lock(mu_);
    out << "{\"service\":" << JsonString(flags_.service)
        << ",\"requests\":" << sent_ << ",\"completed\":" << completed_
        << ",\"in_flight\":" << sent_ - completed_
        << ",\"successes\":" << successes_ << ",\"failures\":" << failures_
        << ",\"retried_requests\":" << retried_requests_
        << ",\"retries\":" << retries_
        << ",\"budget_exhausted\":" << http_stats.budget_exhausted
        << ",\"by_instance\":" << JsonCounts(by_instance_)
        << ",\"tries_by_instance\":" << JsonCounts(picker_->tries())
        << ",\"failed_tries_by_instance\":"
        << JsonCounts(picker_->failed_tries()) << ",\"instances_seen\":"
        << JsonList(std::vector<std::string>(seen_.begin(), seen_.end()))
        << ",\"last_error\":" << JsonString(last_error_)
        << ",\"resolver\":{\"revision\":" << view.revision
        << ",\"staleness_ms\":" << view.staleness.count()
        << ",\"connected\":" << (view.connected ? "true" : "false")
        << ",\"synced\":" << (view.synced ? "true" : "false")
        << ",\"routable\":" << JsonList(routable) << "}}";
    return out.str();
  }

 private:
  void Record(uint64_t revision, const muster::client::HttpResponse& response) {
    std::lock_guard<std::mutex> lock(mu_);
    ++completed_;
    if (response.ok()) {
      ++successes_;
    } else {
      ++failures_;
      last_error_ = response.error.empty()
                        ? "HTTP " + std::to_string(response.status)
                        : response.error;
    }
    if (response.attempts > 1) {
      ++retried_requests_;
      retries_ += static_cast<uint64_t>(response.attempts - 1);
    }
    if (!response.instance_id.empty()) {
      ++by_instance_[response.instance_id];
      seen_.insert(response.instance_id);
    }
    if (log_ != nullptr) {
      std::fprintf(
          log_, "%llu %s %d %d\n", static_cast<unsigned long long>(revision),
          response.instance_id.empty() ? "-" : response.instance_id.c_str(),
          response.status, response.attempts);
      std::fflush(log_);
    }
  }

  // Constant after construction.
  const FrontendFlags flags_;
  const std::shared_ptr<muster::client::Resolver> resolver_;
  const std::shared_ptr<CountingPicker> picker_;
  FILE* const log_;  // may be null

  uint64_t subscription_ = 0;  // set by Subscribe()

  std::mutex mu_;
  // Used by Run() without mu_ (nothing changes it while Run() runs);
  // taken by Finish() under mu_, after Run() returned.
  std::unique_ptr<muster::client::HttpClient> http_;
  std::condition_variable stop_cv_;
  // Guarded by mu_.
  bool stopping_ = false;
  uint64_t sent_ = 0;
  uint64_t completed_ = 0;
  uint64_t successes_ = 0;
  uint64_t failures_ = 0;
  uint64_t retried_requests_ = 0;
  uint64_t retries_ = 0;
  std::map<std::string, uint64_t> by_instance_;
  std::set<std::string> seen_;
  std::string last_error_;
  muster::client::HttpClientStats http_stats_;  // the last read
};

}  // namespace

int main(int argc, char** argv) {
  const sigset_t signals = muster_examples::BlockTerminationSignals();

  FrontendFlags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    if (error.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "frontend: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  FILE* log = nullptr;
  if (!flags.log_path.empty()) {
    log = std::fopen(flags.log_path.c_str(), "w");
    if (log == nullptr) {
      std::fprintf(stderr, "frontend: --log: cannot write %s: %s\n",
                   flags.log_path.c_str(), std::strerror(errno));
      return 1;
    }
  }

  grpc::Status status;
  muster::client::ClientOptions client_options;  // MUSTER_* variables
  std::shared_ptr<muster::client::Client> client =
      muster::client::Client::Create(client_options, &status);
  if (client == nullptr) {
    std::fprintf(stderr, "frontend: %s\n", status.error_message().c_str());
    return 2;
  }
  std::shared_ptr<muster::client::Resolver> resolver =
      muster::client::Resolver::Create(client);
  auto picker = std::make_shared<CountingPicker>(resolver);
  Frontend frontend(flags, resolver, picker,
                    muster::client::HttpClient::Create(picker), log);
  frontend.Subscribe();

  httplib::Server stats;
  stats.Get("/stats",
            [&frontend](const httplib::Request&, httplib::Response& response) {
              response.set_content(frontend.StatsJson(), "application/json");
            });
  int stats_port = flags.stats_port;
  if (stats_port == 0) {
    stats_port = stats.bind_to_any_port("127.0.0.1");
  } else if (!stats.bind_to_port("127.0.0.1", stats_port)) {
    stats_port = -1;
  }
  if (stats_port <= 0) {
    std::fprintf(stderr, "frontend: --stats-port: cannot listen on %d\n",
                 flags.stats_port);
    return 1;
  }
  std::thread stats_thread([&stats] { stats.listen_after_bind(); });
  std::fprintf(stderr,
               "frontend: calling service://%s at %g/s (realm %s, musterd "
               "%s); stats on http://127.0.0.1:%d/stats\n",
               flags.service.c_str(), flags.rate,
               client->options().realm.c_str(),
               client->current_address().c_str(), stats_port);

  std::thread loop([&frontend] { frontend.Run(); });
  muster_examples::WaitForTermination(signals, flags.duration);
  frontend.Stop();
  loop.join();
  frontend.Finish();
  const std::string final_stats = frontend.StatsJson();
  stats.stop();
  stats_thread.join();
  std::printf("%s\n", final_stats.c_str());
  if (log != nullptr) std::fclose(log);
  return 0;
}
