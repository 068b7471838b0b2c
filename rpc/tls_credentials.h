#pragma once

// musterd's transport security for gRPC, behind a small stable interface.
// gRPC 1.51's TLS options API (grpc::experimental::TlsServerCredentials,
// FileWatcherCertificateProvider) is experimental and may change in any
// release; tls_credentials.cc is the only file that uses it, so an upgrade
// touches that one file.

#include <memory>
#include <string>

#include "absl/time/time.h"

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace muster::registry {

// PEM files of the server's identity and, for mutual TLS, of the CAs its
// clients' certificates must chain to. Empty cert_file: no TLS.
struct TlsFiles {
  std::string cert_file;       // certificate chain, leaf first
  std::string key_file;        // its private key (unencrypted)
  std::string client_ca_file;  // empty: clients present no certificate
  // How often the files are looked at again; a change is used by the next
  // handshake (connections already open keep theirs). Whole seconds, at
  // least one (gRPC's file watcher counts in seconds).
  absl::Duration reload_interval = absl::Seconds(10);

  bool enabled() const { return !cert_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }
};

// The credentials musterd's gRPC port accepts connections with: plaintext
// when `files` is not enabled; otherwise TLS 1.2+ with the identity read
// from the files, reloaded every reload_interval; with client_ca_file,
// clients must present a certificate that chains to it (mutual TLS).
// A file that cannot be read on a reload keeps the previous credentials
// (gRPC logs it). The files are checked once at start-up by musterd's flag
// validation, so construction does not fail here.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(
    const TlsFiles& files);

// Credentials for musterd's checks of its own port (/readyz): plaintext
// without TLS; with TLS, a handshake that does not verify the server (it
// dials itself, and may not know the CA that issued its certificate) and,
// under mutual TLS, presents the server's own certificate and key as its
// client certificate, so the port's own CA must accept it (it must allow
// client authentication: extendedKeyUsage clientAuth, or none).
std::shared_ptr<grpc::ChannelCredentials> MakeSelfCheckCredentials(
    const TlsFiles& files);

// Credentials for calls to another musterd replica (--store etcd):
// plaintext without TLS; with TLS, the peer's certificate verified against
// `ca_file` (the CA of the replicas' certificates; its names must match
// the peer's advertised host), or, with no `ca_file`, not verified (the
// replicas' shared peer secret still authenticates the caller). The
// replica presents its own certificate and key, for mutual TLS.
std::shared_ptr<grpc::ChannelCredentials> MakePeerCredentials(
    const TlsFiles& files, const std::string& ca_file);

}  // namespace muster::registry
