#include "daemon/auth_flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/listen_address.h"

namespace muster::registry {

bool IsLoopbackListen(const std::string& listen) {
  absl::StatusOr<HostPort> parsed = ParseListenAddress("listen", listen);
  if (!parsed.ok()) return false;
  const std::string& host = parsed->host;
  return host == "localhost" || host == "::1" ||
         (absl::StartsWith(host, "127.") &&
          host.find_first_not_of("0123456789.") == std::string::npos);
}

absl::Status CheckAuthExposure(const std::string& listen,
                               const std::string& http_listen, bool auth,
                               bool insecure_no_auth) {
  if (auth && insecure_no_auth) {
    return absl::InvalidArgumentError(
        "--insecure-no-auth: cannot be given with --auth");
  }
  if (auth || insecure_no_auth) return absl::OkStatus();
  for (const auto& [flag, address] :
       {std::pair<const char*, const std::string&>{"--listen", listen},
        {"--http-listen", http_listen}}) {
    if (!IsLoopbackListen(address)) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": ", address,
          " is not a loopback address, and without --auth anyone who "
          "reaches it may change everything; pass --auth (access tokens) "
          "or --insecure-no-auth"));
    }
  }
  return absl::OkStatus();
}

}  // namespace muster::registry
