#include "daemon/daemon_options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "daemon/auth_flags.h"
#include "daemon/replication_options.h"
#include "daemon/tls_files.h"

namespace muster::registry {
namespace {

absl::Status ValidateListen(const std::string& value, const char* flag) {
  size_t colon = value.rfind(':');
  if (value.empty() || colon == std::string::npos || colon == 0 ||
      colon + 1 == value.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", value, "\" is not host:port (e.g. 127.0.0.1:7400)"));
  }
  const std::string port = value.substr(colon + 1);
  if (port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": port \"", port, "\" is not a number from 0 to 65535"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& value,
                                                 const char* flag) {
  absl::Duration duration;
  if (!absl::ParseDuration(value, &duration)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", value,
                     "\" is not a duration (e.g. 500ms, 20s, 30m, 1h)"));
  }
  return duration;
}

}  // namespace

absl::Status CheckWholeNumber(const std::string& value, uint64_t min,
                              uint64_t max) {
  uint64_t number = 0;
  // SimpleAtoi alone would take a sign, a "+" or spaces.
  if (value.empty() ||
      value.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(value, &number) || number < min || number > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", value, "\" is not a whole number from ", min, " to ", max));
  }
  return absl::OkStatus();
}

absl::Status CheckShare(const std::string& value) {
  char* end = nullptr;
  errno = 0;
  const double share = std::strtod(value.c_str(), &end);
  // NaN fails both comparisons.
  if (value.empty() || absl::ascii_isspace(value[0]) || *end != '\0' ||
      errno != 0 || !(share > 0 && share <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", value, "\" is not a number in (0, 1]; 1 disables protection"));
  }
  return absl::OkStatus();
}

absl::Status CheckSwitch(const std::string& value) {
  const std::string lower = absl::AsciiStrToLower(value);
  for (const char* word :
       {"true", "false", "yes", "no", "on", "off", "1", "0"}) {
    if (lower == word) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", value, "\" is not one of true, false, yes, no, on, off, 1, 0"));
}

absl::StatusOr<uint64_t> ParseByteSize(const std::string& flag,
                                       const std::string& value) {
  size_t digits = value.find_first_not_of("0123456789");
  if (digits == std::string::npos) digits = value.size();
  const std::string number = value.substr(0, digits);
  const std::string unit = value.substr(digits);
  uint64_t multiplier = 0;
  if (unit.empty()) {
    multiplier = 1;
  } else if (unit == "KiB") {
    multiplier = uint64_t{1} << 10;
  } else if (unit == "MiB") {
    multiplier = uint64_t{1} << 20;
  } else if (unit == "GiB") {
    multiplier = uint64_t{1} << 30;
  }
  constexpr uint64_t kMax = uint64_t{1} << 40;
  uint64_t count = 0;
  bool ok = multiplier != 0 && !number.empty() && number.size() <= 13;
  if (ok) {
    count = std::stoull(number);
    ok = count > 0 && count <= kMax / multiplier;
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", value,
        "\" is not a size from 1 byte to 1TiB (a whole number, optionally "
        "followed by KiB, MiB or GiB)"));
  }
  return count * multiplier;
}

absl::StatusOr<absl::Duration> ParseWatchProgressInterval(
    const DaemonOptions& options) {
  absl::StatusOr<absl::Duration> interval = ParseDurationFlag(
      options.watch_progress_interval, "--watch-progress-interval");
  if (!interval.ok()) return interval.status();
  if (*interval < absl::Milliseconds(100) || *interval > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        "--watch-progress-interval: must be from 100ms to 1h");
  }
  return *interval;
}

absl::StatusOr<uint32_t> ParseDnsTtl(const DaemonOptions& options) {
  absl::StatusOr<absl::Duration> ttl =
      ParseDurationFlag(options.dns_ttl, "--dns-ttl");
  if (!ttl.ok()) return ttl.status();
  if (*ttl < absl::ZeroDuration() || *ttl > absl::Hours(1) ||
      *ttl != absl::Seconds(absl::ToInt64Seconds(*ttl))) {
    return absl::InvalidArgumentError(
        "--dns-ttl: must be whole seconds from 0s to 1h");
  }
  return static_cast<uint32_t>(absl::ToInt64Seconds(*ttl));
}

