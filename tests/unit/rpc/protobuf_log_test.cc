// libprotobuf's complaints about bad requests go through muster's logger,
// one line each in its format, and no more than the rate limit allows;
// the dropped ones are counted and reported.

#include "rpc/protobuf_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "muster/v1/registry.pb.h"
#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"

namespace muster::registry {
namespace {

using muster::testing::FakeClock;

// Sends stderr to a file while it lives, then gives back what was written.
class CaptureStderr {
 public:
  explicit CaptureStderr(std::string path) : path_(std::move(path)) {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  std::vector<std::string> Finish() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    std::vector<std::string> lines;
    for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
      if (!line.empty()) lines.emplace_back(line);
    }
    return lines;
  }

 private:
  std::string path_;
  int saved_ = -1;
};

// A RegisterRequest whose realm (field 1) is not UTF-8: parsing it makes
// libprotobuf log an error.
std::string BadUtf8Request() { return std::string("\x0a\x02\xff\xfe", 4); }

TEST_CASE("protobuf log lines use muster's format and are rate-limited",
          "[protobuf_log]") {
  FakeClock clock;
  Metrics metrics;
  RouteProtobufLogs(clock, metrics, {2, absl::Seconds(60)});
  muster::testing::TempDir dir;
  CaptureStderr capture(dir.path() + "/stderr");
  for (int i = 0; i < 5; ++i) {
    muster::v1::RegisterRequest request;
    CHECK_FALSE(request.ParseFromString(BadUtf8Request()));
  }
  clock.Advance(absl::Seconds(60));
  muster::v1::RegisterRequest request;
  CHECK_FALSE(request.ParseFromString(BadUtf8Request()));
  const std::vector<std::string> lines = capture.Finish();
  RestoreProtobufLogs();

  REQUIRE(lines.size() == 3);
  for (const std::string& line : lines) {
    INFO(line);
    // "2026-11-28T04:05:06.123Z ERROR protobuf: String field ..."
    CHECK(line.size() > 25);
    CHECK(line[10] == 'T');
    CHECK(absl::StrContains(line, " ERROR protobuf: "));
    CHECK(absl::StrContains(line, "muster.v1.RegisterRequest.realm"));
    CHECK(absl::StrContains(line, "UTF-8"));
  }
  CHECK_FALSE(absl::StrContains(lines[1], "dropped"));
  CHECK(absl::StrContains(lines[2], "(3 earlier protobuf messages dropped"));
  CHECK(metrics.GetCounter("muster_protobuf_log_dropped_total", "").Value() ==
        3);
}

}  // namespace
}  // namespace muster::registry
