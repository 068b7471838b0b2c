#pragma once

// musterd's TLS files as OpenSSL reads them: the start-up check of
// --tls-cert, --tls-key and --tls-client-ca, and the reloading identity
// the HTTP endpoint's TLS handshakes use (the gRPC port reloads through
// gRPC's own file watcher, rpc/tls_credentials.h).

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

// OpenSSL's types, kept out of this header.
struct ssl_ctx_st;
struct ssl_st;

namespace muster::registry {

// Reads and parses the files: the certificate chain (leaf first), its
// private key, which must match, and, when `client_ca` is not empty, at
// least one CA certificate. INVALID_ARGUMENT naming the flag and the
// rule, e.g. `--tls-key: /etc/muster/tls.key does not match the
// certificate of --tls-cert`.
absl::Status CheckTlsFiles(const std::string& cert, const std::string& key,
                           const std::string& client_ca);

// The TLS identity (and client CAs) of the HTTP endpoint, re-read from the
// files when they change: each handshake first looks at the files if
// `reload_interval` has passed since the last look, and takes the new
// certificate when the files parse and match (otherwise the old one stays,
// with a warning). A connection in flight keeps the certificate it was
// handshaken with. Thread-safe.
class ReloadingTlsIdentity final {
 public:
  struct Files {
    std::string cert;
    std::string key;
    std::string client_ca;  // empty: no client certificates asked for
    absl::Duration reload_interval = absl::Seconds(10);
  };

  // Reads the files now; the error is CheckTlsFiles's.
  static absl::StatusOr<std::unique_ptr<ReloadingTlsIdentity>> Create(
      Files files);
  ~ReloadingTlsIdentity();
  ReloadingTlsIdentity(const ReloadingTlsIdentity&) = delete;
  ReloadingTlsIdentity& operator=(const ReloadingTlsIdentity&) = delete;

  // Sets up a server SSL_CTX: TLS 1.2 or later, the identity chosen per
  // handshake, and with client CAs, a client certificate asked for and
  // verified when one is presented (a bad one fails the handshake; none
  // is allowed, see PeerVerified). The object must outlive `ctx`.
  bool ConfigureServer(ssl_ctx_st& ctx);

  // True when the connection's client presented a certificate that
  // verified against the client CAs.
  static bool PeerVerified(const ssl_st* ssl);

  struct Material;  // parsed certificate, key, chain and CA store

 private:
  explicit ReloadingTlsIdentity(Files files);
  // Per handshake (SSL_CTX_set_cert_cb): installs the current material.
  static int OnHandshake(ssl_st* ssl, void* self);
  std::shared_ptr<const Material> Current();

  const Files files_;
  absl::Mutex mu_;
  std::shared_ptr<const Material> material_ ABSL_GUARDED_BY(mu_);
  // What the files held when last read, to notice a change.
  std::string loaded_text_ ABSL_GUARDED_BY(mu_);
  absl::Time checked_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace muster::registry
