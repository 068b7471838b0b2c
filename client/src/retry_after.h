#pragma once

// Parsing of the Retry-After response header (RFC 9110 section 10.2.3):
// delta-seconds ("120") or an HTTP-date. Pure functions; thread-safe.

#include <chrono>
#include <optional>
#include <string_view>

namespace muster::client::internal {

// An HTTP-date in any of the three forms recipients must accept:
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday,
// 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").
// std::nullopt for anything else, an impossible date included.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(
    std::string_view text);

// How long `value` asks the client to wait. A date is measured from
// `now` (the response's Date when it has one, so that clock skew between
// the hosts does not count); a date in the past is a zero wait.
// std::nullopt when `value` is neither form.
std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now);

}  // namespace muster::client::internal
