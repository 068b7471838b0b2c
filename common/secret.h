#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Secrets of access tokens: made from the operating system's CSPRNG,
// stored only as their SHA-256, compared in constant time. The one place
// muster links OpenSSL's libcrypto for this. Pure functions; thread-safe.
namespace muster {

// The text every generated secret starts with, so a leaked one is easy to
// recognise (secret scanners, logs).
inline constexpr absl::string_view kSecretPrefix = "mst_";
// Random bytes in a generated secret: 256 bits.
inline constexpr size_t kSecretRandomBytes = 32;

// A fresh secret: kSecretPrefix then kSecretRandomBytes from RAND_bytes,
// base64url without padding (47 characters in all). UNAVAILABLE when the
// random generator fails (it never hands out a weak secret).
absl::StatusOr<std::string> NewSecret();

// The lowercase hex SHA-256 of `secret` (64 characters).
std::string SecretHash(absl::string_view secret);

// Whether `a` and `b` are equal, in time that depends only on their
// lengths (CRYPTO_memcmp), so a comparison leaks nothing of the content.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace muster
