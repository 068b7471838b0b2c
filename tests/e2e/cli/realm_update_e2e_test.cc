// musterctl realm update against a real musterd: only the settings given
// change, and a command line that gives none is refused before sending.

#include "muster/v1/realm.pb.h"
#include "tests/e2e/cli/harness.h"

namespace muster::e2e {
namespace {

using Fixture = DaemonFixture;

TEST_CASE_METHOD(Fixture, "realm update changes only the settings given",
                 "[e2e]") {
  Ctl({"realm", "create", "prod", "--description", "production",
       "--eviction-protection-share", "0.3", "--default-deregister-after",
       "30m"});
  const auto created =
      ParseJson<v1::Realm>(Ctl({"realm", "get", "prod", "-o", "json"}));

  std::string updated =
      Ctl({"realm", "update", "prod", "--description", "production, eu-1"});
  CHECK(Contains(updated, "Description:                production, eu-1\n"));
  CHECK(Contains(updated, "Eviction protection share:  0.3\n"));

  CHECK(updated.rfind("Name:                       prod\n", 0) == 0);
  std::string get = Ctl({"realm", "get", "prod"});
  CHECK(Contains(get, "Eviction protection share:  0.3\n"));
  CHECK(Contains(get, "Default deregister-after:   30m\n"));
  auto realm =
      ParseJson<v1::Realm>(Ctl({"realm", "get", "prod", "-o", "json"}));
  CHECK(realm.settings().description() == "production, eu-1");
  CHECK(realm.settings().eviction_protection_share() == 0.3);
  CHECK(realm.settings().default_deregister_after().seconds() == 1800);
  CHECK(realm.modify_revision() > created.modify_revision());

  // "default" resets one setting and keeps the others.
  realm = ParseJson<v1::Realm>(
      Ctl({"realm", "update", "prod", "--eviction-protection-share", "default",
           "-o", "json"}));
  CHECK(realm.settings().eviction_protection_share() == 0);
  CHECK(realm.settings().description() == "production, eu-1");
  CHECK(realm.settings().default_deregister_after().seconds() == 1800);
  CHECK(Contains(Ctl({"realm", "get", "prod"}),
                 "Eviction protection share:  daemon default (0.5)\n"));
}

TEST_CASE_METHOD(Fixture, "realm update needs a setting and an existing realm",
                 "[e2e]") {
  RunResult nothing = CtlRaw({"realm", "update", "default"});
  CHECK(nothing.exit_code == 2);
  CHECK(Contains(nothing.err, "give at least one setting to change"));
  CHECK(nothing.out.empty());

  RunResult missing =
      CtlRaw({"realm", "update", "missing", "--description", "x"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.rfind("musterctl: NOT_FOUND: ", 0) == 0);
}

}  // namespace
}  // namespace muster::e2e
