#pragma once

// `musterctl run`: its flags, and the client library's options built
// from them and from musterctl's own connection settings. Pure;
// thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/tls_options.h"
#include "muster/client/options.h"
#include "muster/client/registration.h"

namespace muster::cli {

struct SidecarArgs {
  std::string service;
  std::string port;
  std::string address = "127.0.0.1";
  std::string id;  // empty: the library's "<address>:<port>"
  // At most one check kind; none: a TTL check of 10s, kept alive by the
  // library's heartbeats.
  std::optional<std::string> check_http;  // URL
  bool check_tcp = false;
  std::optional<std::string> check_grpc;  // service name, may be empty
  std::optional<std::string> ttl;         // duration
  std::vector<std::string> tags;
  std::vector<std::string> meta;  // key=value
  std::optional<std::string> weight;
  std::string zone;
  std::string version;
  std::string drain_grace = "5s";
  // The child's argv, after "--".
  std::vector<std::string> command;
};

// The registration `args` ask for, drain_grace included. UsageError
// naming the flag for a bad value, more than one check kind, or no
// command.
absl::StatusOr<client::RegistrationOptions> BuildRegistrationOptions(
    const SidecarArgs& args);

// musterctl's resolved connection settings (--addr, one address or
// several that the library fails over between, --realm, --timeout,
// the token, --tls/--ca/--cert/--key) as the client library's options.
// The library reads MUSTER_* for what is left empty, as musterctl does.
client::ClientOptions BuildClientOptions(
    const std::vector<std::string>& addresses, const std::string& realm,
    absl::Duration timeout, const std::string& token, const TlsFlags& tls);

}  // namespace muster::cli
