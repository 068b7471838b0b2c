#include "cli/tls_options.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/errors.h"
#include "grpcpp/security/credentials.h"

namespace muster::cli {
namespace {

// A value and what to call it in errors: the flag, or the variable it
// came from.
struct Source {
  std::string value;
  std::string name;
};

Source Pick(const std::string& flag_value, const char* flag,
            const std::function<const char*(const char*)>& getenv,
            const char* variable) {
  if (!flag_value.empty()) return Source{flag_value, flag};
  const char* env = getenv(variable);
  if (env != nullptr && *env != '\0') return Source{env, variable};
  return Source{"", flag};
}

absl::StatusOr<std::string> ReadPem(const Source& source) {
  errno = 0;
  std::ifstream in(source.value, std::ios::binary);
  if (!in) {
    return UsageError(
        absl::StrCat(source.name, ": cannot read ", source.value, ": ",
                     errno != 0 ? std::strerror(errno) : "cannot open"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return UsageError(
        absl::StrCat(source.name, ": ", source.value, " holds no PEM data"));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ResolveCredentials(
    const TlsFlags& flags,
    const std::function<const char*(const char*)>& getenv) {
  const Source ca = Pick(flags.ca, "--ca", getenv, "MUSTER_CA");
  const Source cert = Pick(flags.cert, "--cert", getenv, "MUSTER_CERT");
  const Source key = Pick(flags.key, "--key", getenv, "MUSTER_KEY");
  if (cert.value.empty() != key.value.empty()) {
    return UsageError(cert.value.empty()
                          ? absl::StrCat(key.name, ": needs --cert too")
                          : absl::StrCat(cert.name, ": needs --key too"));
  }
  if (!flags.tls && ca.value.empty() && cert.value.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  if (!ca.value.empty()) {
    absl::StatusOr<std::string> pem = ReadPem(ca);
    if (!pem.ok()) return pem.status();
    options.pem_root_certs = *std::move(pem);
  }
  if (!cert.value.empty()) {
    absl::StatusOr<std::string> pem = ReadPem(cert);
    if (!pem.ok()) return pem.status();
    options.pem_cert_chain = *std::move(pem);
    pem = ReadPem(key);
    if (!pem.ok()) return pem.status();
    options.pem_private_key = *std::move(pem);
  }
  return grpc::SslCredentials(options);
}

}  // namespace muster::cli
