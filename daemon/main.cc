// musterd: the muster service registry daemon.
//
// Wiring and lifecycle only: parse flags, open the store, start the
// registry, the health checker, the gRPC server and the HTTP endpoint,
// wait for SIGTERM/SIGINT, then shut down in order (server, HTTP, checker,
// registry, store).

#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/heap_trimmer.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "daemon/daemon_options.h"
#include "daemon/http_endpoint.h"
#include "daemon/readiness.h"
#include "healthchecker/health_checker.h"
#include "healthchecker/network_policy.h"
#include "registry/registry.h"
#include "rpc/server.h"
#include "store/rocksdb/rocksdb_store.h"

#ifndef MUSTER_VERSION
#define MUSTER_VERSION "dev"
#endif

namespace muster::registry {
namespace {

int Fail(const std::string& what, const absl::Status& status) {
  MUSTER_LOG(kError, "%s: %s", what, status.message());
  return 1;
}

// Each probe holds a socket: lift the soft open-file limit to the hard one
// so that --checker-max-in-flight probes fit beside the clients.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
    return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    MUSTER_LOG(kWarning,
               "cannot raise the open-file limit; probes may fail under load");
  }
}

healthchecker::HealthChecker::Options CheckerOptions(
    const DaemonOptions& options) {
  healthchecker::HealthChecker::Options checker;
  checker.max_in_flight = options.checker_max_in_flight;
  checker.max_in_flight_per_host = options.checker_max_in_flight_per_host;
  checker.eviction_protection_share = options.eviction_protection_share;
  checker.allow_networks = options.probe_allow;
  // --probe-deny adds to the link-local defaults; it never removes them.
  for (const std::string& network : options.probe_deny) {
    checker.deny_networks.push_back(network);
  }
  checker.random_seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^
                        std::random_device{}();
  return checker;
}

