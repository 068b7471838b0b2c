#include "daemon/tls_files.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace muster::registry {

struct ReloadingTlsIdentity::Material {
  ~Material() {
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    X509_STORE_free(client_cas);
  }
  X509* leaf = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;  // intermediates after the leaf
  X509_STORE* client_cas = nullptr;
};

namespace {

using Material = ReloadingTlsIdentity::Material;

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read ", path, ": ",
                     errno != 0 ? std::strerror(errno) : "cannot open"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every PEM certificate in `text`, in order.
std::vector<X509*> Certificates(const std::string& text) {
  std::vector<X509*> out;
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    out.push_back(cert);
  }
  BIO_free(bio);
  ERR_clear_error();  // the end of input is reported as an error
  return out;
}

absl::StatusOr<std::shared_ptr<const Material>> Parse(
    const std::string& cert_path, const std::string& cert_text,
    const std::string& key_path, const std::string& key_text,
    const std::string& ca_path, const std::string& ca_text) {
  auto material = std::make_shared<Material>();
  std::vector<X509*> certs = Certificates(cert_text);
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert: ", cert_path, " holds no PEM certificate"));
  }
  material->leaf = certs[0];
  material->chain = sk_X509_new_null();
  for (size_t i = 1; i < certs.size(); ++i) {
    sk_X509_push(material->chain, certs[i]);
  }
  BIO* bio =
      BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size()));
  material->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  if (material->key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-key: ", key_path, " holds no unencrypted PEM private key"));
  }
  if (X509_check_private_key(material->leaf, material->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-key: ", key_path,
        " does not match the certificate of --tls-cert (", cert_path, ")"));
  }
  if (!ca_path.empty()) {
    std::vector<X509*> cas = Certificates(ca_text);
    if (cas.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-client-ca: ", ca_path, " holds no PEM certificate"));
    }
    material->client_cas = X509_STORE_new();
    for (X509* ca : cas) {
      X509_STORE_add_cert(material->client_cas, ca);
      X509_free(ca);
    }
    ERR_clear_error();
  }
  return std::shared_ptr<const Material>(std::move(material));
}

struct Texts {
  std::string cert, key, ca;
  std::string Joined() const { return absl::StrCat(cert, "\n", key, "\n", ca); }
};

absl::StatusOr<Texts> ReadAll(const std::string& cert, const std::string& key,
                              const std::string& client_ca) {
  Texts texts;
  absl::StatusOr<std::string> text = ReadPem("--tls-cert", cert);
  if (!text.ok()) return text.status();
  texts.cert = *std::move(text);
  text = ReadPem("--tls-key", key);
  if (!text.ok()) return text.status();
  texts.key = *std::move(text);
  if (!client_ca.empty()) {
    text = ReadPem("--tls-client-ca", client_ca);
    if (!text.ok()) return text.status();
    texts.ca = *std::move(text);
  }
  return texts;
}

}  // namespace

absl::Status CheckTlsFiles(const std::string& cert, const std::string& key,
                           const std::string& client_ca) {
  absl::StatusOr<Texts> texts = ReadAll(cert, key, client_ca);
  if (!texts.ok()) return texts.status();
  return Parse(cert, texts->cert, key, texts->key, client_ca, texts->ca)
      .status();
}

ReloadingTlsIdentity::ReloadingTlsIdentity(Files files)
    : files_(std::move(files)) {}

ReloadingTlsIdentity::~ReloadingTlsIdentity() = default;

absl::StatusOr<std::unique_ptr<ReloadingTlsIdentity>>
ReloadingTlsIdentity::Create(Files files) {
  std::unique_ptr<ReloadingTlsIdentity> identity(
      new ReloadingTlsIdentity(std::move(files)));
  const Files& f = identity->files_;
  absl::StatusOr<Texts> texts = ReadAll(f.cert, f.key, f.client_ca);
  if (!texts.ok()) return texts.status();
  absl::StatusOr<std::shared_ptr<const Material>> material =
      Parse(f.cert, texts->cert, f.key, texts->key, f.client_ca, texts->ca);
  if (!material.ok()) return material.status();
  absl::MutexLock lock(&identity->mu_);
  identity->material_ = *std::move(material);
  identity->loaded_text_ = texts->Joined();
  identity->checked_at_ = absl::Now();
  return identity;
}

std::shared_ptr<const ReloadingTlsIdentity::Material>
ReloadingTlsIdentity::Current() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now - checked_at_ < files_.reload_interval) return material_;
  checked_at_ = now;
  absl::StatusOr<Texts> texts =
      ReadAll(files_.cert, files_.key, files_.client_ca);
  if (!texts.ok()) {
    MUSTER_LOG(kWarning, "HTTP TLS: keeping the previous certificate: %s",
               texts.status().message());
    return material_;
  }
  std::string joined = texts->Joined();
  if (joined == loaded_text_) return material_;
  absl::StatusOr<std::shared_ptr<const Material>> material =
      Parse(files_.cert, texts->cert, files_.key, texts->key, files_.client_ca,
            texts->ca);
  if (!material.ok()) {
    // Often a moment between writing the certificate and its key; the
    // next look (next interval) takes the pair once they match.
    MUSTER_LOG(kWarning, "HTTP TLS: keeping the previous certificate: %s",
               material.status().message());
    return material_;
  }
  material_ = *std::move(material);
  loaded_text_ = std::move(joined);
  MUSTER_LOG(kInfo, "HTTP TLS: certificate reloaded from %s", files_.cert);
  return material_;
}

int ReloadingTlsIdentity::OnHandshake(ssl_st* ssl, void* self) {
  std::shared_ptr<const Material> material =
      static_cast<ReloadingTlsIdentity*>(self)->Current();
  // SSL_use_* and SSL_set1_* take their own references: the handshake
  // keeps this material even when a reload replaces it meanwhile.
  if (SSL_use_certificate(ssl, material->leaf) != 1 ||
      SSL_use_PrivateKey(ssl, material->key) != 1 ||
      SSL_set1_chain(ssl, material->chain) != 1) {
    return 0;
  }
  if (material->client_cas != nullptr &&
      SSL_set1_verify_cert_store(ssl, material->client_cas) != 1) {
    return 0;
  }
  return 1;
}

bool ReloadingTlsIdentity::ConfigureServer(ssl_ctx_st& ctx) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION |
                                SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  // Without resumption every connection runs OnHandshake and so sees a
  // reloaded certificate or CA.
  SSL_CTX_set_session_cache_mode(&ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(&ctx, 0);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_TICKET);
  std::shared_ptr<const Material> material = Current();
  if (SSL_CTX_use_certificate(&ctx, material->leaf) != 1 ||
      SSL_CTX_use_PrivateKey(&ctx, material->key) != 1) {
    return false;
  }
  SSL_CTX_set_cert_cb(&ctx, &ReloadingTlsIdentity::OnHandshake, this);
  if (!files_.client_ca.empty()) {
    // SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT: a certificate is asked
    // for and must verify when given, but probes (/healthz, /readyz)
    // connect without one; /metrics checks PeerVerified.
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
  }
  return true;
}

bool ReloadingTlsIdentity::PeerVerified(const ssl_st* ssl) {
  if (ssl == nullptr) return false;
  X509* peer = SSL_get_peer_certificate(ssl);
  if (peer == nullptr) return false;
  X509_free(peer);
  return SSL_get_verify_result(ssl) == X509_V_OK;
}

}  // namespace muster::registry
