#pragma once

// How a service reaches musterd: the daemon addresses, the realm, the
// caller's zone, TLS and the access token. Plain data; fill it in code,
// or leave fields empty and let ApplyEnvironment() take them from the
// MUSTER_* variables.

#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace muster::client {

struct TlsOptions {
  // Dial musterd over TLS. Implied by any of the files below.
  bool enabled = false;
  // PEM CA bundle to verify musterd's certificate; empty: system roots.
  std::string ca_file;
  // PEM client certificate and key, for musterd's mutual TLS. Both or
  // neither.
  std::string cert_file;
  std::string key_file;
};

struct ClientOptions {
  // musterd addresses, "host:port" each. Calls go to the first that
  // answers; on a connection failure the client moves to the next.
  // Empty: MUSTER_ADDR (comma-separated), else "127.0.0.1:7400".
  std::vector<std::string> addresses;
  // The realm everything happens in. Empty: MUSTER_REALM, else "default".
  std::string realm;
  // The caller's failure domain: the resolver prefers instances of this
  // zone while it has routable ones, and a Registration without its own
  // zone registers in it. Empty: MUSTER_ZONE, else no preference.
  std::string zone;
  // Empty fields: MUSTER_TLS=1, MUSTER_CA, MUSTER_CERT, MUSTER_KEY.
  TlsOptions tls;
  // Access token sent as `authorization: Bearer <token>` with every call.
  // Empty: MUSTER_TOKEN, else the content of the file MUSTER_TOKEN_FILE
  // (trailing whitespace dropped), else none.
  std::string token;
  // Deadline of each unary call to musterd.
  std::chrono::milliseconds call_timeout{5000};
};

// Reads an environment variable; nullptr when unset.
using GetEnv = std::function<const char*(const char*)>;

// Fills the fields of `options` left empty from the environment, then
// checks them. INVALID_ARGUMENT naming the field (or the variable) and
// the rule: an address that is not host:port, a realm or zone that is not
// a valid name, a certificate without its key, an unreadable or empty
// token file. `options` is left as filled so far on error.
grpc::Status ApplyEnvironment(ClientOptions& options,
                              const GetEnv& getenv = nullptr);

}  // namespace muster::client
