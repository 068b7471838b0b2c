// The Tokens part of the registry on a MemoryStore and a FakeClock:
// create, list, revoke, expiry, authenticate, authorize, validation, and
// what survives a restart (the token) and what never reaches the store
// (its secret).

#include "registry/tokens.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "common/secret.h"
#include "registry/registry.h"
#include "store/memory/memory_store.h"
#include "tests/support/await.h"
#include "tests/support/fake_clock.h"

namespace muster::registry {
namespace {

using muster::testing::Await;
using muster::testing::AwaitStatus;

using muster::testing::FakeClock;

Tokens::Spec Spec(std::string name, TokenRole role,
                  std::vector<std::string> realms) {
  Tokens::Spec spec;
  spec.name = std::move(name);
  spec.role = role;
  spec.realms = std::move(realms);
  return spec;
}

// A registry over `store` (shared, so a second one can reload it).
struct Fixture {
  explicit Fixture(MemoryStore& store) : store(store) {
    auto created = Registry::Create({}, store, clock, metrics);
    REQUIRE(created.ok());
    registry = std::move(created).value();
    REQUIRE(registry->Start().ok());
  }
  Tokens& tokens() { return registry->tokens(); }

  absl::StatusOr<Tokens::Created> Create(Tokens::Spec spec,
                                         std::string actor = "token:root") {
    return Await<Tokens::Created>([&](auto done) {
      tokens().Create(std::move(spec), actor, std::move(done));
    });
  }
  Tokens::Created MustCreate(Tokens::Spec spec) {
    absl::StatusOr<Tokens::Created> created = Create(std::move(spec));
    INFO(created.status().ToString());
    REQUIRE(created.ok());
    return *std::move(created);
  }
  absl::StatusOr<uint64_t> Revoke(std::string name) {
    return Await<uint64_t>([&](auto done) {
      tokens().Revoke(std::move(name), "token:root", std::move(done));
    });
  }

  MemoryStore& store;
  FakeClock clock;
  Metrics metrics;
  std::unique_ptr<Registry> registry;
};

TEST_CASE("Tokens: create answers a fresh secret and stores only its hash",
          "[tokens]") {
  MemoryStore store;
  Fixture f(store);
  Tokens::Created created =
      f.MustCreate(Spec("ci", TokenRole::kWrite, {"prod", "dev", "prod"}));
  CHECK(absl::StartsWith(created.secret, "mst_"));
  CHECK(created.secret.size() == 47);
  CHECK(created.token.name == "ci");
  CHECK(created.token.realms == std::vector<std::string>{"dev", "prod"});
  CHECK(created.token.created_by == "token:root");
  CHECK(created.token.created_at == f.clock.Now());
  CHECK(created.token.secret_hash == SecretHash(created.secret));
  CHECK(created.revision > 0);
  CHECK(created.token.create_revision == created.revision);

  Tokens::Created other = f.MustCreate(Spec("ci2", TokenRole::kRead, {"dev"}));
  CHECK(other.secret != created.secret);

  std::vector<Token> listed = f.tokens().List();
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].name == "ci");
  CHECK(listed[1].name == "ci2");
  CHECK(f.tokens().CountLive(f.clock.Now()) == 2);
}

TEST_CASE("Tokens: authenticate finds the token by its secret", "[tokens]") {
  MemoryStore store;
  Fixture f(store);
  Tokens::Created created = f.MustCreate(Spec("ci", TokenRole::kRead, {"a"}));
  auto token = f.tokens().Authenticate(created.secret, f.clock.Now());
  REQUIRE(token.ok());
  CHECK((*token)->name == "ci");

  auto unknown = f.tokens().Authenticate(created.secret + "x", f.clock.Now());
  CHECK(absl::IsUnauthenticated(unknown.status()));
  CHECK(unknown.status().message() == "unknown token");
  CHECK(!absl::StrContains(unknown.status().message(), created.secret));
  CHECK(absl::IsUnauthenticated(
      f.tokens().Authenticate("", f.clock.Now()).status()));
}

TEST_CASE("Tokens: an expired token is refused, and counted as not live",
          "[tokens]") {
  MemoryStore store;
  Fixture f(store);
  Tokens::Spec spec = Spec("short", TokenRole::kRead, {"a"});
  spec.expires_at = f.clock.Now() + absl::Hours(1);
  Tokens::Created created = f.MustCreate(spec);
  REQUIRE(f.tokens().Authenticate(created.secret, f.clock.Now()).ok());
  f.clock.Advance(absl::Hours(1));
  auto expired = f.tokens().Authenticate(created.secret, f.clock.Now());
  CHECK(absl::IsUnauthenticated(expired.status()));
  CHECK(absl::StrContains(expired.status().message(), "expired"));
  CHECK(f.tokens().CountLive(f.clock.Now()) == 0);
  CHECK(f.tokens().List().size() == 1);
}

