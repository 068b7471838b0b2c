#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <vector>

namespace muster::registry {

// gRPC's C++ callback API answers a request body that does not parse as
// the method's request message with UNIMPLEMENTED and no message, which
// tells a client the method does not exist. This interceptor rewrites
// that answer, for muster's own methods only (an unknown method still
// gets UNIMPLEMENTED), to INVALID_ARGUMENT "the request body is not a
// valid <type> message". None of muster's handlers answers UNIMPLEMENTED
// with an empty message, so the rewrite never hides a real answer.
// (The raw Watch method parses its request itself and says the same.)
std::vector<
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
ParseErrorInterceptors();

}  // namespace muster::registry
