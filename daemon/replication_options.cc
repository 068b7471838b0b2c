#include "daemon/replication_options.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/listen_address.h"

namespace muster::registry {
namespace {

bool IsWildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& flag,
                                           const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read \"", path, "\""));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret(absl::StripTrailingAsciiWhitespace(text.str()));
  if (secret.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", path, "\" is empty"));
  }
  return secret;
}

}  // namespace

absl::StatusOr<ReplicationConfig> ParseReplicationOptions(
    const DaemonOptions& options) {
  if (options.store != "rocksdb" && options.store != "etcd") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--store: \"", options.store, "\" is not one of rocksdb, etcd"));
  }
  if (options.store == "rocksdb") {
    for (const auto& [flag, value] :
         {std::pair<const char*, const std::string*>{"--etcd-endpoints",
                                                     &options.etcd_endpoints},
          {"--etcd-ca-file", &options.etcd_ca_file},
          {"--etcd-cert-file", &options.etcd_cert_file},
          {"--etcd-key-file", &options.etcd_key_file},
          {"--etcd-username", &options.etcd_username},
          {"--etcd-password-file", &options.etcd_password_file},
          {"--replica-id", &options.replica_id},
          {"--peer-ca-file", &options.peer_ca_file},
          {"--advertise-addr", &options.advertise_addr}}) {
      if (!value->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(flag, ": needs --store etcd"));
      }
    }
    return ReplicationConfig{};
  }

  ReplicationConfig config;
  for (absl::string_view endpoint :
       absl::StrSplit(options.etcd_endpoints, ',', absl::SkipWhitespace())) {
    const std::string trimmed(absl::StripAsciiWhitespace(endpoint));
    absl::StatusOr<HostPort> parsed =
        ParseListenAddress("--etcd-endpoints", trimmed);
    if (!parsed.ok()) return parsed.status();
    if (parsed->host.empty() || parsed->port == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--etcd-endpoints: \"", trimmed, "\" needs a host and a port"));
    }
    config.endpoints.push_back(trimmed);
  }
  if (config.endpoints.empty()) {
    return absl::InvalidArgumentError(
        "--etcd-endpoints: --store etcd needs at least one etcd member "
        "(host:port,...)");
  }
  config.prefix = options.etcd_prefix;
  if (config.prefix.size() < 2 || config.prefix.front() != '/' ||
      config.prefix.back() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("--etcd-prefix: \"", config.prefix,
                     "\" must start and end with '/' (e.g. /muster/)"));
  }
  if (options.etcd_cert_file.empty() != options.etcd_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--etcd-cert-file: --etcd-cert-file and --etcd-key-file go together");
  }
  config.ca_file = options.etcd_ca_file;
  config.cert_file = options.etcd_cert_file;
  config.key_file = options.etcd_key_file;
  if (!options.etcd_username.empty()) {
    if (options.etcd_password_file.empty()) {
      return absl::InvalidArgumentError(
          "--etcd-username: needs --etcd-password-file");
    }
    absl::StatusOr<std::string> password =
        ReadSecretFile("--etcd-password-file", options.etcd_password_file);
    if (!password.ok()) return password.status();
    config.username = options.etcd_username;
    config.password = *password;
  } else if (!options.etcd_password_file.empty()) {
    return absl::InvalidArgumentError(
        "--etcd-password-file: needs --etcd-username");
  }
  config.max_txn_ops = options.etcd_max_txn_ops;

  absl::Duration ttl;
  if (!absl::ParseDuration(options.replica_lease_ttl, &ttl) ||
      ttl < absl::Seconds(2) || ttl > absl::Minutes(1) ||
      ttl != absl::Seconds(absl::ToInt64Seconds(ttl))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--replica-lease-ttl: \"", options.replica_lease_ttl,
                     "\" is not whole seconds from 2s to 1m"));
  }
  config.lease_ttl = ttl;

  config.replica_id =
      options.replica_id.empty() ? HostName() : options.replica_id;
  if (config.replica_id.empty() ||
      config.replica_id.find_first_of("/ \t\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--replica-id: \"", config.replica_id,
                     "\" must be non-empty, without '/' or whitespace"));
  }
  if (!options.advertise_addr.empty()) {
    absl::StatusOr<HostPort> parsed =
        ParseListenAddress("--advertise-addr", options.advertise_addr);
    if (!parsed.ok()) return parsed.status();
    if (IsWildcard(parsed->host) || parsed->port == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--advertise-addr: \"", options.advertise_addr,
          "\" must name a host the other replicas can reach, and a port"));
    }
    config.advertise_address = options.advertise_addr;
  } else {
    absl::StatusOr<HostPort> listen =
        ParseListenAddress("--listen", options.listen);
    if (!listen.ok()) return listen.status();
    if (IsWildcard(listen->host) || listen->port == 0) {
      return absl::InvalidArgumentError(
          "--advertise-addr: needed with --store etcd when --listen is a "
          "wildcard address or port 0 (where do the other replicas reach "
          "this one?)");
    }
    config.advertise_address = options.listen;
  }
  return config;
}

}  // namespace muster::registry
