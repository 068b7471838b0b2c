// musterd: the muster service registry daemon.
//
// Wiring and lifecycle only: parse flags, open the store, start the
// registry, the health checker, the gRPC server and the HTTP endpoint,
// wait for SIGTERM/SIGINT, then shut down in order (server, HTTP, checker,
// registry, store).

#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "registry/common/clock.h"
#include "registry/common/logging.h"
#include "registry/common/metrics.h"
#include "registry/daemon_options.h"
#include "registry/http_endpoint.h"
#include "registry/registry.h"
#include "registry/rocksdb_store.h"
#include "registry/server.h"

#ifndef MUSTER_VERSION
#define MUSTER_VERSION "dev"
#endif

namespace muster::registry {
namespace {

int Fail(const std::string& what, const absl::Status& status) {
  MUSTER_LOG(kError, "%s: %s", what, status.message());
  return 1;
}

int Run(const DaemonOptions& options) {
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(options.log_level, &level);
  SetLogLevel(level);
  MUSTER_LOG(kInfo, "musterd %s starting; data dir %s", MUSTER_VERSION, options.data_dir);

  absl::StatusOr<std::unique_ptr<RocksDbStore>> store =
      RocksDbStore::Open(RocksDbStore::Options{options.data_dir});
  if (!store.ok()) return Fail("cannot open the data dir", store.status());

  Metrics metrics;
  Clock& clock = Clock::Real();
  Registry::Options registry_options;
  registry_options.auto_create_realms = options.auto_create_realms;
  registry_options.changelog_retention = options.changelog_retention;
  absl::StatusOr<std::unique_ptr<Registry>> registry =
      Registry::Create(std::move(registry_options), **store, clock, metrics);
  if (!registry.ok()) return Fail("cannot load the data dir", registry.status());
  if (absl::Status started = (*registry)->Start(); !started.ok()) {
    return Fail("cannot start the registry", started);
  }

  Server::Options server_options;
  server_options.listen = options.listen;
  server_options.facts.version = MUSTER_VERSION;
  server_options.facts.started_at = clock.Now();
  server_options.facts.health_checker_enabled = false;
  server_options.facts.data_dir = options.data_dir;
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(server_options, **registry, metrics);
  if (!server.ok()) return Fail("cannot serve gRPC", server.status());

  absl::StatusOr<std::unique_ptr<HttpEndpoint>> http =
      HttpEndpoint::Create(HttpEndpoint::Options{options.http_listen}, metrics, nullptr);
  if (!http.ok()) return Fail("cannot serve HTTP", http.status());
  if (absl::Status s = (*http)->Start(); !s.ok()) return Fail("cannot serve HTTP", s);

  MUSTER_LOG(kInfo,
             "musterd serving: gRPC on %s (port %d), HTTP on %s; revision %d, %d instances",
             options.listen, (*server)->port(), (*http)->address(),
             (*registry)->index().revision(), (*registry)->index().InstanceCount());

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  MUSTER_LOG(kInfo, "%s received; shutting down", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");

  (*server)->Stop();
  (*http)->Stop();
  (*registry)->Stop();
  const uint64_t revision = (*registry)->index().revision();
  registry->reset();
  store->reset();
  MUSTER_LOG(kInfo, "musterd stopped cleanly at revision %d", revision);
  return 0;
}

}  // namespace
}  // namespace muster::registry

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so every thread
  // inherits the mask and only sigwait in main sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  muster::registry::DaemonOptions options;
  CLI::App app{"musterd: the muster service registry daemon (gRPC API muster.v1)", "musterd"};
  app.set_version_flag("--version", MUSTER_VERSION);
  app.add_option("--listen", options.listen, "gRPC listen address host:port")
      ->capture_default_str();
  app.add_option("--http-listen", options.http_listen,
                 "HTTP listen address for /metrics, /healthz and /readyz")
      ->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "RocksDB data directory (created if missing)")
      ->capture_default_str();
  app.add_flag("--auto-create-realms", options.auto_create_realms,
               "Create a missing realm on its first registration instead of NOT_FOUND");
  app.add_option("--changelog-retention", options.changelog_retention,
                 "Revisions of change log kept for Watch resumption and history")
      ->capture_default_str();
  app.add_option("--log-level", options.log_level, "debug, info, warning or error")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (absl::Status valid = muster::registry::ValidateDaemonOptions(options); !valid.ok()) {
    std::fprintf(stderr, "musterd: %s\n", std::string(valid.message()).c_str());
    return 2;
  }
  return muster::registry::Run(options);
}
