#include "common/listen_address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace muster::registry {

absl::StatusOr<HostPort> ParseListenAddress(absl::string_view what,
                                            const std::string& listen) {
  auto invalid = [what, &listen](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", listen, "\": ", why, " (want host:port or [ipv6]:port)"));
  };
  HostPort out;
  std::string port_text;
  if (!listen.empty() && listen.front() == '[') {
    size_t bracket = listen.find("]:");
    if (bracket == std::string::npos) return invalid("missing \"]:port\"");
    out.host = listen.substr(1, bracket - 1);
    port_text = listen.substr(bracket + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return invalid("missing \":port\"");
    out.host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return invalid("an IPv6 address needs brackets");
    }
  }
  if (out.host.empty()) return invalid("empty host");
  bool digits = !port_text.empty() && port_text.size() <= 5;
  for (char c : port_text)
    digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits || !absl::SimpleAtoi(port_text, &out.port) || out.port > 65535) {
    return invalid("port must be 0..65535");
  }
  return out;
}

}  // namespace muster::registry