int Run(const DaemonOptions& options) {
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(options.log_level, &level);
  SetLogLevel(level);
  MUSTER_LOG(kInfo, "musterd %s starting; data dir %s", MUSTER_VERSION,
             options.data_dir);

  absl::StatusOr<std::unique_ptr<RocksDbStore>> store =
      RocksDbStore::Open(RocksDbStore::Options{options.data_dir});
  if (!store.ok()) return Fail("cannot open the data dir", store.status());

  const healthchecker::HealthChecker::Options checker_options =
      CheckerOptions(options);
  absl::StatusOr<healthchecker::NetworkPolicy> policy =
      healthchecker::NetworkPolicy::Create(
          healthchecker::NetworkPolicyOptions(checker_options));
  if (!policy.ok()) return Fail("bad probe networks", policy.status());

  Metrics metrics;
  Clock& clock = Clock::Real();
  // Gives back the heap that floods of connections or of watchers leave.
  HeapTrimmer trimmer(clock, metrics, HeapTrimmer::Options{});
  Registry::Options registry_options;
  if (options.checker) {
    // Refuse IP literals the checker would never probe, at registration.
    registry_options.check_registration = [&policy](const Instance& instance) {
      absl::Status s = policy->CheckHost(instance.address, "instance.address");
      if (s.ok() && instance.check.kind == CheckKind::kHttp) {
        s = policy->CheckHost(instance.check.http_url,
                              "instance.check.http_url");
      }
      return s;
    };
  }
  registry_options.auto_create_realms = options.auto_create_realms;
  registry_options.changelog_retention = options.changelog_retention;
  registry_options.watch.on_release = [&trimmer] { trimmer.Note(); };
  // Validated with the flags.
  registry_options.watch.buffer_bytes =
      *ParseByteSize("--watch-buffer-bytes", options.watch_buffer_bytes);
  registry_options.watch.memory_limit_bytes =
      *ParseByteSize("--watch-memory-limit", options.watch_memory_limit);
  absl::StatusOr<std::unique_ptr<Registry>> registry =
      Registry::Create(std::move(registry_options), **store, clock, metrics);
  if (!registry.ok())
    return Fail("cannot load the data dir", registry.status());
  if (absl::Status started = (*registry)->Start(); !started.ok()) {
    return Fail("cannot start the registry", started);
  }

  RaiseFileLimit();
  std::unique_ptr<healthchecker::HealthChecker> checker;
  if (options.checker) {
    absl::StatusOr<std::unique_ptr<healthchecker::HealthChecker>> created =
        healthchecker::HealthChecker::Create(
            checker_options, (*registry)->checker_bridge(),
            (*registry)->checker_bridge(), clock, metrics);
    if (!created.ok())
      return Fail("cannot create the health checker", created.status());
    checker = std::move(*created);
    if (absl::Status s = checker->Start(); !s.ok()) {
      return Fail("cannot start the health checker", s);
    }
    (*registry)->checker_bridge().SetHealthDetailProvider(checker.get());
  } else {
    MUSTER_LOG(
        kWarning,
        "health checker off (--checker=false): every instance stays STARTING");
  }

  Server::Options server_options;
  server_options.listen = options.listen;
  server_options.trimmer = &trimmer;
  server_options.facts.version = MUSTER_VERSION;
  server_options.facts.started_at = clock.Now();
  server_options.facts.health_checker_enabled = options.checker;
  server_options.facts.data_dir = options.data_dir;
  // Validated with the flags.
  const GrpcConnectionOptions grpc = *ParseGrpcConnectionOptions(options);
  server_options.handshake_timeout = grpc.handshake_timeout;
  server_options.max_connection_idle = grpc.max_connection_idle;
  server_options.fd_reserve = grpc.fd_reserve;
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(server_options, **registry, metrics);
  if (!server.ok()) return Fail("cannot serve gRPC", server.status());

  // Ready while a new client can connect and get a Ping answered.
  GrpcReadiness readiness(GrpcReadiness::Options{(*server)->target()}, clock);
  absl::StatusOr<std::unique_ptr<HttpEndpoint>> http =
      HttpEndpoint::Create(HttpEndpoint::Options{options.http_listen}, metrics,
                           [&readiness] { return readiness.Check(); });
  if (!http.ok()) return Fail("cannot serve HTTP", http.status());
  if (absl::Status s = (*http)->Start(); !s.ok())
    return Fail("cannot serve HTTP", s);

  const ChangeLog::Stats loaded = (*registry)->change_log().GetStats();
  MUSTER_LOG(kInfo,
             "musterd serving: gRPC on %s (port %d), HTTP on %s; revision %d, "
             "%d instances",
             options.listen, (*server)->port(), (*http)->address(),
             loaded.revision, loaded.instances);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  MUSTER_LOG(kInfo, "%s received; shutting down",
             signal_number == SIGTERM ? "SIGTERM" : "SIGINT");

  // Server::Stop ends the watch streams first (ChangeLog::EndWatches), so
  // gRPC's shutdown only waits for unary calls; their mutations still
  // commit, and the checker's verdicts until it stops.
  (*server)->Stop();
  (*http)->Stop();
  if (checker) {
    checker->Stop();
    (*registry)->checker_bridge().SetHealthDetailProvider(nullptr);
    checker.reset();
  }
  // Completes the queued commits and joins the commit thread.
  (*registry)->Stop();
  const uint64_t revision = (*registry)->change_log().GetStats().revision;
  registry->reset();
  store->reset();
  MUSTER_LOG(kInfo, "musterd stopped cleanly at revision %d", revision);
  return 0;
}

}  // namespace
}  // namespace muster::registry

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, which turns on lock-order
  // (deadlock) tracking for every Mutex acquisition: a few percent of the
  // daemon's CPU under load. The tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the shutdown signals before any thread starts, so every thread
  // inherits the mask and only sigwait in main sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  muster::registry::DaemonOptions options;
  CLI::App app{
      "musterd: the muster service registry daemon (gRPC API muster.v1)",
      "musterd"};
  app.set_version_flag("--version", MUSTER_VERSION);
  app.add_option("--listen", options.listen, "gRPC listen address host:port")
      ->capture_default_str();
  app.add_option("--http-listen", options.http_listen,
                 "HTTP listen address for /metrics, /healthz and /readyz")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir,
                 "RocksDB data directory (created if missing)")
      ->capture_default_str();
  app.add_flag(
      "--auto-create-realms", options.auto_create_realms,
      "Create a missing realm on its first registration instead of NOT_FOUND");
  app.add_option(
         "--changelog-retention", options.changelog_retention,
         "Revisions of change log kept for Watch resumption and history")
      ->capture_default_str();
  app.add_option("--log-level", options.log_level,
                 "debug, info, warning or error")
      ->capture_default_str();
  app.add_flag(
      "--checker,!--no-checker", options.checker,
      "Run the built-in health checker (HTTP, TCP, gRPC and TTL checks); on by "
      "default, --checker=false or --no-checker turns it off");
  app.add_option("--checker-max-in-flight", options.checker_max_in_flight,
                 "Most probes in flight at once (1 to 100000)")
      ->capture_default_str();
  app.add_option("--checker-max-in-flight-per-host",
                 options.checker_max_in_flight_per_host,
                 "Most probes in flight at once to one host")
      ->capture_default_str();
  app.add_option(
         "--eviction-protection-share", options.eviction_protection_share,
         "Evictions pause in a realm when more than this share of its checked "
         "instances is critical (0 < x <= 1; 1 disables protection)")
      ->capture_default_str();
  app.add_option("--watch-buffer-bytes", options.watch_buffer_bytes,
                 "Bytes of events one watcher may hold (queued, and unsent "
                 "in its stream) before it is cut off, e.g. 16MiB")
      ->capture_default_str();
  app.add_option("--watch-memory-limit", options.watch_memory_limit,
                 "Bytes of events all watchers together may hold; beyond it "
                 "those holding more than an even share are cut off")
      ->capture_default_str();
  app.add_option("--grpc-handshake-timeout", options.grpc_handshake_timeout,
                 "A gRPC connection that has not sent the HTTP/2 preface and "
                 "settings this long after it was accepted is closed")
      ->capture_default_str();
  app.add_option("--grpc-max-connection-idle", options.grpc_max_connection_idle,
                 "A gRPC connection without calls this long is sent a GOAWAY "
                 "(clients reconnect on their next call); 0 never")
      ->capture_default_str();
  app.add_option("--grpc-fd-reserve", options.grpc_fd_reserve,
                 "File descriptors kept for the store, the checker and HTTP: a "
                 "gRPC connection arriving when fewer remain is closed at once "
                 "(at most half the open-file limit is kept)")
      ->capture_default_str();
  app.add_option(
         "--probe-allow", options.probe_allow,
         "Network (CIDR or address) probes may reach; repeat for several. When "
         "given, every other network is refused")
      ->delimiter(',');
  app.add_option(
         "--probe-deny", options.probe_deny,
         "Network (CIDR or address) probes must not reach, in addition to the "
         "link-local 169.254.0.0/16 and fe80::/10; repeat for several")
      ->delimiter(',');
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (absl::Status valid = muster::registry::ValidateDaemonOptions(options);
      !valid.ok()) {
    std::fprintf(stderr, "musterd: %s\n", std::string(valid.message()).c_str());
    return 2;
  }
  if (absl::Status valid = muster::healthchecker::ValidateOptions(
          muster::registry::CheckerOptions(options));
      !valid.ok()) {
    std::fprintf(stderr, "musterd: --probe-allow/--probe-deny: %s\n",
                 std::string(valid.message()).c_str());
    return 2;
  }
  return muster::registry::Run(options);
}
