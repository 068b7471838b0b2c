// musterd's flag values: sizes.

#include "daemon/daemon_options.h"

#include <catch2/catch.hpp>
#include <string>

namespace muster::registry {

TEST_CASE("sizes take bytes, KiB, MiB and GiB", "[daemon]") {
  CHECK(*ParseByteSize("--f", "1") == 1);
  CHECK(*ParseByteSize("--f", "4096") == 4096);
  CHECK(*ParseByteSize("--f", "16KiB") == 16 * 1024);
  CHECK(*ParseByteSize("--f", "64MiB") == 64ull * 1024 * 1024);
  CHECK(*ParseByteSize("--f", "2GiB") == 2ull * 1024 * 1024 * 1024);
  CHECK(*ParseByteSize("--f", "1024GiB") == 1ull << 40);
}

TEST_CASE("a bad size names the flag and the rule", "[daemon]") {
  for (const std::string bad :
       {"", "0", "0MiB", "MiB", "-1", "1.5MiB", "10MB", "10 MiB", "1025GiB",
        "99999999999999999999", "12kib"}) {
    INFO(bad);
    absl::StatusOr<uint64_t> size = ParseByteSize("--watch-memory-limit", bad);
    REQUIRE(absl::IsInvalidArgument(size.status()));
    CHECK_THAT(std::string(size.status().message()),
               Catch::StartsWith("--watch-memory-limit: \"" + bad + "\"") &&
                   Catch::Contains("1TiB"));
  }
}

TEST_CASE("one watcher's budget may not exceed the total", "[daemon]") {
  DaemonOptions options;
  options.watch_buffer_bytes = "1GiB";
  options.watch_memory_limit = "512MiB";
  absl::Status status = ValidateDaemonOptions(options);
  CHECK(absl::IsInvalidArgument(status));
  CHECK_THAT(std::string(status.message()),
             Catch::Contains("--watch-buffer-bytes"));
  options.watch_buffer_bytes = "16MiB";
  CHECK(ValidateDaemonOptions(options).ok());
}

}  // namespace muster::registry

namespace muster::registry {

TEST_CASE("the watch progress interval is a duration from 100ms to 1h",
          "[daemon]") {
  DaemonOptions options;
  absl::StatusOr<absl::Duration> interval = ParseWatchProgressInterval(options);
  REQUIRE(interval.ok());
  CHECK(*interval == absl::Seconds(10));
  options.watch_progress_interval = "250ms";
  interval = ParseWatchProgressInterval(options);
  REQUIRE(interval.ok());
  CHECK(*interval == absl::Milliseconds(250));
  for (const char* bad : {"50ms", "2h", "0", "-1s", "soon"}) {
    CAPTURE(bad);
    options.watch_progress_interval = bad;
    const absl::Status status = ValidateDaemonOptions(options);
    REQUIRE(absl::IsInvalidArgument(status));
    CHECK(status.message().find("--watch-progress-interval") == 0);
  }
}

}  // namespace muster::registry
