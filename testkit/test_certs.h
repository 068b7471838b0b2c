#pragma once

// Certificates for TLS tests, made with the `openssl` command line (the
// Debian package `openssl`; scripts/setup-deps.sh installs it).
//
//   muster::testing::TempDir dir;
//   muster::testing::TestCerts certs(dir.path());   // aborts when openssl
//                                                    // fails (cannot test)
//   certs.ca().cert          // PEM file: the CA to trust
//   certs.server().cert/.key // server cert signed by ca(): subjectAltName
//                            // IP:127.0.0.1 and DNS:localhost
//   certs.client().cert/.key // client cert signed by ca() (CN "client")
//   certs.other_ca()         // a second CA that has nothing to do with ca()
//   certs.other_client()     // client cert signed by other_ca()
//   certs.other_server()     // server cert signed by other_ca()
//
// More on demand: MakeCa, MakeServer, MakeClient (each a fresh key and a
// new random serial). ReplaceFile copies a PEM over another one with a
// rename, so a process watching the destination never reads half a file.
//
// Keys are ECDSA P-256 (fast to make: the whole default set takes well
// under a second). Files are named after `name` inside the directory.
// Not thread-safe.

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace muster::testing {

// A PEM certificate and its PEM private key (unencrypted).
struct CertKey {
  std::string cert;
  std::string key;
};

class TestCerts final {
 public:
  // Makes the default set in `dir` (which must exist).
  explicit TestCerts(std::string dir);

  const CertKey& ca() const { return ca_; }
  const CertKey& other_ca() const { return other_ca_; }
  const CertKey& server() const { return server_; }
  const CertKey& other_server() const { return other_server_; }
  const CertKey& client() const { return client_; }
  const CertKey& other_client() const { return other_client_; }
  const std::string& dir() const { return dir_; }

  // A self-signed CA "<name>.crt"/"<name>.key" with common name `name`.
  CertKey MakeCa(const std::string& name) const;
  // A server certificate signed by `ca`, for IP:127.0.0.1 and
  // DNS:localhost (extendedKeyUsage serverAuth and clientAuth: under
  // mutual TLS musterd's /readyz dials its own port with it).
  CertKey MakeServer(const CertKey& ca, const std::string& name) const;
  // A client certificate signed by `ca` with common name `common_name`
  // (extendedKeyUsage clientAuth).
  CertKey MakeClient(const CertKey& ca, const std::string& name,
                     const std::string& common_name) const;

  // Runs `openssl` with `args`; an error carrying its stderr when it fails.
  static absl::Status RunOpenssl(const std::vector<std::string>& args);

 private:
  std::string dir_;
  CertKey ca_, other_ca_, server_, other_server_, client_, other_client_;
};

// Copies `from` over `to` atomically (a temporary file next to `to`, then
// rename): a watcher sees the old or the new content, never a mix.
// Aborts when it cannot (cannot test).
void ReplaceFile(const std::string& from, const std::string& to);

// The whole content of `path`; "" when unreadable.
std::string ReadWholeFile(const std::string& path);

}  // namespace muster::testing
