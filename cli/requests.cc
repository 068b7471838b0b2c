#include "cli/requests.h"

#include <limits>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cli/duration.h"
#include "cli/errors.h"
#include "cli/flag_values.h"

namespace muster::cli {
namespace {

// Large enough that a listing takes few round trips, well inside the
// API's 1..1000.
constexpr uint32_t kListPageSize = 500;

constexpr uint64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

// The value of a realm update flag that resets the setting to the
// daemon's default.
constexpr char kDaemonDefault[] = "default";

// A positive duration flag; nullopt when not given.
absl::StatusOr<std::optional<google::protobuf::Duration>> OptionalDuration(
    const std::string& flag, const std::optional<std::string>& text) {
  if (!text.has_value()) return std::optional<google::protobuf::Duration>();
  absl::StatusOr<absl::Duration> d = ParseDuration(flag, *text);
  if (!d.ok()) return d.status();
  if (*d <= absl::ZeroDuration()) {
    return UsageError(absl::StrCat(
        flag, ": must be longer than zero (leave it out for the default)"));
  }
  return std::optional<google::protobuf::Duration>(ToProtoDuration(*d));
}

// Fills the check spec from the check flags of `args`.
absl::Status BuildCheck(const RegisterArgs& args, v1::CheckSpec& check) {
  int kinds = (args.check_http.has_value() ? 1 : 0) + (args.check_tcp ? 1 : 0) +
              (args.check_grpc.has_value() ? 1 : 0) +
              (args.check_ttl.has_value() ? 1 : 0);
  if (kinds > 1) {
    return UsageError(
        "choose one of --check-http, --check-tcp, --check-grpc, --check-ttl");
  }
  bool has_tuning = args.interval || args.check_timeout ||
                    args.deregister_after || args.healthy_threshold ||
                    args.unhealthy_threshold;
  if (kinds == 0) {
    if (has_tuning) {
      return UsageError(
          "--interval, --check-timeout, --deregister-after and the thresholds "
          "need a check: add --check-http, --check-tcp, --check-grpc or "
          "--check-ttl");
    }
  }
  bool http_only = args.http_method.has_value() || !args.http_headers.empty() ||
                   args.http_follow_redirects;
  if (http_only && !args.check_http.has_value()) {
    return UsageError(
        "--http-method, --http-header and --http-follow-redirects need "
        "--check-http URL");
  }

  if (args.check_grpc_tls && !args.check_grpc.has_value()) {
    return UsageError("--check-grpc-tls needs --check-grpc");
  }
  const bool tls_only =
      args.check_tls_skip_verify || args.check_tls_server_name.has_value();
  if (tls_only && !args.check_http.has_value() && !args.check_grpc_tls) {
    return UsageError(
        "--check-tls-skip-verify and --check-tls-server-name need a TLS "
        "check: --check-http with an https:// URL, or --check-grpc with "
        "--check-grpc-tls");
  }
  check.set_tls_skip_verify(args.check_tls_skip_verify);
  if (args.check_tls_server_name.has_value()) {
    if (args.check_tls_server_name->empty()) {
      return UsageError(
          "--check-tls-server-name: want a DNS name, e.g. api.internal");
    }
    check.set_tls_server_name(*args.check_tls_server_name);
  }

  if (args.check_http.has_value()) {
    if (args.check_http->empty()) {
      return UsageError(
          "--check-http: want a URL, e.g. http://10.0.0.7:8080/health");
    }
    check.set_kind(v1::CHECK_KIND_HTTP);
    check.set_http_url(*args.check_http);
    if (args.http_method.has_value()) check.set_http_method(*args.http_method);
    absl::StatusOr<std::map<std::string, std::string>> headers =
        ParseKeyValues("--http-header", args.http_headers);
    if (!headers.ok()) return headers.status();
    check.mutable_http_headers()->insert(headers->begin(), headers->end());
    check.set_http_follow_redirects(args.http_follow_redirects);
  } else if (args.check_tcp) {
    check.set_kind(v1::CHECK_KIND_TCP);
  } else if (args.check_grpc.has_value()) {
    check.set_kind(v1::CHECK_KIND_GRPC);
    check.set_grpc_service(*args.check_grpc);
    check.set_grpc_tls(args.check_grpc_tls);
  } else if (args.check_ttl.has_value()) {
    check.set_kind(v1::CHECK_KIND_TTL);
    if (args.interval || args.check_timeout) {
      return UsageError(
          "--interval and --check-timeout do not apply to --check-ttl: the "
          "instance heartbeats, nothing is probed");
    }
    absl::StatusOr<std::optional<google::protobuf::Duration>> ttl =
        OptionalDuration("--check-ttl", args.check_ttl);
    if (!ttl.ok()) return ttl.status();
    *check.mutable_ttl() = **ttl;
  } else {
    check.set_kind(v1::CHECK_KIND_NONE);
    return absl::OkStatus();
  }

  struct DurationFlag {
    const char* flag;
    const std::optional<std::string>& text;
    google::protobuf::Duration* field;
  };
  const DurationFlag durations[] = {
      {"--interval", args.interval, check.mutable_interval()},
      {"--check-timeout", args.check_timeout, check.mutable_timeout()},
      {"--deregister-after", args.deregister_after,
       check.mutable_deregister_after()}};
  for (const DurationFlag& d : durations) {
    absl::StatusOr<std::optional<google::protobuf::Duration>> value =
        OptionalDuration(d.flag, d.text);
    if (!value.ok()) return value.status();
    if (value->has_value()) *d.field = **value;
  }
  struct ThresholdFlag {
    const char* flag;
    const std::optional<std::string>& text;
    void (v1::CheckSpec::*set)(uint32_t);
  };
  const ThresholdFlag thresholds[] = {
      {"--healthy-threshold", args.healthy_threshold,
       &v1::CheckSpec::set_healthy_threshold},
      {"--unhealthy-threshold", args.unhealthy_threshold,
       &v1::CheckSpec::set_unhealthy_threshold}};
  for (const ThresholdFlag& t : thresholds) {
    if (!t.text.has_value()) continue;
    absl::StatusOr<uint64_t> value =
        ParseUnsigned(t.flag, *t.text, 1, kMaxUint32);
    if (!value.ok()) return value.status();
    (check.*t.set)(static_cast<uint32_t>(*value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<uint64_t>> ParseOptionalUnsigned(
    const std::string& flag, const std::optional<std::string>& text) {
  if (!text.has_value()) return std::optional<uint64_t>();
  absl::StatusOr<uint64_t> value =
      ParseUnsigned(flag, *text, 0, std::numeric_limits<uint64_t>::max());
  if (!value.ok()) return value.status();
  return std::optional<uint64_t>(*value);
}

absl::StatusOr<v1::RegisterRequest> BuildRegisterRequest(
    const std::string& realm, const RegisterArgs& args) {
  v1::RegisterRequest request;
  request.set_realm(realm);
  v1::Instance& instance = *request.mutable_instance();
  instance.set_service(args.service);
  instance.set_id(args.id);
  instance.set_address(args.address);
  absl::StatusOr<uint32_t> port = ParsePort("--port", args.port);
  if (!port.ok()) return port.status();
  instance.set_port(*port);
  for (const std::string& tag : args.tags) instance.add_tags(tag);
  absl::StatusOr<std::map<std::string, std::string>> meta =
      ParseKeyValues("--meta", args.meta);
  if (!meta.ok()) return meta.status();
  instance.mutable_metadata()->insert(meta->begin(), meta->end());
  instance.set_zone(args.zone);
  if (args.weight.has_value()) {
    absl::StatusOr<uint64_t> weight =
        ParseUnsigned("--weight", *args.weight, 0, kMaxUint32);
    if (!weight.ok()) return weight.status();
    instance.set_weight(static_cast<uint32_t>(*weight));
  }
  instance.set_version(args.version);
  absl::Status check = BuildCheck(args, *instance.mutable_check());
  if (!check.ok()) return check;
  return request;
}

absl::StatusOr<v1::ListInstancesRequest> BuildListRequest(
    const std::string& realm, const ListArgs& args) {
  v1::ListInstancesRequest request;
  request.set_realm(realm);
  request.set_service(args.service);
  request.set_routable_only(args.routable_only);
  for (const std::string& tag : args.tags) request.add_tags(tag);
  absl::StatusOr<std::map<std::string, std::string>> meta =
      ParseKeyValues("--meta", args.meta);
  if (!meta.ok()) return meta.status();
  request.mutable_metadata()->insert(meta->begin(), meta->end());
  request.set_zone(args.zone);
  request.set_page_size(kListPageSize);
  return request;
}

absl::StatusOr<v1::CreateRealmRequest> BuildCreateRealmRequest(
    const RealmCreateArgs& args) {
  v1::CreateRealmRequest request;
  request.set_name(args.name);
  v1::RealmSettings& settings = *request.mutable_settings();
  settings.set_description(args.description);
  if (args.eviction_protection_share.has_value()) {
    absl::StatusOr<double> share = ParseShare("--eviction-protection-share",
                                              *args.eviction_protection_share);
    if (!share.ok()) return share.status();
    settings.set_eviction_protection_share(*share);
  }
  absl::StatusOr<std::optional<google::protobuf::Duration>> dda =
      OptionalDuration("--default-deregister-after",
                       args.default_deregister_after);
  if (!dda.ok()) return dda.status();
  if (dda->has_value()) *settings.mutable_default_deregister_after() = **dda;
  return request;
}

absl::StatusOr<v1::UpdateRealmRequest> BuildUpdateRealmRequest(
    const RealmUpdateArgs& args) {
  v1::UpdateRealmRequest request;
  request.set_name(args.name);
  v1::RealmSettings& settings = *request.mutable_settings();
  google::protobuf::FieldMask& mask = *request.mutable_update_mask();
  if (args.description.has_value()) {
    settings.set_description(*args.description);
    mask.add_paths("description");
  }
  if (args.eviction_protection_share.has_value()) {
    if (*args.eviction_protection_share != kDaemonDefault) {
      absl::StatusOr<double> share = ParseShare(
          "--eviction-protection-share", *args.eviction_protection_share);
      if (!share.ok()) return share.status();
      settings.set_eviction_protection_share(*share);
    }
    mask.add_paths("eviction_protection_share");
  }
  if (args.default_deregister_after.has_value()) {
    if (*args.default_deregister_after != kDaemonDefault) {
      absl::StatusOr<absl::Duration> dda = ParseDuration(
          "--default-deregister-after", *args.default_deregister_after);
      if (!dda.ok()) return dda.status();
      if (*dda <= absl::ZeroDuration()) {
        return UsageError(
            "--default-deregister-after: must be longer than zero (\"default\" "
            "resets it to the daemon's default)");
      }
      *settings.mutable_default_deregister_after() = ToProtoDuration(*dda);
    }
    mask.add_paths("default_deregister_after");
  }
  if (mask.paths().empty()) {
    return UsageError(
        "realm update: give at least one setting to change: --description, "
        "--eviction-protection-share or --default-deregister-after");
  }
  return request;
}

absl::StatusOr<v1::WatchRequest> BuildWatchRequest(const std::string& realm,
                                                   const WatchArgs& args) {
  v1::WatchRequest request;
  request.set_realm(realm);
  request.set_service(args.service);
  absl::StatusOr<std::optional<uint64_t>> from =
      ParseOptionalUnsigned("--from-revision", args.from_revision);
  if (!from.ok()) return from.status();
  request.set_from_revision(from->value_or(0));
  return request;
}

}  // namespace muster::cli
