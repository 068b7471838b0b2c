// musterctl token create|list|revoke against a real musterd: the secret
// is printed once (with a warning) and never again, not by list, not in
// the data dir or the daemon's log; revoked tokens stay listed; tokens
// survive a restart.

#include "muster/v1/tokens.pb.h"
#include "tests/e2e/cli/harness.h"
#include "tests/support/temp_dir.h"

namespace muster::e2e {
namespace {

using Fixture = DaemonFixture;

TEST_CASE_METHOD(Fixture, "token create shows the secret once, list never",
                 "[e2e][token]") {
  RunResult created =
      CtlRaw({"token", "create", "ci", "--role", "write", "--realm", "prod",
              "--realm", "staging", "--service", "api", "--expires-in", "24h"});
  INFO(created.err);
  REQUIRE(created.exit_code == 0);
  CHECK(Contains(created.err, "shown this once"));
  const std::vector<std::string> lines = SplitLines(created.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] ==
        "token \"ci\" created (role write, prod,staging, revision 2)");
  REQUIRE(lines[1].rfind("secret: mst_", 0) == 0);
  const std::string secret = lines[1].substr(8);
  CHECK(secret.size() == 47);

  const std::string table = Ctl({"token", "list"});
  CHECK(!Contains(table, secret));
  const std::vector<std::string> rows = SplitLines(table);
  REQUIRE(rows.size() == 2);
  CHECK(Words(rows[0]) ==
        std::vector<std::string>{"NAME", "ROLE", "SCOPE", "SERVICES", "EXPIRES",
                                 "CREATED", "CREATED", "BY", "STATE"});
  CHECK(Words(rows[1])[0] == "ci");
  CHECK(Words(rows[1])[1] == "write");
  CHECK(Words(rows[1])[2] == "prod,staging");
  CHECK(Words(rows[1])[3] == "api");
  CHECK(Words(rows[1]).back() == "live");

  const std::string json = Ctl({"token", "list", "-o", "json"});
  CHECK(!Contains(json, secret));
  const auto listed = ParseJson<v1::ListTokensResponse>(json);
  REQUIRE(listed.tokens_size() == 1);
  CHECK(listed.tokens(0).expires_at().seconds() > 0);

  // A second token, as JSON: the secret is in the response.
  RunResult ops = CtlRaw({"token", "create", "ops", "--role", "admin",
                          "--all-realms", "-o", "json"});
  REQUIRE(ops.exit_code == 0);
  const auto admin = ParseJson<v1::CreateTokenResponse>(ops.out);
  CHECK(admin.token().all_realms());
  CHECK(admin.secret().rfind("mst_", 0) == 0);

  // Neither secret reaches the disk: not the store, not the log.
  const std::string disk = testing::AllFileBytes(temp.path());
  CHECK(!Contains(disk, secret));
  CHECK(!Contains(disk, admin.secret()));
}

TEST_CASE_METHOD(Fixture, "token revoke keeps the token listed as revoked",
                 "[e2e][token]") {
  REQUIRE(CtlRaw({"token", "create", "ci", "--role", "read", "--realm", "prod"})
              .exit_code == 0);
  CHECK(Ctl({"token", "revoke", "ci"}) ==
        "token \"ci\" revoked (revision 3)\n");
  const std::vector<std::string> rows = SplitLines(Ctl({"token", "list"}));
  REQUIRE(rows.size() == 2);
  CHECK(Words(rows[1]).back() == "revoked");

  RunResult again =
      CtlRaw({"token", "create", "ci", "--role", "read", "--realm", "prod"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.rfind("musterctl: ALREADY_EXISTS: ", 0) == 0);
  CHECK(again.out.empty());
  RunResult missing = CtlRaw({"token", "revoke", "nobody"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.rfind("musterctl: NOT_FOUND: ", 0) == 0);

  // Stored: still there, still revoked after a restart.
  REQUIRE(daemon->Restart());
  const auto listed =
      ParseJson<v1::ListTokensResponse>(Ctl({"token", "list", "-o", "json"}));
  REQUIRE(listed.tokens_size() == 1);
  CHECK(listed.tokens(0).has_revoked_at());
}

TEST_CASE_METHOD(Fixture, "token create refuses bad input, naming the field",
                 "[e2e][token]") {
  RunResult usage = CtlRaw({"token", "create", "ci", "--role", "read"});
  CHECK(usage.exit_code == 2);
  CHECK(Contains(usage.err, "--realm (one or more) or --all-realms"));
  RunResult bad_realm =
      CtlRaw({"token", "create", "ci", "--role", "read", "--realm", "Prod"});
  CHECK(bad_realm.exit_code == 1);
  CHECK(bad_realm.err.rfind("musterctl: INVALID_ARGUMENT: realms[0]: ", 0) ==
        0);
  RunResult bad_name =
      CtlRaw({"token", "create", "CI", "--role", "read", "--all-realms"});
  CHECK(bad_name.exit_code == 1);
  CHECK(Contains(bad_name.err, "name: \"CI\" does not match"));
  CHECK(SplitLines(Ctl({"token", "list"})).size() == 1);
}

}  // namespace
}  // namespace muster::e2e
