#include "cli/token_source.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <string>

#include "cli/errors.h"

namespace muster::cli {
namespace {

// A fake environment.
GetEnv Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

// A file under a fresh directory, removed at the end.
class TokenFile final {
 public:
  explicit TokenFile(const std::string& content) {
    char dir[] = "/tmp/muster-token-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/token";
    std::ofstream(path_) << content;
  }
  ~TokenFile() {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace

TEST_CASE("The token comes from --token, --token-file, then the environment",
          "[token_source]") {
  TokenFile file("mst_from_file\n");
  const GetEnv env =
      Env({{"MUSTER_TOKEN", "mst_env"}, {"MUSTER_TOKEN_FILE", file.path()}});
  CHECK(*ResolveToken({"mst_flag", ""}, env) == "mst_flag");
  // A file's trailing newline is trimmed; a flag wins over the variables.
  CHECK(*ResolveToken({"", file.path()}, env) == "mst_from_file");
  CHECK(*ResolveToken({"", ""}, env) == "mst_env");
  CHECK(*ResolveToken({"", ""}, Env({{"MUSTER_TOKEN_FILE", file.path()}})) ==
        "mst_from_file");
  CHECK(ResolveToken({"", ""}, Env({}))->empty());
}

TEST_CASE("A bad token source is a usage error naming the flag",
          "[token_source]") {
  absl::StatusOr<std::string> missing =
      ResolveToken({"", "/nonexistent/muster-token"}, Env({}));
  REQUIRE_FALSE(missing.ok());
  CHECK(ExitCodeFor(missing.status()) == kExitUsage);
  CHECK_THAT(std::string(missing.status().message()),
             Catch::StartsWith("--token-file: cannot read "
                               "\"/nonexistent/muster-token\""));
  absl::StatusOr<std::string> from_env = ResolveToken(
      {"", ""}, Env({{"MUSTER_TOKEN_FILE", "/nonexistent/muster-token"}}));
  REQUIRE_FALSE(from_env.ok());
  CHECK_THAT(std::string(from_env.status().message()),
             Catch::StartsWith("MUSTER_TOKEN_FILE: cannot read"));
  TokenFile empty("\n");
  absl::StatusOr<std::string> blank = ResolveToken({"", empty.path()}, Env({}));
  REQUIRE_FALSE(blank.ok());
  CHECK_THAT(std::string(blank.status().message()),
             Catch::Contains("is empty"));
  absl::StatusOr<std::string> both = ResolveToken({"a", empty.path()}, Env({}));
  REQUIRE_FALSE(both.ok());
  CHECK(ExitCodeFor(both.status()) == kExitUsage);
}

}  // namespace muster::cli
