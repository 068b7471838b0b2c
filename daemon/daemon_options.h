#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/auth_flags.h"
#include "registry/limits.h"

namespace muster::registry {

// The ranges of musterd's numeric flags, inclusive.
inline constexpr uint64_t kMinChangelogRetention = 1;
inline constexpr uint64_t kMaxChangelogRetention = UINT64_MAX;
inline constexpr uint64_t kMinProbesInFlight = 1;
inline constexpr uint64_t kMaxProbesInFlight = 100000;
inline constexpr uint64_t kMinGrpcFdReserve = 64;
inline constexpr uint64_t kMaxGrpcFdReserve = 1048576;
inline constexpr uint64_t kMinGrpcMaxConcurrentStreams = 1;
inline constexpr uint64_t kMaxGrpcMaxConcurrentStreams = 1000000;
inline constexpr uint64_t kMinGrpcMaxPingStrikes = 1;
inline constexpr uint64_t kMaxGrpcMaxPingStrikes = 1000;

// Everything musterd is configured with (flags; see `musterd --help` and
// the README). Defaults are the documented ones.
struct DaemonOptions {
  std::string listen = "127.0.0.1:7400";
  std::string http_listen = "127.0.0.1:7401";
  std::string data_dir = "./muster-data";
  // Where the registry lives (README "High availability"): "rocksdb", the
  // embedded store in --data-dir, or "etcd", shared by several replicas
  // (ParseReplicationOptions).
  std::string store = "rocksdb";
  std::string etcd_endpoints;
  std::string etcd_prefix = "/muster/";
  std::string etcd_ca_file;
  std::string etcd_cert_file;
  std::string etcd_key_file;
  std::string etcd_username;
  std::string etcd_password_file;
  uint32_t etcd_max_txn_ops = 128;
  std::string replica_id;
  std::string advertise_addr;
  std::string replica_lease_ttl = "5s";
  // The CA replicas verify each other's certificates against when they
  // call each other (empty: --tls-client-ca, else not verified).
  std::string peer_ca_file;
  bool auto_create_realms = false;
  uint64_t changelog_retention = limits::kDefaultChangelogRetention;
  std::string log_level = "info";
  // Health checker.
  bool checker = true;
  uint32_t checker_max_in_flight = 1024;
  uint32_t checker_max_in_flight_per_host = 64;
  double eviction_protection_share = 0.5;
  std::vector<std::string> probe_allow;
  std::vector<std::string> probe_deny;
  // PEM bundle of the CAs https and gRPC-over-TLS probes trust instead of
  // the system's roots; empty: the system's.
  std::string probe_ca_file;
  // Watch memory: what one watcher, and all of them, may hold (sizes
  // such as 16MiB; see ParseByteSize).
  std::string watch_buffer_bytes = "16MiB";
  std::string watch_memory_limit = "512MiB";
  // How often an idle watch that asked for progress notifications gets
  // one (ParseWatchProgressInterval).
  std::string watch_progress_interval = "10s";
  // xDS (musterd built with MUSTER_XDS): a second port serving only ADS
  // (empty: the main port only), and how long changes are coalesced
  // before a push (ParseXdsPushDelay).
  std::string xds_listen;
  std::string xds_push_delay = "100ms";
  // gRPC connections (durations such as 20s or 30m; see
  // ParseGrpcConnectionOptions).
  std::string grpc_handshake_timeout = "20s";
  std::string grpc_max_connection_idle = "30m";
  uint32_t grpc_fd_reserve = 2048;
  // gRPC transport limits (ParseGrpcConnectionOptions).
  uint32_t grpc_max_concurrent_streams = 4096;
  std::string grpc_memory_limit = "1GiB";
  std::string grpc_min_ping_interval = "10s";
  uint32_t grpc_max_ping_strikes = 2;
  // TLS on the gRPC and HTTP ports (ParseTlsOptions); no --tls-cert: none.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string tls_reload_interval = "10s";
  // Access control (daemon/auth_flags.h): --auth, --insecure-no-auth,
  // --bootstrap-token-file (empty: <data-dir>/bootstrap-token),
  // --metrics-auth, and the per-client limits (0: unlimited).
  bool auth = false;
  bool insecure_no_auth = false;
  std::string bootstrap_token_file;
  bool metrics_auth = true;
  uint32_t token_rate = kDefaultTokenRate;
  uint32_t token_burst = kDefaultTokenBurst;
  uint32_t max_watchers_per_client = kDefaultMaxWatchersPerClient;
  // DNS front end (README "DNS"): empty --dns-listen: off. --dns-ttl is a
  // duration (ParseDnsTtl); --dns-rate UDP queries a second per source
  // (0 unlimited), with a burst of twice that.
  std::string dns_listen;
  std::string dns_ttl = "0s";
  uint32_t dns_rate = 1000;
};

// --dns-ttl: a duration of whole seconds from 0s to 1h. INVALID_ARGUMENT
// naming the flag.
absl::StatusOr<uint32_t> ParseDnsTtl(const DaemonOptions& options);

// INVALID_ARGUMENT naming the flag and the rule.
absl::Status ValidateDaemonOptions(const DaemonOptions& options);

// The rules a flag's text must follow before it becomes a number or a
// bool, for the flag parser (a negative number must not wrap around).
// INVALID_ARGUMENT stating the rule broken, e.g. `"-5" is not a whole
// number from 1 to 100000`; the parser puts the flag's name first.
//
// Decimal digits only, from `min` to `max`.
absl::Status CheckWholeNumber(const std::string& value, uint64_t min,
                              uint64_t max);
// --eviction-protection-share: a number in (0, 1].
absl::Status CheckShare(const std::string& value);
// An on/off flag given a value (--checker=false): true, false, yes, no, on,
// off, 1 or 0, in any case.
absl::Status CheckSwitch(const std::string& value);

// A size: a whole number of bytes, optionally followed by KiB, MiB or
// GiB (powers of 1024). INVALID_ARGUMENT naming `flag` for anything else,
// for 0 and for more than 1 TiB.
absl::StatusOr<uint64_t> ParseByteSize(const std::string& flag,
                                       const std::string& value);

// --watch-progress-interval: a duration from 100ms to 1h.
// INVALID_ARGUMENT naming the flag.
absl::StatusOr<absl::Duration> ParseWatchProgressInterval(
    const DaemonOptions& options);

// --xds-push-delay: a duration from 0 to 10s. INVALID_ARGUMENT naming
// the flag.
absl::StatusOr<absl::Duration> ParseXdsPushDelay(const DaemonOptions& options);

// The gRPC connection flags as values.
struct GrpcConnectionOptions {
  absl::Duration handshake_timeout;
  absl::Duration max_connection_idle;  // absl::InfiniteDuration(): never
  uint32_t fd_reserve = 0;
  uint32_t max_concurrent_streams = 0;
  uint64_t memory_limit_bytes = 0;
  absl::Duration min_ping_interval;
  uint32_t max_ping_strikes = 0;
};

// --grpc-handshake-timeout from 100ms to 1h; --grpc-max-connection-idle
// at least 1s, or 0 for never; --grpc-fd-reserve from 64 to 1048576;
// --grpc-max-concurrent-streams from 1 to 1000000; --grpc-memory-limit a
// size of at least 16MiB; --grpc-min-ping-interval from 1s to 1h;
// --grpc-max-ping-strikes from 1 to 1000.
// INVALID_ARGUMENT naming the flag.
absl::StatusOr<GrpcConnectionOptions> ParseGrpcConnectionOptions(
    const DaemonOptions& options);

// The TLS flags as values; cert empty: no TLS.
struct TlsFlagValues {
  std::string cert;
  std::string key;
  std::string client_ca;
  absl::Duration reload_interval;
};

// --tls-key and --tls-client-ca need --tls-cert, and --tls-cert needs
// --tls-key; --tls-reload-interval whole seconds from 1s to 24h; the files
// are read and must parse, the key must match the certificate
// (CheckTlsFiles). INVALID_ARGUMENT naming the flag and the rule.
absl::StatusOr<TlsFlagValues> ParseTlsOptions(const DaemonOptions& options);

}  // namespace muster::registry
