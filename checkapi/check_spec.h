#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace muster {

// Values match muster.v1 enums and are stored on disk: never renumber.
enum class Health : uint8_t {
  kStarting = 1,
  kPassing = 2,
  kWarning = 3,
  kCritical = 4,
};

enum class AdminState : uint8_t {
  kEnabled = 1,
  kDraining = 2,
};

enum class CheckKind : uint8_t {
  kNone = 1,
  kTtl = 2,
  kHttp = 3,
  kTcp = 4,
  kGrpc = 5,
};

// Defaults applied by the registry when a check leaves a field unset.
inline constexpr absl::Duration kDefaultCheckInterval = absl::Seconds(10);
inline constexpr absl::Duration kDefaultCheckTimeout = absl::Seconds(2);
inline constexpr uint32_t kDefaultHealthyThreshold = 1;
inline constexpr uint32_t kDefaultUnhealthyThreshold = 3;
inline constexpr absl::Duration kDefaultDeregisterAfter = absl::Minutes(10);

// CheckSpec says how an instance is checked (see muster.v1.CheckSpec).
// After registration every duration and threshold is resolved: a zero
// value only remains where the kind does not use the field.
struct CheckSpec {
  CheckKind kind = CheckKind::kNone;
  absl::Duration interval = absl::ZeroDuration();
  absl::Duration timeout = absl::ZeroDuration();
  absl::Duration ttl = absl::ZeroDuration();
  uint32_t healthy_threshold = 0;
  uint32_t unhealthy_threshold = 0;
  absl::Duration deregister_after = absl::ZeroDuration();
  std::string http_url;
  std::string http_method;
  // Sorted by name.
  std::vector<std::pair<std::string, std::string>> http_headers;
  bool http_follow_redirects = false;
  std::string grpc_service;
  // TLS of the probe (see muster.v1.CheckSpec): a GRPC check over TLS;
  // no certificate verification (HTTPS or gRPC over TLS); the name to
  // verify and send as SNI instead of the URL's host or the address.
  bool grpc_tls = false;
  bool tls_skip_verify = false;
  std::string tls_server_name;

  friend bool operator==(const CheckSpec& a, const CheckSpec& b);
  friend bool operator!=(const CheckSpec& a, const CheckSpec& b) {
    return !(a == b);
  }
};

// Lowercase names as used in messages and the CLI: "passing", "ttl", ...
absl::string_view HealthName(Health health);
absl::string_view AdminStateName(AdminState state);
absl::string_view CheckKindName(CheckKind kind);

// An instance is routable when ENABLED and PASSING or WARNING.
inline bool IsRoutable(AdminState admin, Health health) {
  return admin == AdminState::kEnabled &&
         (health == Health::kPassing || health == Health::kWarning);
}

}  // namespace muster
