// Check output is the target's text as musterd read it: musterctl shows
// it on one line (escaped by OneLine) in the `get` and `explain` views and
// in event reasons, and exactly as stored in -o json.

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/output.h"
#include "google/protobuf/util/json_util.h"
#include "tests/unit/cli/fake_daemon.h"

namespace muster::cli {
namespace {

constexpr char kRawOutput[] = "line1\nline2\r\x01";
constexpr char kShownOutput[] = R"("line1\nline2\r\x01")";

// web/w1, critical, whose last check said kRawOutput.
v1::Instance CriticalInstance() {
  v1::Instance i;
  i.set_realm("default");
  i.set_service("web");
  i.set_id("w1");
  i.set_address("10.0.0.1");
  i.set_port(8080);
  i.set_health(v1::HEALTH_CRITICAL);
  i.set_admin_state(v1::ADMIN_STATE_ENABLED);
  i.set_create_revision(42);
  i.mutable_check()->set_kind(v1::CHECK_KIND_HTTP);
  i.mutable_check()->set_http_url("http://10.0.0.1:8080/health");
  v1::HealthDetail& detail = *i.mutable_health_detail();
  detail.set_output(kRawOutput);
  detail.set_consecutive_failures(3);
  detail.mutable_last_checked_at()->set_seconds(1700000000 - 4);
  return i;
}

// The line of `text` that starts with `prefix`; fails when there is not
// exactly one.
std::string LineStartingWith(const std::string& text,
                             const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  }
  INFO(text);
  REQUIRE(found.size() == 1);
  return found.front();
}

TEST_CASE("OneLine escapes what would break or colour a line", "[output]") {
  CHECK(OneLine(kRawOutput) == R"(line1\nline2\r\x01)");
  CHECK(OneLine("HTTP 503\tslow") == R"(HTTP 503\tslow)");
  CHECK(OneLine(R"(C:\dir)") == R"(C:\\dir)");
  // ANSI sequences, DEL and C1 controls are shown, not obeyed.
  CHECK(OneLine("\x1b[2Jx\x7f") == R"(\x1b[2Jx\x7f)");
  CHECK(OneLine("a\xc2\x9b"
                "1m") == R"(a\xc2\x9b1m)");
  // Printable UTF-8 stays; bytes that are not UTF-8 are shown as bytes.
  CHECK(OneLine("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");
  CHECK(OneLine("bad \xff\xc3 end \xe2\x82") == R"(bad \xff\xc3 end \xe2\x82)");
  CHECK(OneLine("overlong \xc0\xaf") == R"(overlong \xc0\xaf)");
  CHECK(OneLine(std::string("nul\0", 4)) == R"(nul\x00)");
  CHECK(OneLine("").empty());
}

TEST_CASE("get and explain show check output on one line", "[commands]") {
  Harness h;
  h.registry.SetInstances({CriticalInstance()});
  Context ctx = h.MakeContext(Format::kTable);
  const InstanceRef ref{"web", "w1"};

  REQUIRE(RunGet(ctx, ref).ok());
  const std::string get = h.out.str();
  CHECK(get.find('\r') == std::string::npos);
  CHECK(get.find('\x01') == std::string::npos);
  CHECK(LineStartingWith(get, "Last check:") ==
        std::string("Last check:       4s ago: ") + kShownOutput);

  h.out.str("");
  REQUIRE(RunExplain(ctx, ref).ok());
  const std::string explain = h.out.str();
  CHECK(explain.find('\r') == std::string::npos);
  CHECK(explain.find('\x01') == std::string::npos);
  CHECK(LineStartingWith(explain, "Last check:") ==
        std::string("Last check:   4s ago: ") + kShownOutput +
            " (0 successes, 3 failures in a row)");
}

TEST_CASE("json output keeps check output exactly as stored", "[commands]") {
  Harness h;
  h.registry.SetInstances({CriticalInstance()});
  Context ctx = h.MakeContext(Format::kJson);
  const InstanceRef ref{"web", "w1"};

  REQUIRE(RunGet(ctx, ref).ok());
  v1::Instance parsed;
  REQUIRE(
      google::protobuf::util::JsonStringToMessage(h.out.str(), &parsed).ok());
  CHECK(parsed.health_detail().output() == kRawOutput);

  h.out.str("");
  REQUIRE(RunExplain(ctx, ref).ok());
  CHECK(h.out.str().find(R"("output": "line1\nline2\r\u0001")") !=
        std::string::npos);
}

TEST_CASE("an event reason quoting check output stays on one watch line",
          "[output]") {
  v1::Event event;
  event.set_revision(7);
  event.set_type(v1::Event::PUT);
  event.set_cause(v1::Event::HEALTH_CHANGED);
  *event.mutable_instance() = CriticalInstance();
  event.set_reason(std::string("PASSING -> CRITICAL: ") + kRawOutput);
  const std::string line = FormatEventLine(event, Colour::kOff);
  CHECK(line.find('\n') == std::string::npos);
  CHECK_THAT(line,
             Catch::EndsWith(R"(PASSING -> CRITICAL: line1\nline2\r\x01)"));
}

}  // namespace
}  // namespace muster::cli
