// musterd: the muster service registry daemon.
//
// Wiring and lifecycle only: parse flags, bind the gRPC and HTTP ports,
// open the store, start the registry, the health checker, the gRPC server
// and the HTTP endpoint, wait for SIGTERM/SIGINT (logging SIGHUP), then
// shut down in order (server, HTTP, checker, registry, store).

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/heap_trimmer.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "daemon/bootstrap.h"
#include "daemon/daemon_options.h"
#include "daemon/flags.h"
#include "daemon/http_endpoint.h"
#include "daemon/readiness.h"
#include "daemon/replication_options.h"
#include "dns/dns_server.h"
#include "healthchecker/health_checker.h"
#include "healthchecker/network_policy.h"
#include "http/api.h"
#include "registry/registry.h"
#include "rpc/peer.h"
#include "rpc/protobuf_log.h"
#include "rpc/server.h"
#include "rpc/tls_credentials.h"
#include "store/etcd/etcd_store.h"
#include "store/rocksdb/rocksdb_store.h"
#ifdef MUSTER_XDS
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "xds/xds_server.h"
#endif

#ifndef MUSTER_VERSION
#define MUSTER_VERSION "dev"
#endif

#ifdef MUSTER_UI
#include "ui/assets.h"
#endif

namespace muster::registry {
namespace {

int Fail(const std::string& what, const absl::Status& status) {
  MUSTER_LOG(kError, "%s: %s", what, status.message());
  return kExitStartup;
}

// A listen address that cannot be had, as one line naming the flag before
// anything is logged or written: 2 when the address is wrong (does not
// resolve, is not this host's), 1 when it is refused (taken, privileged).
int ListenFailure(const absl::Status& status) {
  std::fprintf(stderr, "musterd: %s\n", std::string(status.message()).c_str());
  return absl::IsInvalidArgument(status) ? kExitUsage : kExitStartup;
}

// SIGTERM and SIGINT stop musterd; SIGHUP, whose default would kill it, is
// only logged.
sigset_t HandledSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  return signals;
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

// Set when the replicated store's feed ended for good (see Run).
std::atomic<bool> g_feed_lost{false};

healthchecker::HealthChecker::Options CheckerOptions(
    const DaemonOptions& options) {
  healthchecker::HealthChecker::Options checker;
  checker.max_in_flight = options.checker_max_in_flight;
  checker.max_in_flight_per_host = options.checker_max_in_flight_per_host;
  // With several replicas (--store etcd) each checks a part of a realm:
  // protection is judged by the registry over the whole realm instead.
  checker.eviction_protection_share =
      options.store == "etcd" ? 1.0 : options.eviction_protection_share;
  checker.allow_networks = options.probe_allow;
  checker.probe_ca_file = options.probe_ca_file;
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

  Metrics metrics;
  Clock& clock = Clock::Real();
  // libprotobuf complains about a client's bad bytes (invalid UTF-8 in a
  // string field); in muster's format, and rate-limited.
  RouteProtobufLogs(clock, metrics);
  // Gives back the heap that floods of connections or of watchers leave.
  HeapTrimmer trimmer(clock, metrics, HeapTrimmer::Options{});
  // Before the listener is bound: it sizes its descriptor reserve by the
  // limit.
  RaiseFileLimit();

  Server::Options server_options;
  server_options.listen = options.listen;
  server_options.listen_name = "--listen";
  server_options.trimmer = &trimmer;
  server_options.facts.version = MUSTER_VERSION;
  server_options.facts.started_at = clock.Now();
  server_options.facts.health_checker_enabled = options.checker;
  if (options.store == "rocksdb")
    server_options.facts.data_dir = options.data_dir;
  // Validated with the flags.
  const GrpcConnectionOptions grpc = *ParseGrpcConnectionOptions(options);
  server_options.handshake_timeout = grpc.handshake_timeout;
  server_options.max_connection_idle = grpc.max_connection_idle;
  server_options.fd_reserve = grpc.fd_reserve;
  server_options.max_concurrent_streams = grpc.max_concurrent_streams;
  server_options.memory_limit_bytes = grpc.memory_limit_bytes;
  server_options.min_ping_interval = grpc.min_ping_interval;
  server_options.max_ping_strikes = grpc.max_ping_strikes;
  // Validated (files read and matched) with the flags.
  const TlsFlagValues tls = *ParseTlsOptions(options);
  server_options.tls.cert_file = tls.cert;
  server_options.tls.key_file = tls.key;
  server_options.tls.client_ca_file = tls.client_ca;
  server_options.tls.reload_interval = tls.reload_interval;
  server_options.watch_progress_interval = *ParseWatchProgressInterval(options);
  server_options.auth.enabled = options.auth;
  server_options.auth.token_rate = options.token_rate;
  server_options.auth.token_burst = options.token_burst;
  server_options.auth.max_watchers_per_client = options.max_watchers_per_client;
  // Both ports are held before the data dir is touched, so a taken port
  // stops musterd without creating or opening anything.
  absl::StatusOr<std::unique_ptr<TcpListener>> listener =
      Server::Bind(server_options, metrics);
  if (!listener.ok()) return ListenFailure(listener.status());
  // Set before the endpoint starts serving, which is when /readyz can ask.
  std::unique_ptr<GrpcReadiness> readiness;
  HttpEndpoint::Options http_options;
  http_options.listen = options.http_listen;
  http_options.name = "--http-listen";
  http_options.tls = {tls.cert, tls.key, tls.client_ca, tls.reload_interval};
  // The HTTP/JSON API and the dashboard on the same port; it answers 503
  // until the registry is attached below.
  http::Api::Options api_options;
  api_options.auth = options.auth;
  api_options.facts = server_options.facts;
#ifdef MUSTER_UI
  api_options.ui = [](std::string_view path) -> std::optional<http::UiFile> {
    const ui::Asset* asset = ui::FindAsset(path);
    if (asset == nullptr) return std::nullopt;
    return http::UiFile{asset->content_type, asset->body};
  };
#endif
  http::Api api(api_options, clock);
  http_options.routes = [&api](httplib::Server& server) {
    api.Install(server);
  };
  http_options.extra_workers = api.stream_workers();
  // Set once the registry has loaded the tokens, before HTTP serves.
  Tokens* tokens = nullptr;
  if (options.auth && options.metrics_auth) {
    http_options.metrics_token = [&tokens, &clock](absl::string_view secret) {
      return tokens->Authenticate(secret, clock.Now()).status();
    };
  }
  absl::StatusOr<std::unique_ptr<HttpEndpoint>> http = HttpEndpoint::Create(
      http_options, metrics, [&readiness] { return readiness->Check(); });
  if (!http.ok()) return ListenFailure(http.status());

  MUSTER_LOG(kInfo, "musterd %s starting; %s", MUSTER_VERSION,
             options.store == "etcd"
                 ? std::string("store etcd")
                 : absl::StrCat("data dir ", options.data_dir));
  const healthchecker::HealthChecker::Options checker_options =
      CheckerOptions(options);
  absl::StatusOr<healthchecker::NetworkPolicy> policy =
      healthchecker::NetworkPolicy::Create(
          healthchecker::NetworkPolicyOptions(checker_options));
  if (!policy.ok()) return Fail("bad probe networks", policy.status());

  // The store: RocksDB in the data dir, or etcd shared with the other
  // replicas.
  std::unique_ptr<Store> store;
  EtcdStore* etcd = nullptr;
  if (options.store == "etcd") {
    const ReplicationConfig config = *ParseReplicationOptions(options);
    EtcdStore::Options etcd_options;
    etcd_options.client.endpoints = config.endpoints;
    etcd_options.client.ca_file = config.ca_file;
    etcd_options.client.cert_file = config.cert_file;
    etcd_options.client.key_file = config.key_file;
    etcd_options.client.username = config.username;
    etcd_options.client.password = config.password;
    etcd_options.prefix = config.prefix;
    etcd_options.replica_id = config.replica_id;
    etcd_options.advertise_address = config.advertise_address;
    etcd_options.lease_ttl = config.lease_ttl;
    etcd_options.max_txn_ops = config.max_txn_ops;
    absl::StatusOr<std::unique_ptr<EtcdStore>> opened =
        EtcdStore::Open(std::move(etcd_options));
    if (!opened.ok())
      return Fail("cannot join the etcd store", opened.status());
    etcd = opened->get();
    store = std::move(*opened);
    MUSTER_LOG(kInfo,
               "store: etcd at %s under %s; replica \"%s\", reached at %s, "
               "lease %s",
               absl::StrJoin(config.endpoints, ","), config.prefix,
               config.replica_id, config.advertise_address,
               absl::FormatDuration(config.lease_ttl));
  } else {
    absl::StatusOr<std::unique_ptr<RocksDbStore>> opened =
        RocksDbStore::Open(RocksDbStore::Options{options.data_dir});
    if (!opened.ok()) return Fail("cannot open the data dir", opened.status());
    store = std::move(*opened);
  }

  Registry::Options registry_options;
  if (options.checker) {
    // Refuse IP literals the checker would never probe, at registration.
    registry_options.check_registration = [&policy](const Instance& instance) {
      absl::Status s = policy->CheckHost(instance.address, "instance.address");
      if (s.ok() && instance.check().kind == CheckKind::kHttp) {
        s = policy->CheckHost(instance.check().http_url,
                              "instance.check.http_url");
      }
      return s;
    };
  }
  registry_options.auto_create_realms = options.auto_create_realms;
  registry_options.eviction_protection_share =
      options.eviction_protection_share;
  // The replica fell behind etcd's compaction: it has to load again, which
  // is a restart (its supervisor starts it anew).
  registry_options.on_feed_lost = [](const absl::Status&) {
    g_feed_lost.store(true);
    kill(getpid(), SIGTERM);
  };
  registry_options.changelog_retention = options.changelog_retention;
  registry_options.watch.on_release = [&trimmer] { trimmer.Note(); };
  // Writes are acknowledged without waiting for the watchers' fan-out.
  registry_options.watch.fan_out_thread = true;
  // Validated with the flags.
  registry_options.watch.buffer_bytes =
      *ParseByteSize("--watch-buffer-bytes", options.watch_buffer_bytes);
  registry_options.watch.memory_limit_bytes =
      *ParseByteSize("--watch-memory-limit", options.watch_memory_limit);
  absl::StatusOr<std::unique_ptr<Registry>> registry =
      Registry::Create(std::move(registry_options), *store, clock, metrics);
  if (!registry.ok())
    return Fail("cannot load the data dir", registry.status());
  if (absl::Status started = (*registry)->Start(); !started.ok()) {
    return Fail("cannot start the registry", started);
  }
  tokens = &(*registry)->tokens();
  api.Attach(registry->get());
  if (options.auth) {
    const std::string file =
        options.bootstrap_token_file.empty()
            ? absl::StrCat(options.data_dir, "/", kBootstrapTokenFileName)
            : options.bootstrap_token_file;
    if (absl::Status s = EnsureBootstrapToken(*tokens, clock.Now(), file);
        !s.ok()) {
      return Fail("cannot bootstrap access tokens", s);
    }
  }

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

  // DNS: after the registry has loaded, before the gRPC server serves.
  std::unique_ptr<dns::RegistryDirectory> dns_directory;
  std::unique_ptr<dns::DnsServer> dns_server;
  if (!options.dns_listen.empty()) {
    dns_directory = std::make_unique<dns::RegistryDirectory>(**registry);
    dns::DnsServer::Options dns_options;
    dns_options.listen = options.dns_listen;
    dns_options.ttl_seconds = *ParseDnsTtl(options);  // validated
    dns_options.rate = options.dns_rate;
    dns_options.burst = options.dns_rate * 2;
    absl::StatusOr<std::unique_ptr<dns::DnsServer>> started =
        dns::DnsServer::Start(dns_options, *dns_directory, metrics);
    if (!started.ok()) return Fail("cannot serve DNS", started.status());
    dns_server = std::move(*started);
    MUSTER_LOG(kInfo, "DNS on %s (port %d, UDP and TCP), TTL %ds",
               options.dns_listen, dns_server->port(), dns_options.ttl_seconds);
  }

#ifdef MUSTER_XDS
  // xDS (ADS) on the main port, and on --xds-listen when given.
  xds::XdsServer::Options xds_options;
  xds_options.push_delay = *ParseXdsPushDelay(options);
  xds_options.auth = options.auth;
  xds_options.clock = &clock;
  auto xds_server =
      std::make_unique<xds::XdsServer>(xds_options, **registry, metrics);
  std::unique_ptr<grpc::Service> xds_service = xds_server->NewService();
  server_options.extra_services.push_back(xds_service.get());
  std::unique_ptr<grpc::Service> xds_port_service;
  std::unique_ptr<grpc::Server> xds_port;
  if (!options.xds_listen.empty()) {
    xds_port_service = xds_server->NewService();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(options.xds_listen,
                             MakeServerCredentials(server_options.tls), &port);
    builder.RegisterService(xds_port_service.get());
    xds_port = builder.BuildAndStart();
    if (xds_port == nullptr || port == 0) {
      std::fprintf(stderr, "musterd: --xds-listen %s: cannot listen there\n",
                   options.xds_listen.c_str());
      return kExitUsage;
    }
    MUSTER_LOG(kInfo, "xDS (ADS) also on %s (port %d)", options.xds_listen,
               port);
  }
#else
  if (!options.xds_listen.empty()) {
    std::fprintf(stderr,
                 "musterd: --xds-listen: this musterd was built without xDS "
                 "(MUSTER_XDS=OFF)\n");
    return kExitUsage;
  }
#endif
  // Replicas forward heartbeats to the replica that checks the instance.
  std::unique_ptr<PeerService> peer_service;
  std::unique_ptr<HeartbeatForwarder> forwarder;
  if (etcd != nullptr) {
    peer_service =
        std::make_unique<PeerService>(**registry, etcd->PeerSecret(), metrics);
    server_options.extra_services.push_back(peer_service.get());
    HeartbeatForwarder::Options forwarder_options;
    forwarder_options.self_id = etcd->SelfId();
    forwarder_options.secret = etcd->PeerSecret();
    forwarder_options.credentials =
        MakePeerCredentials(server_options.tls, options.peer_ca_file.empty()
                                                    ? options.tls_client_ca
                                                    : options.peer_ca_file);
    forwarder =
        std::make_unique<HeartbeatForwarder>(forwarder_options, metrics);
    (*registry)->checker_bridge().SetHeartbeatForwarder(
        [&forwarder](const ReplicaInfo& owner, const InstanceKey& key,
                     uint64_t incarnation) {
          forwarder->Forward(owner, key, incarnation);
        });
  }
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(server_options, **registry, metrics, std::move(*listener));
  if (!server.ok()) return Fail("cannot serve gRPC", server.status());

  // Ready while a new client can connect and get a Ping answered.
  GrpcReadiness::Options readiness_options;
  readiness_options.target = (*server)->target();
  readiness_options.credentials = MakeSelfCheckCredentials(server_options.tls);
  readiness = std::make_unique<GrpcReadiness>(readiness_options, clock);
  if (absl::Status s = (*http)->Start(); !s.ok())
    return Fail("cannot serve HTTP", s);

  const ChangeLog::Stats loaded = (*registry)->change_log().GetStats();
  MUSTER_LOG(kInfo,
             "musterd serving: gRPC on %s (port %d), HTTP on %s; revision %d, "
             "%d instances",
             options.listen, (*server)->port(), (*http)->address(),
             loaded.revision, loaded.instances);
  MUSTER_LOG(kInfo, "transport: %s; certificate %s, reloaded every %s",
             !tls.client_ca.empty() ? "mutual TLS"
             : !tls.cert.empty()    ? "TLS"
                                    : "plaintext (no --tls-cert)",
             tls.cert.empty() ? "none" : tls.cert,
             absl::FormatDuration(tls.reload_interval));
  if (options.auth) {
    MUSTER_LOG(kInfo, "access: tokens required (--auth), %d live; /metrics %s",
               tokens->CountLive(clock.Now()),
               options.metrics_auth ? "needs a token" : "open");
  } else if (options.insecure_no_auth) {
    MUSTER_LOG(kWarning,
               "access: no tokens (--insecure-no-auth): every client that "
               "reaches %s or %s may read and change everything",
               options.listen, options.http_listen);
  } else {
    MUSTER_LOG(kInfo,
               "access: no tokens (no --auth): every local client may read "
               "and change everything");
  }

  const sigset_t signals = HandledSignals();
  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    // Flags come from the command line only (the systemd unit expands
    // /etc/default/musterd into it at start): there is nothing to re-read.
    // A warning: whoever sent it expected something to change.
    MUSTER_LOG(kWarning,
               "SIGHUP: nothing to reload; musterd reads its flags only at "
               "start (restart it to change them)");
  }
  MUSTER_LOG(kInfo, "%s received; shutting down",
             signal_number == SIGTERM ? "SIGTERM" : "SIGINT");

