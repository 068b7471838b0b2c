#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "registry/limits.h"

namespace muster::registry {

// Everything musterd is configured with (flags; see `musterd --help` and
// the README). Defaults are the documented ones.
struct DaemonOptions {
  std::string listen = "127.0.0.1:7400";
  std::string http_listen = "127.0.0.1:7401";
  std::string data_dir = "./muster-data";
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
};

// INVALID_ARGUMENT naming the flag and the rule.
absl::Status ValidateDaemonOptions(const DaemonOptions& options);

}  // namespace muster::registry
