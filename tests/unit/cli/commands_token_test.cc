// `token create|list|revoke` against an in-process fake Tokens service on
// 127.0.0.1:0: the parsed flags, the request sent, the usage errors (sent
// nothing), and the output (the secret once, the list's states).

#include <catch2/catch.hpp>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/app.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/run.h"
#include "muster/v1/tokens.grpc.pb.h"
#include "tests/unit/cli/loopback_server.h"

namespace muster::cli {
namespace {

constexpr int64_t kNow = 1700000000;

// Records CreateToken requests and answers a fixed secret; lists three
// tokens (live, expired, revoked). Thread-safe.
class FakeTokens final : public v1::Tokens::Service {
 public:
  grpc::Status CreateToken(grpc::ServerContext*,
                           const v1::CreateTokenRequest* request,
                           v1::CreateTokenResponse* response) override {
    absl::MutexLock lock(&mu_);
    creates_.push_back(*request);
    v1::Token& token = *response->mutable_token();
    token.set_name(request->name());
    token.set_role(request->role());
    token.set_all_realms(request->all_realms());
    *token.mutable_realms() = request->realms();
    response->set_secret("mst_fake-secret");
    response->set_revision(7);
    return grpc::Status::OK;
  }
  grpc::Status ListTokens(grpc::ServerContext*, const v1::ListTokensRequest*,
                          v1::ListTokensResponse* response) override {
    v1::Token* live = response->add_tokens();
    live->set_name("ci");
    live->set_role(v1::TOKEN_ROLE_WRITE);
    live->add_realms("dev");
    live->add_realms("prod");
    live->add_services("api");
    live->mutable_expires_at()->set_seconds(kNow + 3600);
    live->mutable_created_at()->set_seconds(kNow - 7200);
    live->set_created_by("token:root");
    v1::Token* expired = response->add_tokens();
    expired->set_name("old");
    expired->set_role(v1::TOKEN_ROLE_READ);
    expired->set_all_realms(true);
    expired->mutable_expires_at()->set_seconds(kNow - 1);
    expired->mutable_created_at()->set_seconds(kNow - 86400);
    v1::Token* revoked = response->add_tokens();
    revoked->set_name("root");
    revoked->set_role(v1::TOKEN_ROLE_ADMIN);
    revoked->set_all_realms(true);
    revoked->mutable_revoked_at()->set_seconds(kNow - 60);
    revoked->set_created_by("bootstrap");
    return grpc::Status::OK;
  }
  grpc::Status RevokeToken(grpc::ServerContext*,
                           const v1::RevokeTokenRequest* request,
                           v1::RevokeTokenResponse* response) override {
    if (request->name() != "ci") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "token \"" + request->name() + "\" not found");
    }
    response->set_revision(9);
    return grpc::Status::OK;
  }

  std::vector<v1::CreateTokenRequest> creates() {
    absl::MutexLock lock(&mu_);
    return creates_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::CreateTokenRequest> creates_ ABSL_GUARDED_BY(mu_);
};

class TokenHarness {
 public:
  // Parses and runs a musterctl command line against the fake.
  absl::Status Run(std::vector<std::string> args) {
    std::vector<std::string> full = {"musterctl", "--addr", server_.address()};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const std::string& arg : full) argv.push_back(arg.c_str());
    CommandLine command_line;
    std::ostringstream parse_out;
    std::ostringstream parse_err;
    std::optional<int> exit = command_line.Parse(
        static_cast<int>(argv.size()), argv.data(), parse_out, parse_err);
    if (exit.has_value()) return UsageError(parse_err.str());
    Environment env{out, err, Colour::kOff,
                    [] { return absl::FromUnixSeconds(kNow); },
                    [](absl::Duration) {}};
    return cli::Run(command_line.invocation(), command_line, env);
  }

  FakeTokens tokens;
  std::ostringstream out;
  std::ostringstream err;

 private:
  LoopbackServer server_{&tokens};
};

