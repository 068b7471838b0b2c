#pragma once

// gRPC status codes in words, for the library's error strings. Internal.

#include <grpcpp/support/status.h>

#include <string>

namespace muster::client::internal {

// "UNAVAILABLE" for grpc::StatusCode::UNAVAILABLE; "code 42" for a code
// gRPC does not define.
std::string StatusCodeName(grpc::StatusCode code);

// "<call>: <CODE>: <message>", e.g. "Heartbeat: UNAVAILABLE: failed to
// connect to all addresses".
std::string DescribeStatus(const std::string& call, const grpc::Status& status);

}  // namespace muster::client::internal
