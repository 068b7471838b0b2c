#include "daemon/flags.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace muster::registry {
namespace {

// A flag rule from daemon_options as a CLI11 check; CLI11 puts the flag's
// name before the message.
CLI::Validator Rule(std::function<absl::Status(const std::string&)> rule) {
  return CLI::Validator(
      [rule = std::move(rule)](std::string& value) {
        absl::Status s = rule(value);
        return s.ok() ? std::string() : std::string(s.message());
      },
      "");
}

CLI::Validator WholeNumber(uint64_t min, uint64_t max) {
  return Rule([min, max](const std::string& value) {
    return CheckWholeNumber(value, min, max);
  });
}

// A bad flag, as every one is reported: one line, "musterd: " and the
// flag first, exit 2. CLI11's own parse errors are reworded to match (the
// two below follow CLI11 2.1's messages; others pass as they are).
int UsageError(const std::string& message) {
  std::fprintf(stderr, "musterd: %s\n", message.c_str());
  return kExitUsage;
}

// Unknown flags and stray words (CLI11's ExtrasError).
int UnexpectedArguments(const std::vector<std::string>& extras) {
  if (extras.empty()) return UsageError("unexpected arguments");
  const std::string& first = extras.front();
  std::string message =
      absl::StartsWith(first, "-")
          ? absl::StrCat(first.substr(0, first.find('=')), ": unknown flag")
          : absl::StrCat("\"", first,
                         "\": unexpected argument (musterd takes only flags)");
  if (extras.size() > 1) {
    absl::StrAppend(&message, ", and ", extras.size() - 1,
                    " more unexpected argument(s)");
  }
  return UsageError(absl::StrCat(message, "; see musterd --help"));
}

// A flag without its value, or given twice (CLI11's ArgumentMismatch:
// "--listen: 1 required TEXT missing", "--listen: At Most 1 required but
// received 2").
int MissingOrRepeatedValue(const std::string& message) {
  const std::string flag = message.substr(0, message.find(": "));
  if (absl::EndsWith(message, " missing")) {
    return UsageError(absl::StrCat(flag, ": needs a value"));
  }
  if (absl::StrContains(message, "At Most 1 required")) {
    return UsageError(absl::StrCat(flag, ": given more than once"));
  }
  return UsageError(message);
}

}  // namespace

