#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace muster::registry {

// gRPC's C++ callback API answers a request body that does not parse as
// the method's request message with UNIMPLEMENTED and no message, which
// tells a client the method does not exist. This interceptor rewrites
// that answer, for the unary methods of `services` (full names, e.g.
// "muster.v1.Registry") only, to INVALID_ARGUMENT "the request body is not
// a valid <type> message"; an unknown method still gets UNIMPLEMENTED.
// None of muster's handlers answers UNIMPLEMENTED with an empty message,
// so the rewrite never hides a real answer.
//
// Streaming methods are left out: muster's, Watch and HeartbeatStream,
// are raw and parse their requests themselves (as do the raw unary
// GetInstance and ListInstances), with RequestBodyInvalid's words, and an
// interceptor on a stream would run on every message it writes. A typed
// streaming method added later would need the interceptor extended.
//
// Cost: with any interceptor installed gRPC allocates a ServerRpcInfo
// for every call, and for the methods above an interceptor that sees each
// of the call's batches (about five); the method is looked up in a table
// built here, without a lock.
// The message of that answer for a request of `type` (a full message
// name, e.g. "muster.v1.WatchRequest"): "the request body is not a valid
// <type> message". Raw methods answer it (as INVALID_ARGUMENT) themselves.
std::string RequestBodyInvalid(absl::string_view type);

std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
ParseErrorInterceptors(const std::vector<std::string>& services);

}  // namespace muster::registry
