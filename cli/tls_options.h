#pragma once

// musterctl's transport security: --tls, --ca, --cert and --key, or
// MUSTER_CA, MUSTER_CERT and MUSTER_KEY (a flag wins over its variable).
// --ca (trust this CA) implies TLS; --tls alone trusts the system's roots;
// --cert and --key present a client certificate (mutual TLS) and imply TLS.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace muster::cli {

struct TlsFlags {
  bool tls = false;  // --tls
  std::string ca;    // --ca FILE
  std::string cert;  // --cert FILE
  std::string key;   // --key FILE
};

// The credentials to dial musterd with: plaintext when neither the flags
// nor the environment ask for TLS. UsageError naming the flag (or the
// variable) for an unreadable or empty file, and for --cert without --key
// or the reverse.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ResolveCredentials(
    const TlsFlags& flags,
    const std::function<const char*(const char*)>& getenv);

}  // namespace muster::cli