TEST_CASE(
    "Tokens: revoke refuses the token, keeps it listed and its name "
    "taken",
    "[tokens]") {
  MemoryStore store;
  Fixture f(store);
  Tokens::Created created = f.MustCreate(Spec("ci", TokenRole::kRead, {"a"}));
  f.clock.Advance(absl::Minutes(5));
  absl::StatusOr<uint64_t> revoked = f.Revoke("ci");
  REQUIRE(revoked.ok());
  CHECK(*revoked > created.revision);

  auto refused = f.tokens().Authenticate(created.secret, f.clock.Now());
  CHECK(absl::IsUnauthenticated(refused.status()));
  CHECK(absl::StrContains(refused.status().message(), "revoked"));

  absl::StatusOr<Token> listed = f.tokens().Get("ci");
  REQUIRE(listed.ok());
  REQUIRE(listed->revoked_at.has_value());
  CHECK(*listed->revoked_at == f.clock.Now());
  CHECK(listed->revoked_by == "token:root");
  CHECK(listed->modify_revision == *revoked);
  CHECK(f.tokens().CountLive(f.clock.Now()) == 0);

  // Again: OK, nothing written, the first revocation's revision.
  absl::StatusOr<uint64_t> again = f.Revoke("ci");
  REQUIRE(again.ok());
  CHECK(*again == *revoked);

  auto reused = f.Create(Spec("ci", TokenRole::kRead, {"a"}));
  CHECK(absl::IsAlreadyExists(reused.status()));
  CHECK(absl::IsNotFound(f.Revoke("nobody").status()));
}

TEST_CASE("Tokens: a taken name is ALREADY_EXISTS, also within one group",
          "[tokens]") {
  MemoryStore store;
  Fixture f(store);
  f.MustCreate(Spec("ci", TokenRole::kRead, {"a"}));
  auto again = f.Create(Spec("ci", TokenRole::kAdmin, {"b"}));
  CHECK(absl::IsAlreadyExists(again.status()));
  CHECK(again.status().message() ==
        "token \"ci\" already exists (names of revoked tokens stay taken)");

  // Two creates queued together: the committer may group them; the
  // second must see the first.
  absl::Notification first_done, second_done;
  absl::StatusOr<Tokens::Created> first = absl::UnknownError("");
  absl::StatusOr<Tokens::Created> second = absl::UnknownError("");
  f.tokens().Create(Spec("twin", TokenRole::kRead, {"a"}), "x",
                    [&](absl::StatusOr<Tokens::Created> r) {
                      first = std::move(r);
                      first_done.Notify();
                    });
  f.tokens().Create(Spec("twin", TokenRole::kRead, {"a"}), "x",
                    [&](absl::StatusOr<Tokens::Created> r) {
                      second = std::move(r);
                      second_done.Notify();
                    });
  first_done.WaitForNotification();
  second_done.WaitForNotification();
  CHECK(first.ok());
  CHECK(absl::IsAlreadyExists(second.status()));
}

TEST_CASE("Tokens: invalid specs name the field and store nothing",
          "[tokens]") {
  MemoryStore store;
  Fixture f(store);
  struct Case {
    Tokens::Spec spec;
    std::string message;
  };
  Tokens::Spec all_and_some = Spec("x", TokenRole::kRead, {"a"});
  all_and_some.all_realms = true;
  Tokens::Spec services_on_read = Spec("x", TokenRole::kRead, {"a"});
  services_on_read.services = {"api"};
  Tokens::Spec bad_service = Spec("x", TokenRole::kWrite, {"a"});
  bad_service.services = {"Api"};
  Tokens::Spec past = Spec("x", TokenRole::kRead, {"a"});
  past.expires_at = f.clock.Now() - absl::Seconds(1);
  Tokens::Spec too_many = Spec("x", TokenRole::kRead, {});
  for (int i = 0; i < 65; ++i)
    too_many.realms.push_back("r" + std::to_string(i));
  const std::vector<Case> cases = {
      {Spec("", TokenRole::kRead, {"a"}), "name: is required"},
      {Spec("Ci", TokenRole::kRead, {"a"}),
       "name: \"Ci\" does not match [a-z0-9][a-z0-9._-]{0,62}"},
      {Spec(".ci", TokenRole::kRead, {"a"}), "name: \".ci\" does not match"},
      {Spec(std::string(64, 'a'), TokenRole::kRead, {"a"}), "name: "},
      {Spec("ci", static_cast<TokenRole>(7), {"a"}), "role: "},
      {Spec("x", TokenRole::kRead, {}), "realms: name at least one realm"},
      {all_and_some, "realms: must be empty when all_realms is set"},
      {Spec("x", TokenRole::kRead, {"ok", "ok2", "Bad"}), "realms[2]: "},
      {services_on_read, "services: only a write token"},
      {bad_service, "services[0]: "},
      {past, "expires_at: "},
      {too_many, "realms: 65 names; at most 64 allowed"},
  };
  for (const Case& c : cases) {
    auto created = f.Create(c.spec);
    INFO(c.message << " / " << created.status().ToString());
    CHECK(absl::IsInvalidArgument(created.status()));
    CHECK(absl::StartsWith(created.status().message(), c.message));
  }
  // Names may use dots, underscores and dashes after the first character.
  f.MustCreate(Spec("ci.deploy_bot-1", TokenRole::kRead, {"a"}));
  CHECK(f.tokens().List().size() == 1);
  CHECK(store.TEST_TokenRecords().size() == 1);
}