  // Server::Stop ends the watch streams first (ChangeLog::EndWatches), so
  // gRPC's shutdown only waits for unary calls; their mutations still
  // commit, and the checker's verdicts until it stops.
#ifdef MUSTER_XDS
  // First: its streams never end on their own, so the servers' shutdown
  // would wait out its grace for them.
  xds_server->Stop();
  if (xds_port != nullptr) {
    xds_port->Shutdown(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  }
#endif
  (*server)->Stop();
  if (dns_server) dns_server->Stop();
  api.Shutdown();
  (*http)->Stop();
  if (checker) {
    checker->Stop();
    (*registry)->checker_bridge().SetHealthDetailProvider(nullptr);
    checker.reset();
  }
  // The other replicas take this one's instances over at once, instead of
  // after the lease.
  if (etcd != nullptr) etcd->Leave();
  // Completes the queued commits and joins the commit thread.
  (*registry)->Stop();
  const uint64_t revision = (*registry)->change_log().GetStats().revision;
  registry->reset();
  forwarder.reset();
  store.reset();
  if (g_feed_lost.load()) {
    MUSTER_LOG(kError,
               "musterd stopped at revision %d: this replica lost etcd's "
               "history and must be restarted to load again",
               revision);
    return 1;
  }
  MUSTER_LOG(kInfo, "musterd stopped cleanly at revision %d", revision);
  return 0;
}

int Main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, which turns on lock-order
  // (deadlock) tracking for every Mutex acquisition: a few percent of the
  // daemon's CPU under load. The tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the handled signals before any thread starts, so every thread
  // inherits the mask and only sigwait in Run sees them.
  const sigset_t signals = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::variant<DaemonOptions, int> parsed = ParseFlags(argc, argv);
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  const DaemonOptions& options = std::get<DaemonOptions>(parsed);
  if (!options.probe_ca_file.empty()) {
    if (absl::Status read =
            healthchecker::ReadCaFile(options.probe_ca_file).status();
        !read.ok()) {
      std::fprintf(stderr, "musterd: --probe-ca-file: %s\n",
                   std::string(read.message()).c_str());
      return kExitUsage;
    }
  }
  if (absl::Status valid =
          healthchecker::ValidateOptions(CheckerOptions(options));
      !valid.ok()) {
    std::fprintf(stderr, "musterd: --probe-allow/--probe-deny: %s\n",
                 std::string(valid.message()).c_str());
    return kExitUsage;
  }
  return Run(options);
}

}  // namespace
}  // namespace muster::registry

int main(int argc, char** argv) { return muster::registry::Main(argc, argv); }