TEST_CASE("token create sends the scope and prints the secret once",
          "[commands][token]") {
  TokenHarness h;
  absl::Status s =
      h.Run({"token", "create", "ci", "--role", "write", "--realm", "prod",
             "--realm", "dev", "--service", "api", "--expires-in", "24h"});
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::vector<v1::CreateTokenRequest> creates = h.tokens.creates();
  REQUIRE(creates.size() == 1);
  CHECK(creates[0].name() == "ci");
  CHECK(creates[0].role() == v1::TOKEN_ROLE_WRITE);
  CHECK(std::vector<std::string>(creates[0].realms().begin(),
                                 creates[0].realms().end()) ==
        std::vector<std::string>{"prod", "dev"});
  CHECK(creates[0].services(0) == "api");
  CHECK(!creates[0].all_realms());
  CHECK(creates[0].expires_at().seconds() == kNow + 86400);
  CHECK(h.out.str() ==
        "token \"ci\" created (role write, prod,dev, revision 7)\n"
        "secret: mst_fake-secret\n");
  CHECK(absl::StrContains(h.err.str(), "shown this once"));
}

TEST_CASE("token create --all-realms --expires-at -o json",
          "[commands][token]") {
  TokenHarness h;
  REQUIRE(h.Run({"-o", "json", "token", "create", "ops", "--role", "admin",
                 "--all-realms", "--expires-at", "2030-01-31T18:00:00Z"})
              .ok());
  std::vector<v1::CreateTokenRequest> creates = h.tokens.creates();
  REQUIRE(creates.size() == 1);
  CHECK(creates[0].all_realms());
  CHECK(creates[0].realms_size() == 0);
  CHECK(creates[0].expires_at().seconds() == 1896112800);
  CHECK(absl::StrContains(h.out.str(), "\"secret\": \"mst_fake-secret\""));
}

TEST_CASE("token create refuses bad flags before sending",
          "[commands][token]") {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"token", "create", "x", "--role", "root", "--realm", "a"},
       "musterctl: --role: must be read, write or admin"},
      {{"token", "create", "x", "--role", "read"},
       "musterctl: token create: give --realm (one or more) or --all-realms, "
       "not both"},
      {{"token", "create", "x", "--role", "read", "--realm", "a",
        "--all-realms"},
       "musterctl: token create: give --realm (one or more) or --all-realms, "
       "not both"},
      {{"token", "create", "x", "--role", "read", "--realm", "a", "--service",
        "api"},
       "musterctl: --service: only a write token may be limited to services"},
      {{"token", "create", "x", "--role", "read", "--realm", "a",
        "--expires-in", "1h", "--expires-at", "2030-01-01T00:00:00Z"},
       "musterctl: token create: give --expires-in or --expires-at, not both"},
      {{"token", "create", "x", "--role", "read", "--realm", "a",
        "--expires-at", "tomorrow"},
       "musterctl: --expires-at: \"tomorrow\" is not an RFC 3339 time such as "
       "2030-01-31T18:00:00Z"},
      {{"token", "create", "x", "--role", "read", "--realm", "a",
        "--expires-in", "soon"},
       "musterctl: --expires-in: "},
  };
  for (const Case& c : cases) {
    TokenHarness h;
    absl::Status s = h.Run(c.args);
    INFO(ErrorLine(s));
    CHECK(ExitCodeFor(s) == kExitUsage);
    CHECK(absl::StartsWith(ErrorLine(s), c.error));
    CHECK(h.tokens.creates().empty());
  }
}

TEST_CASE("token list shows role, scope, expiry, creator and state",
          "[commands][token]") {
  TokenHarness h;
  REQUIRE(h.Run({"token", "list"}).ok());
  const std::string out = h.out.str();
  INFO(out);
  CHECK(absl::StartsWith(out, "NAME"));
  CHECK(absl::StrContains(out, "CREATED BY"));
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 4);
  CHECK(absl::StrContains(lines[1], "ci"));
  CHECK(absl::StrContains(lines[1], "write"));
  CHECK(absl::StrContains(lines[1], "dev,prod"));
  CHECK(absl::StrContains(lines[1], "api"));
  CHECK(absl::StrContains(lines[1], "(in 1h)"));
  CHECK(absl::StrContains(lines[1], "token:root"));
  CHECK(absl::EndsWith(lines[1], "live"));
  CHECK(absl::StrContains(lines[2], "all realms"));
  CHECK(absl::EndsWith(lines[2], "expired"));
  CHECK(absl::StrContains(lines[3], "never"));
  CHECK(absl::EndsWith(lines[3], "revoked"));
}

TEST_CASE("token revoke", "[commands][token]") {
  TokenHarness h;
  REQUIRE(h.Run({"token", "revoke", "ci"}).ok());
  CHECK(h.out.str() == "token \"ci\" revoked (revision 9)\n");
  absl::Status missing = h.Run({"token", "revoke", "nobody"});
  CHECK(absl::IsNotFound(missing));
}

}  // namespace
}  // namespace muster::cli