TEST_CASE("Tokens: CreateWithSecret takes the operator's secret", "[tokens]") {
  MemoryStore store;
  Fixture f(store);
  Tokens::Spec spec = Spec("root", TokenRole::kAdmin, {});
  spec.all_realms = true;
  const std::string secret(40, 'k');
  auto create = [&](Tokens::Spec s, std::string chosen) {
    return Await<Tokens::Created>([&](auto done) {
      f.tokens().CreateWithSecret(std::move(s), std::move(chosen), "bootstrap",
                                  std::move(done));
    });
  };
  auto short_secret = create(spec, std::string(31, 'k'));
  CHECK(absl::IsInvalidArgument(short_secret.status()));
  CHECK(absl::StartsWith(short_secret.status().message(), "secret: 31 bytes"));
  auto control = create(spec, std::string(35, 'k') + "\n");
  CHECK(absl::IsInvalidArgument(control.status()));
  CHECK(absl::StartsWith(control.status().message(), "secret: byte 35"));

  auto created = create(spec, secret);
  REQUIRE(created.ok());
  CHECK(created->secret == secret);
  CHECK(created->token.created_by == "bootstrap");
  auto token = f.tokens().Authenticate(secret, f.clock.Now());
  REQUIRE(token.ok());
  CHECK((*token)->name == "root");

  // The same secret for another token would make Authenticate ambiguous.
  Tokens::Spec copy = spec;
  copy.name = "root2";
  CHECK(absl::IsAlreadyExists(create(copy, secret).status()));
}

TEST_CASE("Tokens: a reloaded registry has the tokens and never the secret",
          "[tokens]") {
  MemoryStore store;
  std::string secret;
  uint64_t revision = 0;
  {
    Fixture f(store);
    Tokens::Spec spec = Spec("ci", TokenRole::kWrite, {"prod"});
    spec.services = {"api"};
    spec.expires_at = f.clock.Now() + absl::Hours(24);
    Tokens::Created created = f.MustCreate(spec);
    secret = created.secret;
    f.MustCreate(Spec("gone", TokenRole::kRead, {"prod"}));
    revision = *f.Revoke("gone");
    f.registry->Stop();
  }
  for (const auto& [key, value] : store.TEST_TokenRecords()) {
    INFO(key);
    CHECK(!absl::StrContains(key, secret));
    CHECK(!absl::StrContains(value, secret));
    // Not the random part alone either.
    CHECK(!absl::StrContains(value, secret.substr(4)));
  }
  CHECK(absl::StrContains(store.TEST_TokenRecords().at("token/ci"),
                          SecretHash(secret)));

  Fixture reloaded(store);
  auto token = reloaded.tokens().Authenticate(secret, reloaded.clock.Now());
  REQUIRE(token.ok());
  CHECK((*token)->name == "ci");
  CHECK((*token)->services == std::vector<std::string>{"api"});
  CHECK((*token)->expires_at == reloaded.clock.Now() + absl::Hours(24));
  absl::StatusOr<Token> gone = reloaded.tokens().Get("gone");
  REQUIRE(gone.ok());
  CHECK(gone->revoked_at.has_value());
  CHECK(gone->modify_revision == revision);
  CHECK(reloaded.tokens().CountLive(reloaded.clock.Now()) == 1);
}