std::variant<DaemonOptions, int> ParseFlags(int argc, char** argv) {
  DaemonOptions options;
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
  app.add_flag("--auto-create-realms", options.auto_create_realms,
               "Create a missing realm on its first registration instead of "
               "NOT_FOUND")
      ->check(Rule(CheckSwitch));
  app.add_option(
         "--changelog-retention", options.changelog_retention,
         "Revisions of change log kept for Watch resumption and history")
      ->capture_default_str()
      ->check(WholeNumber(kMinChangelogRetention, kMaxChangelogRetention));
  app.add_option("--log-level", options.log_level,
                 "debug, info, warning or error")
      ->capture_default_str();
  app.add_flag(
         "--checker,!--no-checker", options.checker,
         "Run the built-in health checker (HTTP, TCP, gRPC and TTL checks); on "
         "by default, --checker=false or --no-checker turns it off")
      ->check(Rule(CheckSwitch));
  app.add_option("--checker-max-in-flight", options.checker_max_in_flight,
                 "Most probes in flight at once (1 to 100000)")
      ->capture_default_str()
      ->check(WholeNumber(kMinProbesInFlight, kMaxProbesInFlight));
  app.add_option("--checker-max-in-flight-per-host",
                 options.checker_max_in_flight_per_host,
                 "Most probes in flight at once to one host (1 to 100000)")
      ->capture_default_str()
      ->check(WholeNumber(kMinProbesInFlight, kMaxProbesInFlight));
  app.add_option(
         "--eviction-protection-share", options.eviction_protection_share,
         "Evictions pause in a realm when more than this share of its checked "
         "instances is critical (0 < x <= 1; 1 disables protection)")
      ->capture_default_str()
      ->check(Rule(CheckShare));
  app.add_option("--watch-buffer-bytes", options.watch_buffer_bytes,
                 "Bytes of events one watcher may hold (queued, and unsent "
                 "in its stream) before it is cut off, e.g. 16MiB")
      ->capture_default_str();
  app.add_option("--watch-memory-limit", options.watch_memory_limit,
                 "Bytes of events all watchers together may hold; beyond it "
                 "those holding more than an even share are cut off")
      ->capture_default_str();
  app.add_option("--watch-progress-interval", options.watch_progress_interval,
                 "How often a watch that asked for progress notifications "
                 "gets one while it has nothing else to send (100ms to 1h)")
      ->capture_default_str();
  app.add_option("--xds-listen", options.xds_listen,
                 "Also serve xDS (ADS) on this HOST:PORT (it is always "
                 "served on --listen); empty: no separate port");
  app.add_option("--xds-push-delay", options.xds_push_delay,
                 "xDS: changes within this window are pushed together "
                 "(0 to 10s)")
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
                 "(at most half the open-file limit is kept; 64 to 1048576)")
      ->capture_default_str()
      ->check(WholeNumber(kMinGrpcFdReserve, kMaxGrpcFdReserve));
  app.add_option("--grpc-max-concurrent-streams",
                 options.grpc_max_concurrent_streams,
                 "Most calls and watches open at once on one gRPC connection; "
                 "more wait in the client (1 to 1000000)")
      ->capture_default_str()
      ->check(WholeNumber(kMinGrpcMaxConcurrentStreams,
                          kMaxGrpcMaxConcurrentStreams));
  app.add_option("--grpc-memory-limit", options.grpc_memory_limit,
                 "Memory gRPC's transport may hold for all connections; "
                 "beyond it reads wait and new connections are refused "
                 "(at least 16MiB)")
      ->capture_default_str();
  app.add_option("--grpc-min-ping-interval", options.grpc_min_ping_interval,
                 "A client's keepalive pings closer than this count as strikes "
                 "(1s to 1h)")
      ->capture_default_str();
  app.add_option("--grpc-max-ping-strikes", options.grpc_max_ping_strikes,
                 "Ping strikes before a connection gets a GOAWAY (1 to 1000)")
      ->capture_default_str()
      ->check(WholeNumber(kMinGrpcMaxPingStrikes, kMaxGrpcMaxPingStrikes));
  app.add_option("--tls-cert", options.tls_cert,
                 "PEM certificate chain: serve gRPC and HTTP over TLS "
                 "(reloaded when the file changes)");
  app.add_option("--tls-key", options.tls_key, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", options.tls_client_ca,
                 "PEM CA certificates: require gRPC clients to present a "
                 "certificate they issued (mutual TLS); HTTP asks for one and "
                 "/metrics requires it");
  app.add_option("--tls-reload-interval", options.tls_reload_interval,
                 "How often the TLS files are checked for changes (whole "
                 "seconds, 1s to 24h)")
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
  app.add_flag("--auth", options.auth,
               "Require an access token (authorization: Bearer) on every "
               "call but Ping; the first start makes an admin token (see "
               "--bootstrap-token-file)")
      ->check(Rule(CheckSwitch));
  app.add_flag("--insecure-no-auth", options.insecure_no_auth,
               "Serve a non-loopback --listen or --http-listen without "
               "--auth: anyone who reaches the ports may change everything")
      ->check(Rule(CheckSwitch));
  app.add_option("--bootstrap-token-file", options.bootstrap_token_file,
                 "With --auth: the admin token's secret; written (0600) on "
                 "the first start when missing, else used to create it "
                 "(default <data-dir>/bootstrap-token)")
      ->type_name("FILE");
  app.add_flag("--metrics-auth,!--no-metrics-auth", options.metrics_auth,
               "With --auth, /metrics needs a live token too (on by "
               "default; --metrics-auth=false serves it to anyone)")
      ->check(Rule(CheckSwitch));
  app.add_option("--token-rate", options.token_rate,
                 "Requests a second one client (a token; without --auth an "
                 "address) may make; beyond it RESOURCE_EXHAUSTED with when "
                 "to retry (0 unlimited)")
      ->capture_default_str()
      ->check(WholeNumber(0, kMaxTokenRate));
  app.add_option("--token-burst", options.token_burst,
                 "Requests one client may make at once after being idle")
      ->capture_default_str()
      ->check(WholeNumber(kMinTokenBurst, kMaxTokenBurst));
  app.add_option("--max-watchers-per-client", options.max_watchers_per_client,
                 "Most watch streams one client (a token; without --auth an "
                 "address) may hold open (0 unlimited)")
      ->capture_default_str()
      ->check(WholeNumber(0, kMaxWatchersPerClient));
  app.add_option("--probe-ca-file", options.probe_ca_file,
                 "PEM bundle of the CAs that https and gRPC-over-TLS health "
                 "checks verify targets against, instead of the system's "
                 "roots (read at start-up)");
  app.add_option("--dns-listen", options.dns_listen,
                 "DNS address host:port (UDP and TCP) answering A, AAAA and "
                 "SRV for <service>.<realm>.muster (e.g. 127.0.0.1:8600; "
                 "default off)");
  app.add_option("--dns-ttl", options.dns_ttl,
                 "TTL of DNS answers (whole seconds, 0s to 1h)")
      ->capture_default_str();
  app.add_option("--dns-rate", options.dns_rate,
                 "UDP DNS queries a second one source address may make, "
                 "with a burst of twice that; beyond it they are dropped "
                 "(0 unlimited)")
      ->capture_default_str()
      ->check(WholeNumber(0, kMaxTokenRate));
  app.add_option("--store", options.store,
                 "Where the registry lives: rocksdb (embedded, in "
                 "--data-dir) or etcd (shared by several musterd replicas; "
                 "see --etcd-endpoints)")
      ->capture_default_str();
  app.add_option("--etcd-endpoints", options.etcd_endpoints,
                 "With --store etcd: the etcd members, host:port,host:port");
  app.add_option("--etcd-prefix", options.etcd_prefix,
                 "With --store etcd: the prefix of every key muster writes "
                 "(several muster clusters may share one etcd)")
      ->capture_default_str();
  app.add_option("--etcd-ca-file", options.etcd_ca_file,
                 "With --store etcd: PEM CA of the etcd members' "
                 "certificates; turns on TLS to etcd");
  app.add_option("--etcd-cert-file", options.etcd_cert_file,
                 "With --store etcd: PEM client certificate for etcd "
                 "(with --etcd-key-file); turns on TLS to etcd");
  app.add_option("--etcd-key-file", options.etcd_key_file,
                 "With --store etcd: PEM private key of --etcd-cert-file");
  app.add_option("--etcd-username", options.etcd_username,
                 "With --store etcd: etcd user (etcd authentication)");
  app.add_option("--etcd-password-file", options.etcd_password_file,
                 "With --store etcd: file holding the password of "
                 "--etcd-username");
  app.add_option("--etcd-max-txn-ops", options.etcd_max_txn_ops,
                 "With --store etcd: etcd's --max-txn-ops; the most records "
                 "one write to etcd holds")
      ->capture_default_str()
      ->check(WholeNumber(16, 1000000));
  app.add_option("--replica-id", options.replica_id,
                 "With --store etcd: this replica's name, unique among the "
                 "replicas (default: the host name)");
  app.add_option("--advertise-addr", options.advertise_addr,
                 "With --store etcd: host:port where the other replicas "
                 "reach this one's gRPC port (default: --listen unless it "
                 "is a wildcard address)");
  app.add_option("--replica-lease-ttl", options.replica_lease_ttl,
                 "With --store etcd: a replica that has not renewed its etcd "
                 "lease for this long is taken as dead and the others check "
                 "its instances (whole seconds, 2s to 1m)")
      ->capture_default_str();
  app.add_option("--peer-ca-file", options.peer_ca_file,
                 "With --store etcd and --tls-cert: PEM CA the replicas' "
                 "certificates are verified against when they call each "
                 "other (default --tls-client-ca; none: not verified)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ExtrasError&) {
    return UnexpectedArguments(app.remaining());
  } catch (const CLI::ArgumentMismatch& e) {
    return MissingOrRepeatedValue(e.what());
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0, as CLI11 has them.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e);
    }
    return UsageError(e.what());
  }
  if (absl::Status valid = ValidateDaemonOptions(options); !valid.ok()) {
    std::fprintf(stderr, "musterd: %s\n", std::string(valid.message()).c_str());
    return kExitUsage;
  }
  return options;
}

}  // namespace muster::registry
