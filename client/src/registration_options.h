#pragma once

// The pure parts of Registration: checking RegistrationOptions and
// building the Instance it registers. Internal to the library; separate
// so that unit tests reach them without a daemon.

#include <grpcpp/support/status.h>

#include <chrono>
#include <string>

#include "muster/client/registration.h"
#include "muster/v1/types.pb.h"

namespace muster::client::internal {

// OK, or INVALID_ARGUMENT naming the first field that breaks its rule
// (e.g. "RegistrationOptions.port: must be 1..65535, got 0").
grpc::Status CheckRegistrationOptions(const RegistrationOptions& options);

// "<address>:<port>" unless options.id is set.
std::string InstanceId(const RegistrationOptions& options);

// The instance Register sends: id as InstanceId(), zone `default_zone`
// unless options.zone is set, and the CheckSpec of options.check. Zero
// durations are left unset so that musterd's defaults apply. REQUIRES:
// CheckRegistrationOptions(options).ok().
v1::Instance BuildInstance(const RegistrationOptions& options,
                           const std::string& default_zone);

// How long the loop waits between two heartbeats (or existence checks):
// ttl * heartbeat_fraction, at least 10 ms.
std::chrono::milliseconds HeartbeatPeriod(const RegistrationOptions& options);

}  // namespace muster::client::internal
