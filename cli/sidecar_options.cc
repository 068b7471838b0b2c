#include "cli/sidecar_options.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "cli/duration.h"
#include "cli/errors.h"
#include "cli/flag_values.h"

namespace muster::cli {
namespace {

std::chrono::milliseconds ToMillis(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

absl::Status BuildCheck(const SidecarArgs& args,
                        client::RegistrationOptions& options) {
  int kinds = (args.check_http.has_value() ? 1 : 0) + (args.check_tcp ? 1 : 0) +
              (args.check_grpc.has_value() ? 1 : 0) +
              (args.ttl.has_value() ? 1 : 0);
  if (kinds > 1) {
    return UsageError(
        "choose one of --check-http, --check-tcp, --check-grpc, --ttl");
  }
  if (args.check_http.has_value()) {
    if (args.check_http->empty()) {
      return UsageError(
          "--check-http: want a URL, e.g. http://127.0.0.1:8080/health");
    }
    options.check = client::CheckType::kHttp;
    options.http_url = *args.check_http;
  } else if (args.check_tcp) {
    options.check = client::CheckType::kTcp;
  } else if (args.check_grpc.has_value()) {
    options.check = client::CheckType::kGrpc;
    options.grpc_service = *args.check_grpc;
  } else {
    options.check = client::CheckType::kTtl;
    if (args.ttl.has_value()) {
      absl::StatusOr<absl::Duration> ttl = ParseDuration("--ttl", *args.ttl);
      if (!ttl.ok()) return ttl.status();
      if (*ttl < absl::Seconds(1)) {
        return UsageError("--ttl: want at least 1s");
      }
      options.ttl = ToMillis(*ttl);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<client::RegistrationOptions> BuildRegistrationOptions(
    const SidecarArgs& args) {
  client::RegistrationOptions options;
  if (args.command.empty()) {
    return UsageError(
        "run: give the command to start after --, e.g. musterctl run "
        "--service web --port 8080 -- ./server");
  }
  if (args.service.empty()) return UsageError("--service: must not be empty");
  options.service = args.service;
  if (args.address.empty()) {
    return UsageError(
        "--address: must not be empty (default 127.0.0.1: where clients "
        "reach the child)");
  }
  options.address = args.address;
  absl::StatusOr<uint32_t> port = ParsePort("--port", args.port);
  if (!port.ok()) return port.status();
  options.port = *port;
  options.id = args.id;
  for (const std::string& tag : args.tags) {
    if (tag.empty()) return UsageError("--tag: must not be empty");
    options.tags.push_back(tag);
  }
  absl::StatusOr<std::map<std::string, std::string>> meta =
      ParseKeyValues("--meta", args.meta);
  if (!meta.ok()) return meta.status();
  options.metadata = *std::move(meta);
  if (args.weight.has_value()) {
    absl::StatusOr<uint64_t> weight =
        ParseUnsigned("--weight", *args.weight, 1, 10000);
    if (!weight.ok()) return weight.status();
    options.weight = static_cast<uint32_t>(*weight);
  }
  options.zone = args.zone;
  options.version = args.version;
  absl::Status check = BuildCheck(args, options);
  if (!check.ok()) return check;
  absl::StatusOr<absl::Duration> grace =
      ParseDuration("--drain-grace", args.drain_grace);
  if (!grace.ok()) return grace.status();
  options.drain_grace = ToMillis(*grace);
  return options;
}

client::ClientOptions BuildClientOptions(
    const std::vector<std::string>& addresses, const std::string& realm,
    absl::Duration timeout, const std::string& token, const TlsFlags& tls) {
  client::ClientOptions options;
  options.addresses = addresses;
  options.realm = realm;
  options.token = token;
  options.tls.enabled = tls.tls || !tls.ca.empty() || !tls.cert.empty();
  options.tls.ca_file = tls.ca;
  options.tls.cert_file = tls.cert;
  options.tls.key_file = tls.key;
  options.call_timeout = ToMillis(timeout);
  return options;
}

}  // namespace muster::cli
