#include "common/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace muster {

absl::StatusOr<std::string> NewSecret() {
  std::array<unsigned char, kSecretRandomBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return absl::UnavailableError(
        "the random generator failed; no token secret was made");
  }
  std::string encoded;
  absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()),
                        bytes.size()),
      &encoded);
  // The random bytes are not needed any more; do not leave them on the
  // stack for a later read of uninitialised memory to find.
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return absl::StrCat(kSecretPrefix, encoded);
}

std::string SecretHash(absl::string_view secret) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  // EVP_Digest with SHA-256 fails only when out of memory; there is no
  // sane way on from there.
  if (EVP_Digest(secret.data(), secret.size(), digest.data(), &size,
                 EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace muster
