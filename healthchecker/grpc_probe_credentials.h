#pragma once

#include <memory>
#include <string>

#include "checkapi/check_spec.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace muster::healthchecker {

// The channel credentials of a gRPC probe, from its check: plaintext
// unless `check.grpc_tls`; over TLS, the server's certificate is verified
// against `ca_pem` (PEM; empty: the system's roots) unless
// `check.tls_skip_verify`. The name verified is the channel's target name
// (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG when the check sets tls_server_name),
// which the prober sets. Skipping verification needs gRPC's experimental
// TLS API (grpc::experimental::TlsChannelCredentialsOptions in 1.51):
// this file is its only user in the checker, so a gRPC upgrade that moves
// the API touches only it. Thread-safe.
std::shared_ptr<grpc::ChannelCredentials> GrpcProbeCredentials(
    const CheckSpec& check, const std::string& ca_pem);

}  // namespace muster::healthchecker
