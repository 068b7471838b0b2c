#pragma once

// The URLs HttpClient takes: service://<service>/<path>?<query>, sent to
// an instance picked by the resolver, and http:// or https:// URLs, sent
// as they are. Pure functions; thread-safe.

#include <optional>
#include <string>

#include "muster/client/resolver.h"

namespace muster::client::internal {

struct TargetUrl {
  // The service of a service:// URL; empty for http:// and https://.
  std::string service;
  // service://: the path and query to send, starting with '/'
  // ("/users/42?full=1"); otherwise the whole URL.
  std::string rest;

  bool is_service() const { return !service.empty(); }
  // The URL of one try: http://<host_port><rest> for a service:// URL,
  // `rest` otherwise.
  std::string ForHost(const std::string& host_port) const;
};

// Parses `url`; std::nullopt with `*error` naming the problem ("url
// \"service:/x\": service:// needs two slashes, as in
// service://<service>/<path>", "unsupported scheme \"ftp\"", ...).
std::optional<TargetUrl> ParseTargetUrl(const std::string& url,
                                        std::string* error);

// "address:port", with brackets around an IPv6 literal.
std::string HostPort(const Endpoint& endpoint);

}  // namespace muster::client::internal