TEST_CASE("Tokens: a write that fails leaves no token behind", "[tokens]") {
  MemoryStore store;
  Fixture f(store);
  store.TEST_FailCommits(true);
  auto created = f.Create(Spec("ci", TokenRole::kRead, {"a"}));
  CHECK(absl::IsUnavailable(created.status()));
  CHECK(f.tokens().List().empty());
  store.TEST_FailCommits(false);
}

Token MakeToken(TokenRole role, std::vector<std::string> realms,
                std::vector<std::string> services = {}) {
  Token token;
  token.name = "ci";
  token.role = role;
  token.realms = std::move(realms);
  token.services = std::move(services);
  return token;
}

TEST_CASE("TokenCovers: role order and realm scope", "[tokens]") {
  const Token read = MakeToken(TokenRole::kRead, {"a", "c"});
  CHECK(TokenCovers(read, TokenRole::kRead, "a"));
  CHECK(TokenCovers(read, TokenRole::kRead, "c"));
  CHECK(!TokenCovers(read, TokenRole::kRead, "b"));
  CHECK(!TokenCovers(read, TokenRole::kWrite, "a"));
  const Token admin = MakeToken(TokenRole::kAdmin, {"a"});
  CHECK(TokenCovers(admin, TokenRole::kRead, "a"));
  CHECK(TokenCovers(admin, TokenRole::kWrite, "a"));
  CHECK(TokenCovers(admin, TokenRole::kAdmin, "a"));
  Token all = MakeToken(TokenRole::kWrite, {});
  all.all_realms = true;
  CHECK(TokenCovers(all, TokenRole::kWrite, "anything"));
  CHECK(!TokenCovers(all, TokenRole::kAdmin, "anything"));
}

TEST_CASE("TokenAuthorize: PERMISSION_DENIED names realm, service and role",
          "[tokens]") {
  const Token read = MakeToken(TokenRole::kRead, {"staging"});
  absl::Status denied =
      TokenAuthorize(read, TokenRole::kWrite, "production", "");
  CHECK(absl::IsPermissionDenied(denied));
  CHECK(denied.message() ==
        "token \"ci\" may not write in realm \"production\": needs role write");
  CHECK(TokenAuthorize(read, TokenRole::kWrite, "staging", "api").message() ==
        "token \"ci\" may not write in realm \"staging\": needs role write");
  CHECK(TokenAuthorize(read, TokenRole::kRead, "staging", "").ok());
  CHECK(TokenAuthorize(read, TokenRole::kAdmin, "staging", "").message() ==
        "token \"ci\" may not administer in realm \"staging\": needs role "
        "admin");

  const Token limited = MakeToken(TokenRole::kWrite, {"prod"}, {"api", "web"});
  CHECK(TokenAuthorize(limited, TokenRole::kWrite, "prod", "api").ok());
  CHECK(TokenAuthorize(limited, TokenRole::kRead, "prod", "billing").ok());
  CHECK(TokenAuthorize(limited, TokenRole::kRead, "prod", "").ok());
  absl::Status other =
      TokenAuthorize(limited, TokenRole::kWrite, "prod", "billing");
  CHECK(absl::IsPermissionDenied(other));
  CHECK(other.message() ==
        "token \"ci\" may not write service \"billing\" in realm \"prod\": "
        "needs role write for service \"billing\"");
  absl::Status realm_wide =
      TokenAuthorize(limited, TokenRole::kWrite, "prod", "");
  CHECK(absl::IsPermissionDenied(realm_wide));
  CHECK(realm_wide.message() ==
        "token \"ci\" may not write in realm \"prod\" beyond services api, "
        "web: needs role write for the whole realm");
}

TEST_CASE("Token roles: names parse both ways", "[tokens]") {
  for (TokenRole role :
       {TokenRole::kRead, TokenRole::kWrite, TokenRole::kAdmin}) {
    auto parsed = ParseTokenRole("role", TokenRoleName(role));
    REQUIRE(parsed.ok());
    CHECK(*parsed == role);
  }
  auto bad = ParseTokenRole("--role", "root");
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(bad.status().message() == "--role: must be read, write or admin");
}

TEST_CASE("Secrets: 256 random bits, base64url, hashed as hex SHA-256",
          "[tokens]") {
  absl::StatusOr<std::string> a = NewSecret();
  absl::StatusOr<std::string> b = NewSecret();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  CHECK(a->size() == 4 + 43);
  CHECK(a->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                             "VWXYZ0123456789-_",
                             4) == std::string::npos);
  // The known answer of SHA-256("abc").
  CHECK(SecretHash("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK(!ConstantTimeEquals("abc", "abd"));
  CHECK(!ConstantTimeEquals("abc", "ab"));
}

}  // namespace
}  // namespace muster::registry
