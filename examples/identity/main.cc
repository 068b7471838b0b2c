// identity: an example service that registers itself with muster.
//
//   identity --port P [--address 127.0.0.1] [--id ID] [--zone Z]
//            [--check ttl|http] [--ttl 3s] [--health-port 0]
//            [--drain-grace 2s] [--service identity]
//
// It answers GET /users/<id> with {"id": ..., "name": "user-<id>",
// "served_by": "<instance id>"} and GET /stats with what it has served
// and how its registration is doing. It registers through the client
// library (musterd and realm from MUSTER_ADDR and MUSTER_REALM), with a
// TTL check kept alive by the library's heartbeats or an HTTP check on
// the library's HealthServer (/readyz). Every request is logged on
// stdout as one line:
//
//   <unix time in microseconds> <method> <path> <status>
//
// SIGTERM or SIGINT drains the instance (clients stop picking it), keeps
// serving for --drain-grace, deregisters and exits 0.

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "examples/common/example_util.h"
#include "muster/client/client.h"
#include "muster/client/health_server.h"
#include "muster/client/options.h"
#include "muster/client/registration.h"

namespace {

using muster_examples::Flags;
using muster_examples::JsonString;

constexpr char kUsage[] =
    "usage: identity --port P [--address 127.0.0.1] [--id ID] [--zone Z]\n"
    "                [--check ttl|http] [--ttl 3s] [--health-port 0]\n"
    "                [--drain-grace 2s] [--service identity]\n"
    "musterd and the realm come from MUSTER_ADDR and MUSTER_REALM.\n";

struct IdentityFlags {
  std::string service = "identity";
  std::string address = "127.0.0.1";
  int port = 0;
  std::string id;
  std::string zone;
  muster::client::CheckType check = muster::client::CheckType::kTtl;
  std::chrono::milliseconds ttl{3000};
  int health_port = 0;
  std::chrono::milliseconds drain_grace{2000};
};

// False, with `*error` naming the flag and the rule, on bad flags.
bool ParseFlags(int argc, char** argv, IdentityFlags* flags,
                std::string* error) {
  Flags parser({"service", "address", "port", "id", "zone", "check", "ttl",
                "health-port", "drain-grace"});
  if (!parser.Parse(argc, argv)) {
    *error = parser.error();
    return false;
  }
  if (parser.has("help")) {
    *error = "";
    return false;
  }
  flags->service = parser.Get("service", flags->service);
  flags->address = parser.Get("address", flags->address);
  flags->id = parser.Get("id", "");
  flags->zone = parser.Get("zone", "");
  auto port = muster_examples::ParseInt(parser.Get("port", ""), 1, 65535);
  if (!port) {
    *error = "--port: required, a number from 1 to 65535";
    return false;
  }
  flags->port = static_cast<int>(*port);
  auto health_port =
      muster_examples::ParseInt(parser.Get("health-port", "0"), 0, 65535);
  if (!health_port) {
    *error = "--health-port: must be a number from 0 (any free port) to 65535";
    return false;
  }
  flags->health_port = static_cast<int>(*health_port);
  const std::string check = parser.Get("check", "ttl");
  if (check == "ttl") {
    flags->check = muster::client::CheckType::kTtl;
  } else if (check == "http") {
    flags->check = muster::client::CheckType::kHttp;
  } else {
    *error = "--check: must be ttl or http, not '" + check + "'";
    return false;
  }
  auto ttl = muster_examples::ParseDuration(parser.Get("ttl", "3s"));
  if (!ttl || *ttl < std::chrono::seconds(1)) {
    *error = "--ttl: must be a duration of at least 1s (e.g. 3s)";
    return false;
  }
  flags->ttl = *ttl;
  auto grace = muster_examples::ParseDuration(parser.Get("drain-grace", "2s"));
  if (!grace) {
    *error = "--drain-grace: must be a duration (e.g. 2s, 500ms, 0)";
    return false;
  }
  flags->drain_grace = *grace;
  return true;
}

// One line per request on stdout, flushed, so that a test or an operator
// can follow it as it happens.
class RequestLog {
 public:
  void Line(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }

