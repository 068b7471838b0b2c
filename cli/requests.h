#pragma once

// The parsed arguments of each musterctl subcommand, and the requests
// built from them. Building checks every flag value, so a bad value is a
// UsageError before anything is sent. Pure; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "muster/v1/realm.pb.h"
#include "muster/v1/registry.pb.h"

namespace muster::cli {

struct InstanceRef {
  std::string service;
  std::string id;
};

struct RealmCreateArgs {
  std::string name;
  std::string description;
  std::optional<std::string> eviction_protection_share;
  std::optional<std::string> default_deregister_after;
};

// Only the settings given are sent (and named in the update mask).
struct RealmUpdateArgs {
  std::string name;
  std::optional<std::string> description;
  // A fraction, or "default" for the daemon's default.
  std::optional<std::string> eviction_protection_share;
  // A duration, or "default" for the daemon's default.
  std::optional<std::string> default_deregister_after;
};

struct RealmDeleteArgs {
  std::string name;
  bool force = false;
};

struct ListArgs {
  std::string service;  // empty: every service
  bool routable_only = false;
  std::vector<std::string> tags;
  std::vector<std::string> meta;  // key=value
  std::string zone;
};

struct RegisterArgs {
  // -f FILE ("-": stdin): the instances of a JSON or YAML file
  // (cli/instance_file.h) instead of the fields below.
  std::string file;
  std::string service;
  std::string id;  // empty: the daemon generates one
  std::string address;
  std::string port;
  std::vector<std::string> tags;
  std::vector<std::string> meta;  // key=value
  std::string zone;
  std::optional<std::string> weight;
  std::string version;
  // At most one check kind; none means CHECK_KIND_NONE.
  std::optional<std::string> check_http;  // URL
  bool check_tcp = false;
  std::optional<std::string> check_grpc;  // service name, may be empty
  std::optional<std::string> check_ttl;   // duration
  std::optional<std::string> interval;
  std::optional<std::string> check_timeout;
  std::optional<std::string> deregister_after;
  std::optional<std::string> healthy_threshold;
  std::optional<std::string> unhealthy_threshold;
  std::optional<std::string> http_method;
  std::vector<std::string> http_headers;  // Name=value
  bool http_follow_redirects = false;
  // The check's TLS: gRPC over TLS; no certificate verification; the name
  // the certificate must carry (and SNI).
  bool check_grpc_tls = false;
  bool check_tls_skip_verify = false;
  std::optional<std::string> check_tls_server_name;
};

struct InstanceIncarnationArgs {
  InstanceRef ref;
  std::optional<std::string> incarnation;
};

// heartbeat: one, or with keep_alive one every `interval` until
// interrupted.
struct HeartbeatArgs {
  InstanceIncarnationArgs target;
  bool keep_alive = false;
  std::optional<std::string> interval;  // --interval; keep_alive only
};

struct DrainArgs {
  InstanceRef ref;
  std::string reason;
};

struct WatchArgs {
  std::string service;  // empty: every service
  std::optional<std::string> from_revision;
  // Stop after printing this many events (snapshot entries included).
  std::optional<std::string> max_events;
};

// UsageError on a bad flag value.
absl::StatusOr<v1::RegisterRequest> BuildRegisterRequest(
    const std::string& realm, const RegisterArgs& args);
absl::StatusOr<v1::ListInstancesRequest> BuildListRequest(
    const std::string& realm, const ListArgs& args);
absl::StatusOr<v1::CreateRealmRequest> BuildCreateRealmRequest(
    const RealmCreateArgs& args);
// The settings flags given, each set and named in update_mask ("default"
// sends the field at zero: the daemon's default). UsageError when no
// setting flag is given.
absl::StatusOr<v1::UpdateRealmRequest> BuildUpdateRealmRequest(
    const RealmUpdateArgs& args);

absl::StatusOr<v1::WatchRequest> BuildWatchRequest(const std::string& realm,
                                                   const WatchArgs& args);

// The optional unsigned flags shared by several commands; nullopt when the
// flag was not given.
absl::StatusOr<std::optional<uint64_t>> ParseOptionalUnsigned(
    const std::string& flag, const std::optional<std::string>& text);

}  // namespace muster::cli
