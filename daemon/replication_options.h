#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/daemon_options.h"

namespace muster::registry {

// How musterd joins its replicas when --store etcd, checked and with the
// defaults filled in.
struct ReplicationConfig {
  std::vector<std::string> endpoints;
  std::string prefix;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string username;
  std::string password;  // read from --etcd-password-file
  size_t max_txn_ops = 128;
  std::string replica_id;
  std::string advertise_address;
  absl::Duration lease_ttl = absl::Seconds(5);
};

// The --store etcd flags. INVALID_ARGUMENT naming the flag and the rule:
// --store not rocksdb or etcd, etcd flags without --store etcd, no or a
// malformed endpoint, a prefix not starting and ending with '/', a key
// without a certificate, a username without a password file (or one that
// cannot be read), a lease TTL outside 2s to 1m, and no --advertise-addr
// while --listen is a wildcard. REQUIRES: options.store is "etcd" for a
// config (for "rocksdb" only the checks run; the result is empty).
absl::StatusOr<ReplicationConfig> ParseReplicationOptions(
    const DaemonOptions& options);

}  // namespace muster::registry
