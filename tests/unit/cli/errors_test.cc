#include "cli/errors.h"

#include <catch2/catch.hpp>

#include "absl/status/statusor.h"

namespace muster::cli {
namespace {

TEST_CASE("Exit codes: 0 ok, 1 server, 2 usage, 3 unreachable", "[errors]") {
  CHECK(ExitCodeFor(absl::OkStatus()) == 0);
  CHECK(ExitCodeFor(UsageError("--port: bad")) == 2);
  CHECK(ExitCodeFor(UnreachableError("127.0.0.1:7400", "refused")) == 3);
  // Whatever the daemon answers is exit 1, even the codes that resemble
  // the local classes: INVALID_ARGUMENT is the daemon's validation and
  // UNAVAILABLE from a connected daemon is its store failing.
  for (absl::StatusCode code :
       {absl::StatusCode::kNotFound, absl::StatusCode::kInvalidArgument,
        absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kAlreadyExists,
        absl::StatusCode::kInternal, absl::StatusCode::kOutOfRange}) {
    absl::Status server(code, "from the daemon");
    INFO(server.ToString());
    CHECK(ExitCodeFor(server) == 1);
    CHECK(ClassOf(server) == ErrorClass::kServer);
  }
}

TEST_CASE("Error lines name the code only for server errors", "[errors]") {
  CHECK(ErrorLine(absl::NotFoundError(
            "instance \"web-3\" not found in service \"web\" (realm "
            "\"prod\")")) ==
        "musterctl: NOT_FOUND: instance \"web-3\" not found in service "
        "\"web\" (realm \"prod\")");
  CHECK(ErrorLine(UsageError("--port: want an integer in 1..65535, got "
                             "\"x\"")) ==
        "musterctl: --port: want an integer in 1..65535, got \"x\"");
  std::string unreachable =
      ErrorLine(UnreachableError("127.0.0.1:7400", "UNAVAILABLE: refused"));
  CHECK(unreachable.rfind("musterctl: cannot reach musterd at "
                          "127.0.0.1:7400 (UNAVAILABLE: refused)",
                          0) == 0);
}

TEST_CASE("A copied or moved status keeps its class", "[errors]") {
  absl::Status usage = UsageError("x");
  absl::Status copy = usage;
  CHECK(ClassOf(copy) == ErrorClass::kUsage);
  absl::StatusOr<int> wrapped = UnreachableError("a:1", "b");
  CHECK(ClassOf(wrapped.status()) == ErrorClass::kUnreachable);
}

}  // namespace
}  // namespace muster::cli