absl::StatusOr<absl::Duration> ParseXdsPushDelay(const DaemonOptions& options) {
  absl::StatusOr<absl::Duration> delay =
      ParseDurationFlag(options.xds_push_delay, "--xds-push-delay");
  if (!delay.ok()) return delay.status();
  if (*delay < absl::ZeroDuration() || *delay > absl::Seconds(10)) {
    return absl::InvalidArgumentError(
        "--xds-push-delay: must be from 0 to 10s");
  }
  return *delay;
}

absl::StatusOr<GrpcConnectionOptions> ParseGrpcConnectionOptions(
    const DaemonOptions& options) {
  GrpcConnectionOptions out;
  absl::StatusOr<absl::Duration> handshake = ParseDurationFlag(
      options.grpc_handshake_timeout, "--grpc-handshake-timeout");
  if (!handshake.ok()) return handshake.status();
  if (*handshake < absl::Milliseconds(100) || *handshake > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        "--grpc-handshake-timeout: must be from 100ms to 1h");
  }
  out.handshake_timeout = *handshake;
  absl::StatusOr<absl::Duration> idle = ParseDurationFlag(
      options.grpc_max_connection_idle, "--grpc-max-connection-idle");
  if (!idle.ok()) return idle.status();
  if (*idle == absl::ZeroDuration()) idle = absl::InfiniteDuration();
  if (*idle < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        "--grpc-max-connection-idle: must be at least 1s, or 0 for never");
  }
  out.max_connection_idle = *idle;
  if (options.grpc_fd_reserve < kMinGrpcFdReserve ||
      options.grpc_fd_reserve > kMaxGrpcFdReserve) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc-fd-reserve: must be from ", kMinGrpcFdReserve,
                     " to ", kMaxGrpcFdReserve));
  }
  out.fd_reserve = options.grpc_fd_reserve;
  if (options.grpc_max_concurrent_streams < kMinGrpcMaxConcurrentStreams ||
      options.grpc_max_concurrent_streams > kMaxGrpcMaxConcurrentStreams) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--grpc-max-concurrent-streams: must be from ",
        kMinGrpcMaxConcurrentStreams, " to ", kMaxGrpcMaxConcurrentStreams));
  }
  out.max_concurrent_streams = options.grpc_max_concurrent_streams;
  absl::StatusOr<uint64_t> memory =
      ParseByteSize("--grpc-memory-limit", options.grpc_memory_limit);
  if (!memory.ok()) return memory.status();
  // Below this the transport could not hold a few maximum-size messages.
  if (*memory < (uint64_t{16} << 20)) {
    return absl::InvalidArgumentError(
        "--grpc-memory-limit: must be at least 16MiB");
  }
  out.memory_limit_bytes = *memory;
  absl::StatusOr<absl::Duration> ping = ParseDurationFlag(
      options.grpc_min_ping_interval, "--grpc-min-ping-interval");
  if (!ping.ok()) return ping.status();
  if (*ping < absl::Seconds(1) || *ping > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        "--grpc-min-ping-interval: must be from 1s to 1h");
  }
  out.min_ping_interval = *ping;
  if (options.grpc_max_ping_strikes < kMinGrpcMaxPingStrikes ||
      options.grpc_max_ping_strikes > kMaxGrpcMaxPingStrikes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc-max-ping-strikes: must be from ",
                     kMinGrpcMaxPingStrikes, " to ", kMaxGrpcMaxPingStrikes));
  }
  out.max_ping_strikes = options.grpc_max_ping_strikes;
  return out;
}

