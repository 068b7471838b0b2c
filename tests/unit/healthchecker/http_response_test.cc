#include "healthchecker/http_response.h"

#include <catch2/catch.hpp>
#include <string>

namespace muster::healthchecker {
namespace {

TEST_CASE("an http probe body is kept up to 4 KiB and says when it was cut",
          "[http_response]") {
  ProbeBody body;
  REQUIRE(body.Append(std::string(4000, 'a')) == 4000);
  REQUIRE_FALSE(body.truncated());
  // 96 bytes of room left: libcurl is told to stop by a short take.
  REQUIRE(body.Append(std::string(200, 'b')) == 96);
  REQUIRE(body.truncated());
  REQUIRE(body.bytes().size() == kMaxProbeBodyBytes);
  REQUIRE(body.bytes().substr(4000) == std::string(96, 'b'));

  ProbeBody exact;
  REQUIRE(exact.Append(std::string(kMaxProbeBodyBytes, 'c')) ==
          kMaxProbeBodyBytes);
  REQUIRE_FALSE(exact.truncated());
  REQUIRE(exact.Append("") == 0);
  REQUIRE_FALSE(exact.truncated());
}

TEST_CASE("an http status becomes a verdict and a one-screen output",
          "[http_response]") {
  REQUIRE(HttpResponseOutcome(200, "").result == ProbeResult::kSuccess);
  REQUIRE(HttpResponseOutcome(299, "").result == ProbeResult::kSuccess);
  REQUIRE(HttpResponseOutcome(429, "").result == ProbeResult::kWarning);
  REQUIRE(HttpResponseOutcome(199, "").result == ProbeResult::kFailure);
  REQUIRE(HttpResponseOutcome(300, "").result == ProbeResult::kFailure);
  REQUIRE(HttpResponseOutcome(503, "").result == ProbeResult::kFailure);

  REQUIRE(HttpResponseOutcome(204, "").output == "HTTP 204");
  REQUIRE(HttpResponseOutcome(503, "db down").output == "HTTP 503\ndb down");
  // Control bytes and invalid UTF-8 of a hostile body are made harmless.
  REQUIRE(HttpResponseOutcome(500, std::string("a\0\x1b[31m\xFF", 8)).output ==
          "HTTP 500\na  [31m?");
  // Status line and body together stay within the output cap.
  REQUIRE(HttpResponseOutcome(200, std::string(kMaxProbeBodyBytes, 'x'))
              .output.size() == kMaxProbeOutputBytes);
}

}  // namespace
}  // namespace muster::healthchecker
