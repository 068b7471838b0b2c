#include "registry/daemon_options.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "registry/common/logging.h"

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

}  // namespace

absl::Status ValidateDaemonOptions(const DaemonOptions& options) {
  if (absl::Status s = ValidateListen(options.listen, "--listen"); !s.ok())
    return s;
  if (absl::Status s = ValidateListen(options.http_listen, "--http-listen");
      !s.ok())
    return s;
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("--data-dir: must not be empty");
  }
  if (options.changelog_retention < 1) {
    return absl::InvalidArgumentError(
        "--changelog-retention: must be at least 1 revision");
  }
  LogLevel level;
  if (!ParseLogLevel(options.log_level, &level)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level: \"", options.log_level,
                     "\" is not one of debug, info, warning, error"));
  }
  if (options.checker_max_in_flight < 1 ||
      options.checker_max_in_flight > 100000) {
    return absl::InvalidArgumentError(
        "--checker-max-in-flight: must be from 1 to 100000");
  }
  if (options.checker_max_in_flight_per_host < 1) {
    return absl::InvalidArgumentError(
        "--checker-max-in-flight-per-host: must be at least 1");
  }
  if (std::isnan(options.eviction_protection_share) ||
      options.eviction_protection_share <= 0 ||
      options.eviction_protection_share > 1) {
    return absl::InvalidArgumentError(
        "--eviction-protection-share: must be in (0, 1]; 1 disables "
        "protection");
  }
  return absl::OkStatus();
}

}  // namespace muster::registry