absl::StatusOr<TlsFlagValues> ParseTlsOptions(const DaemonOptions& options) {
  TlsFlagValues out;
  absl::StatusOr<absl::Duration> interval =
      ParseDurationFlag(options.tls_reload_interval, "--tls-reload-interval");
  if (!interval.ok()) return interval.status();
  if (*interval < absl::Seconds(1) || *interval > absl::Hours(24) ||
      *interval != absl::Seconds(absl::ToInt64Seconds(*interval))) {
    return absl::InvalidArgumentError(
        "--tls-reload-interval: must be whole seconds from 1s to 24h");
  }
  out.reload_interval = *interval;
  if (options.tls_cert.empty()) {
    if (!options.tls_key.empty()) {
      return absl::InvalidArgumentError(
          "--tls-key: needs --tls-cert (the certificate the key belongs to)");
    }
    if (!options.tls_client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--tls-client-ca: needs --tls-cert (mutual TLS is TLS first)");
    }
    return out;
  }
  if (options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert: needs --tls-key (the certificate's private key)");
  }
  if (absl::Status s = CheckTlsFiles(options.tls_cert, options.tls_key,
                                     options.tls_client_ca);
      !s.ok()) {
    return s;
  }
  out.cert = options.tls_cert;
  out.key = options.tls_key;
  out.client_ca = options.tls_client_ca;
  return out;
}

absl::Status ValidateDaemonOptions(const DaemonOptions& options) {
  if (absl::Status s = ValidateListen(options.listen, "--listen"); !s.ok())
    return s;
  if (absl::Status s = ValidateListen(options.http_listen, "--http-listen");
      !s.ok())
    return s;
  if (!options.xds_listen.empty()) {
    if (absl::Status s = ValidateListen(options.xds_listen, "--xds-listen");
        !s.ok())
      return s;
  }
  if (absl::Status s = ParseXdsPushDelay(options).status(); !s.ok()) return s;
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("--data-dir: must not be empty");
  }
  if (options.changelog_retention < kMinChangelogRetention) {
    return absl::InvalidArgumentError(
        "--changelog-retention: must be at least 1 revision");
  }
  LogLevel level;
  if (!ParseLogLevel(options.log_level, &level)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level: \"", options.log_level,
                     "\" is not one of debug, info, warning, error"));
  }
  if (options.checker_max_in_flight < kMinProbesInFlight ||
      options.checker_max_in_flight > kMaxProbesInFlight) {
    return absl::InvalidArgumentError(
        absl::StrCat("--checker-max-in-flight: must be from ",
                     kMinProbesInFlight, " to ", kMaxProbesInFlight));
  }
  if (options.checker_max_in_flight_per_host < kMinProbesInFlight ||
      options.checker_max_in_flight_per_host > kMaxProbesInFlight) {
    return absl::InvalidArgumentError(
        absl::StrCat("--checker-max-in-flight-per-host: must be from ",
                     kMinProbesInFlight, " to ", kMaxProbesInFlight));
  }
  absl::StatusOr<uint64_t> buffer =
      ParseByteSize("--watch-buffer-bytes", options.watch_buffer_bytes);
  if (!buffer.ok()) return buffer.status();
  absl::StatusOr<uint64_t> total =
      ParseByteSize("--watch-memory-limit", options.watch_memory_limit);
  if (!total.ok()) return total.status();
  if (*buffer > *total) {
    return absl::InvalidArgumentError(
        "--watch-buffer-bytes: must not be more than --watch-memory-limit");
  }
  if (std::isnan(options.eviction_protection_share) ||
      options.eviction_protection_share <= 0 ||
      options.eviction_protection_share > 1) {
    return absl::InvalidArgumentError(
        "--eviction-protection-share: must be in (0, 1]; 1 disables "
        "protection");
  }
  if (absl::Status s = ParseGrpcConnectionOptions(options).status(); !s.ok())
    return s;
  if (absl::Status s = ParseWatchProgressInterval(options).status(); !s.ok())
    return s;
  if (absl::Status s = ParseTlsOptions(options).status(); !s.ok()) return s;
  if (!options.dns_listen.empty()) {
    if (absl::Status s = ValidateListen(options.dns_listen, "--dns-listen");
        !s.ok())
      return s;
  }
  if (absl::Status s = ParseDnsTtl(options).status(); !s.ok()) return s;
  if (absl::Status s = ParseReplicationOptions(options).status(); !s.ok())
    return s;
  if (options.token_burst < kMinTokenBurst) {
    return absl::InvalidArgumentError("--token-burst: must be at least 1");
  }
  return CheckAuthExposure(options.listen, options.http_listen, options.auth,
                           options.insecure_no_auth);
}

}  // namespace muster::registry
