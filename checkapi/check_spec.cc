#include "checkapi/check_spec.h"

namespace muster {

bool operator==(const CheckSpec& a, const CheckSpec& b) {
  return a.kind == b.kind && a.interval == b.interval &&
         a.timeout == b.timeout && a.ttl == b.ttl &&
         a.healthy_threshold == b.healthy_threshold &&
         a.unhealthy_threshold == b.unhealthy_threshold &&
         a.deregister_after == b.deregister_after && a.http_url == b.http_url &&
         a.http_method == b.http_method && a.http_headers == b.http_headers &&
         a.http_follow_redirects == b.http_follow_redirects &&
         a.grpc_service == b.grpc_service && a.grpc_tls == b.grpc_tls &&
         a.tls_skip_verify == b.tls_skip_verify &&
         a.tls_server_name == b.tls_server_name;
}

absl::string_view HealthName(Health health) {
  switch (health) {
    case Health::kStarting:
      return "starting";
    case Health::kPassing:
      return "passing";
    case Health::kWarning:
      return "warning";
    case Health::kCritical:
      return "critical";
  }
  return "unknown";
}

absl::string_view AdminStateName(AdminState state) {
  switch (state) {
    case AdminState::kEnabled:
      return "enabled";
    case AdminState::kDraining:
      return "draining";
  }
  return "unknown";
}

absl::string_view CheckKindName(CheckKind kind) {
  switch (kind) {
    case CheckKind::kNone:
      return "none";
    case CheckKind::kTtl:
      return "ttl";
    case CheckKind::kHttp:
      return "http";
    case CheckKind::kTcp:
      return "tcp";
    case CheckKind::kGrpc:
      return "grpc";
  }
  return "unknown";
}

}  // namespace muster