 private:
  std::mutex mu_;
};

std::string StatsJson(const std::string& id, uint64_t served,
                      uint64_t other_requests, bool draining,
                      const muster::client::RegistrationStatus& status) {
  std::ostringstream out;
  out << "{\"id\":" << JsonString(id) << ",\"served\":" << served
      << ",\"other_requests\":" << other_requests
      << ",\"draining\":" << (draining ? "true" : "false")
      << ",\"registration\":{\"state\":"
      << JsonString(muster::client::StateName(status.state))
      << ",\"health\":" << JsonString(status.health)
      << ",\"incarnation\":" << status.incarnation
      << ",\"registrations\":" << status.registrations
      << ",\"last_error\":" << JsonString(status.last_error) << "}}";
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts, so that only the main thread's sigwait
  // sees SIGTERM and SIGINT.
  const sigset_t signals = muster_examples::BlockTerminationSignals();

  IdentityFlags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    if (error.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "identity: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  // The library's default id, so that served_by names the registered
  // instance.
  const std::string id = flags.id.empty()
                             ? flags.address + ":" + std::to_string(flags.port)
                             : flags.id;

  RequestLog log;
  std::atomic<uint64_t> served{0};
  std::atomic<uint64_t> other_requests{0};
  std::atomic<bool> draining{false};
  std::unique_ptr<muster::client::Registration> registration;
  // What the /stats handler reads: set once the registration exists.
  std::atomic<muster::client::Registration*> registration_for_stats{nullptr};

  httplib::Server server;
  // Headers and body go out in separate writes: without TCP_NODELAY a
  // kept-alive connection waits out the caller's delayed ACK (40 ms) on
  // every response.
  server.set_tcp_nodelay(true);
  server.Get(R"(/users/([^/]+))", [&](const httplib::Request& request,
                                      httplib::Response& response) {
    const std::string user = request.matches[1];
    served.fetch_add(1);
    response.set_content("{\"id\":" + JsonString(user) +
                             ",\"name\":" + JsonString("user-" + user) +
                             ",\"served_by\":" + JsonString(id) + "}",
                         "application/json");
  });
  server.Get(
      "/stats", [&](const httplib::Request&, httplib::Response& response) {
        other_requests.fetch_add(1);
        muster::client::RegistrationStatus status;
        if (muster::client::Registration* r = registration_for_stats.load()) {
          status = r->status();
        }
        response.set_content(StatsJson(id, served.load(), other_requests.load(),
                                       draining.load(), status),
                             "application/json");
      });
  server.set_logger(
      [&](const httplib::Request& request, const httplib::Response& response) {
        log.Line(std::to_string(muster_examples::RealtimeMicros()) + " " +
                 request.method + " " + request.path + " " +
                 std::to_string(response.status));
      });
  if (!server.bind_to_port(flags.address, flags.port)) {
    std::fprintf(stderr, "identity: --port: cannot listen on %s:%d\n",
                 flags.address.c_str(), flags.port);
    return 1;
  }
  std::thread serving([&server] { server.listen_after_bind(); });

  muster::client::HealthServerOptions health_options;
  health_options.host = flags.address;
  health_options.port = flags.health_port;
  grpc::Status status;
  std::unique_ptr<muster::client::HealthServer> health =
      muster::client::HealthServer::Start(health_options, &status);
  if (health == nullptr) {
    std::fprintf(stderr, "identity: --health-port: %s\n",
                 status.error_message().c_str());
    server.stop();
    serving.join();
    return 1;
  }

  muster::client::ClientOptions client_options;  // MUSTER_* variables
  std::shared_ptr<muster::client::Client> client =
      muster::client::Client::Create(client_options, &status);
  if (client == nullptr) {
    std::fprintf(stderr, "identity: %s\n", status.error_message().c_str());
    server.stop();
    serving.join();
    return 2;
  }

  muster::client::RegistrationOptions options;
  options.service = flags.service;
  options.id = flags.id;
  options.address = flags.address;
  options.port = static_cast<uint32_t>(flags.port);
  options.zone = flags.zone;
  options.check = flags.check;
  options.ttl = flags.ttl;
  if (flags.check == muster::client::CheckType::kHttp) {
    options.http_url = health->url("/readyz");
    options.interval = std::chrono::seconds(1);
  }
  // While musterd is unreachable, retry at least as often as the
  // heartbeat pace, so that a restarted daemon hears from us within the
  // TTL it gives every instance to prove itself.
  options.max_backoff = std::chrono::duration_cast<std::chrono::milliseconds>(
      options.ttl * options.heartbeat_fraction);
  options.drain_grace = flags.drain_grace;
  // Shutdown() turns /readyz to 503 as the drain starts.
  options.health_server = health.get();
  registration =
      muster::client::Registration::Start(client, std::move(options), &status);
  if (registration == nullptr) {
    std::fprintf(stderr, "identity: %s\n", status.error_message().c_str());
    server.stop();
    serving.join();
    return 2;
  }
  registration_for_stats.store(registration.get());
  std::fprintf(stderr,
               "identity: %s serving on http://%s:%d (realm %s, musterd %s, "
               "check %s, health %s)\n",
               id.c_str(), flags.address.c_str(), flags.port,
               client->options().realm.c_str(),
               client->current_address().c_str(),
               flags.check == muster::client::CheckType::kTtl ? "ttl" : "http",
               health->url("/readyz").c_str());

  const int signal_number = muster_examples::WaitForTermination(
      signals, std::chrono::milliseconds(0));
  std::fprintf(stderr, "identity: %s: draining for %lld ms, then leaving\n",
               strsignal(signal_number),
               static_cast<long long>(flags.drain_grace.count()));
  draining.store(true);
  // Drain (clients stop picking us), keep serving through the grace,
  // then deregister.
  status = registration->Shutdown();
  if (!status.ok()) {
    std::fprintf(stderr, "identity: deregistering: %s\n",
                 status.error_message().c_str());
  } else {
    std::fprintf(stderr, "identity: deregistered; stopping\n");
  }
  server.stop();
  serving.join();
  return 0;
}
