#pragma once

// Sends musterctl's access token with every call on a channel, streams
// included, as `authorization: Bearer <secret>` (a client interceptor:
// gRPC's call credentials are only sent over TLS, and the token must
// work on a plain loopback connection too).

#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <string>
#include <vector>

namespace muster::cli {

// The interceptors for a channel; none when `secret` is empty.
std::vector<
    std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
BearerTokenInterceptors(const std::string& secret);

}  // namespace muster::cli
