#include "client/src/service_url.h"

#include <cctype>

namespace muster::client::internal {
namespace {

constexpr char kSchemeHelp[] =
    " (use service://<service>/<path>, http:// or https://)";

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower((unsigned char)c));
  return text;
}

bool IsServiceNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
         c == '.';
}

std::optional<TargetUrl> Fail(std::string* error, const std::string& url,
                              const std::string& problem) {
  if (error != nullptr) *error = "url \"" + url + "\": " + problem;
  return std::nullopt;
}

}  // namespace

std::string TargetUrl::ForHost(const std::string& host_port) const {
  if (!is_service()) return rest;
  return "http://" + host_port + rest;
}

std::optional<TargetUrl> ParseTargetUrl(const std::string& url,
                                        std::string* error) {
  if (url.empty()) {
    if (error != nullptr) *error = "url is empty";
    return std::nullopt;
  }
  for (char c : url) {
    if (std::iscntrl(static_cast<unsigned char>(c)) || c == ' ') {
      return Fail(error, url, "contains a space or a control character");
    }
  }
  const size_t colon = url.find(':');
  if (colon == std::string::npos || colon == 0) {
    return Fail(error, url, std::string("has no scheme") + kSchemeHelp);
  }
  const std::string scheme = Lower(url.substr(0, colon));
  const bool has_slashes = url.compare(colon, 3, "://") == 0;
  TargetUrl target;
  if (scheme == "http" || scheme == "https") {
    if (!has_slashes || url.size() == colon + 3 || url[colon + 3] == '/' ||
        url[colon + 3] == '?') {
      return Fail(error, url, "has no host");
    }
    target.rest = url;
    return target;
  }
  if (scheme != "service") {
    return Fail(error, url,
                "unsupported scheme \"" + scheme + "\"" + kSchemeHelp);
  }
  if (!has_slashes) {
    return Fail(error, url,
                "service:// needs two slashes, as in "
                "service://<service>/<path>");
  }
  const size_t start = colon + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string::npos) end = url.size();
  target.service = url.substr(start, end - start);
  if (target.service.empty()) {
    return Fail(error, url, "names no service (service://<service>/<path>)");
  }
  for (char c : target.service) {
    if (!IsServiceNameChar(c)) {
      return Fail(error, url,
                  "service name \"" + target.service +
                      "\" may hold only letters, digits, '-', '_' and '.' "
                      "(no port: the resolver picks the instance)");
    }
  }
  // The fragment is the client's own: never sent.
  std::string rest = url.substr(end, url.find('#', end) - end);
  if (rest.empty() || rest[0] != '/') rest.insert(0, "/");
  target.rest = std::move(rest);
  return target;
}

std::string HostPort(const Endpoint& endpoint) {
  const bool ipv6 = endpoint.address.find(':') != std::string::npos &&
                    endpoint.address.front() != '[';
  std::string host = ipv6 ? "[" + endpoint.address + "]" : endpoint.address;
  return host + ":" + std::to_string(endpoint.port);
}

}  // namespace muster::client::internal
