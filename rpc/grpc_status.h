#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace muster::registry {

// absl and gRPC share canonical codes value for value; this is the one
// place that converts.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace muster::registry
