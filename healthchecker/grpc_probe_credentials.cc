#include "healthchecker/grpc_probe_credentials.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

namespace muster::healthchecker {

std::shared_ptr<grpc::ChannelCredentials> GrpcProbeCredentials(
    const CheckSpec& check, const std::string& ca_pem) {
  if (!check.grpc_tls) return grpc::InsecureChannelCredentials();
  if (!check.tls_skip_verify) {
    grpc::SslCredentialsOptions options;
    // Empty: gRPC's default roots, the system's (or the file named by
    // GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
    options.pem_root_certs = ca_pem;
    return grpc::SslCredentials(options);
  }
  // In 1.51 turning off the chain check alone still leaves the host-name
  // verifier and the per-call host check on: all three go.
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace muster::healthchecker
