#include "rpc/tls_credentials.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>

namespace muster::registry {
namespace {

using grpc::experimental::FileWatcherCertificateProvider;

unsigned int IntervalSeconds(absl::Duration interval) {
  return static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(interval)));
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(
    const TlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureServerCredentials();
  // The provider reads the files once now and again on its own thread
  // every interval; handshakes take whatever it holds at the moment, so a
  // replaced certificate needs no restart and drops no connection.
  auto provider = std::make_shared<FileWatcherCertificateProvider>(
      files.key_file, files.cert_file, files.client_ca_file,
      IntervalSeconds(files.reload_interval));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (files.mutual()) {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeSelfCheckCredentials(
    const TlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (files.mutual()) {
    // No root watched: the server's certificate is not verified (below).
    options.set_certificate_provider(
        std::make_shared<FileWatcherCertificateProvider>(
            files.key_file, files.cert_file,
            IntervalSeconds(files.reload_interval)));
    options.watch_identity_key_cert_pairs();
  }
  options.set_verify_server_certs(false);
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  options.set_check_call_host(false);
  return grpc::experimental::TlsCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakePeerCredentials(
    const TlsFiles& files, const std::string& ca_file) {
  if (!files.enabled()) return grpc::InsecureChannelCredentials();
  if (ca_file.empty()) return MakeSelfCheckCredentials(files);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(
      std::make_shared<FileWatcherCertificateProvider>(
          files.key_file, files.cert_file, ca_file,
          IntervalSeconds(files.reload_interval)));
  options.watch_identity_key_cert_pairs();
  options.watch_root_certs();
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace muster::registry
