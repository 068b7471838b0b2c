// Access control on a real gRPC server (--auth): every RPC of every
// service against callers without a token, of another realm, with a read
// token for a write, with an expired and a revoked token; the scope
// filtering of lists, server info and watches; the per-client request
// rate and watcher cap.

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "registry/tokens.h"
#include "tests/integration/auth_support.h"
#include "tests/integration/test_server.h"
#include "tests/support/fake_clock.h"

namespace muster::testing {
namespace {

using registry::TokenRole;

// What an RPC needs, which decides the code each caller gets.
enum class Needs {
  kNothing,       // Ping
  kRead,          // read in the request's realm
  kWrite,         // write in the request's realm
  kAdmin,         // admin in the request's realm (or the token's scope)
  kReadAnyRealm,  // read anywhere; the answer is filtered
  kAdminAnyRealm  // admin anywhere; the answer is filtered
};

struct Rpc {
  std::string name;
  Needs needs;
  std::function<grpc::Status(grpc::ClientContext*)> call;
};

// The state a denied call must leave as it was: the revision, the realms,
// the tokens and the one instance (with its heartbeat time).
std::string Snapshot(TestServer& server) {
  registry::Registry& core = server.core();
  std::string out =
      absl::StrCat("revision ", core.change_log().GetStats().revision, "\n");
  for (const registry::RealmCounts& realm : core.realms().List().realms) {
    absl::StrAppend(&out, "realm ", realm.realm.name, " ",
                    realm.realm.description, " ", realm.instances, "\n");
  }
  for (const registry::Token& token : core.tokens().List()) {
    absl::StrAppend(&out, "token ", token.name, " ",
                    token.revoked_at.has_value(), "\n");
  }
  absl::StatusOr<std::shared_ptr<const registry::Instance>> web =
      core.instances().Get(registry::InstanceKey{"prod", "web", "1"});
  if (web.ok()) {
    const healthchecker::HealthDetail detail =
        core.instances().HealthDetailOf(**web);
    absl::StrAppend(&out, "web/1 admin ", static_cast<int>((*web)->admin_state),
                    " heartbeat ",
                    detail.last_heartbeat_at.has_value()
                        ? absl::FormatTime(*detail.last_heartbeat_at)
                        : std::string("never"),
                    "\n");
  } else {
    absl::StrAppend(&out, "web/1 ", web.status().ToString(), "\n");
  }
  return out;
}

// Every RPC of muster.v1.Registry, Realms and Tokens, each aimed at realm
// "prod" with a request that would succeed for a caller allowed to make it.
std::vector<Rpc> EveryRpc(AuthWorld& world) {
  TestServer& server = world.server();
  const uint64_t incarnation = world.web_incarnation();
  std::vector<Rpc> rpcs;
  auto add = [&](std::string name, Needs needs,
                 std::function<grpc::Status(grpc::ClientContext*)> call) {
    rpcs.push_back(Rpc{std::move(name), needs, std::move(call)});
  };
  auto& reg = server.registry();
  add("Registry/Register", Needs::kWrite, [&reg](grpc::ClientContext* c) {
    v1::RegisterRequest request;
    request.set_realm("prod");
    *request.mutable_instance() = MakeInstance("web", "2");
    v1::RegisterResponse response;
    return reg.Register(c, request, &response);
  });
  add("Registry/Deregister", Needs::kWrite,
      [&reg, incarnation](grpc::ClientContext* c) {
        v1::DeregisterRequest request;
        request.set_realm("prod");
        request.set_service("web");
        request.set_id("1");
        request.set_incarnation(incarnation);
        v1::DeregisterResponse response;
        return reg.Deregister(c, request, &response);
      });
  add("Registry/Heartbeat", Needs::kWrite,
      [&reg, incarnation](grpc::ClientContext* c) {
        v1::HeartbeatRequest request;
        request.set_realm("prod");
        request.set_service("web");
        request.set_id("1");
        request.set_incarnation(incarnation);
        v1::HeartbeatResponse response;
        return reg.Heartbeat(c, request, &response);
      });
  add("Registry/SetAdminState", Needs::kWrite, [&reg](grpc::ClientContext* c) {
    v1::SetAdminStateRequest request;
    request.set_realm("prod");
    request.set_service("web");
    request.set_id("1");
    request.set_admin_state(v1::ADMIN_STATE_DRAINING);
    v1::Instance response;
    return reg.SetAdminState(c, request, &response);
  });
  add("Registry/GetInstance", Needs::kRead, [&reg](grpc::ClientContext* c) {
    v1::GetInstanceRequest request;
    request.set_realm("prod");
    request.set_service("web");
    request.set_id("1");
    v1::Instance response;
    return reg.GetInstance(c, request, &response);
  });
  add("Registry/ListInstances", Needs::kRead, [&reg](grpc::ClientContext* c) {
    v1::ListInstancesRequest request;
    request.set_realm("prod");
    v1::ListInstancesResponse response;
    return reg.ListInstances(c, request, &response);
  });
  add("Registry/ListServices", Needs::kRead, [&reg](grpc::ClientContext* c) {
    v1::ListServicesRequest request;
    request.set_realm("prod");
    v1::ListServicesResponse response;
    return reg.ListServices(c, request, &response);
  });
  add("Registry/Watch", Needs::kRead, [&reg](grpc::ClientContext* c) {
    v1::WatchRequest request;
    request.set_realm("prod");
    return FirstWatchMessage(reg, c, request);
  });
  add("Registry/ListEvents", Needs::kRead, [&reg](grpc::ClientContext* c) {
    v1::ListEventsRequest request;
    request.set_realm("prod");
    v1::ListEventsResponse response;
    return reg.ListEvents(c, request, &response);
  });
  add("Registry/GetServerInfo", Needs::kReadAnyRealm,
      [&reg](grpc::ClientContext* c) {
        v1::ServerInfo response;
        return reg.GetServerInfo(c, {}, &response);
      });
  add("Registry/Ping", Needs::kNothing, [&reg](grpc::ClientContext* c) {
    v1::PingResponse response;
    return reg.Ping(c, {}, &response);
  });
  auto& realms = server.realms();
  add("Realms/CreateRealm", Needs::kAdmin, [&realms](grpc::ClientContext* c) {
    v1::CreateRealmRequest request;
    request.set_name("staging");
    v1::Realm response;
    return realms.CreateRealm(c, request, &response);
  });
  add("Realms/GetRealm", Needs::kRead, [&realms](grpc::ClientContext* c) {
    v1::GetRealmRequest request;
    request.set_name("prod");
    v1::Realm response;
    return realms.GetRealm(c, request, &response);
  });
  add("Realms/ListRealms", Needs::kReadAnyRealm,
      [&realms](grpc::ClientContext* c) {
        v1::ListRealmsResponse response;
        return realms.ListRealms(c, {}, &response);
      });
  add("Realms/UpdateRealm", Needs::kAdmin, [&realms](grpc::ClientContext* c) {
    v1::UpdateRealmRequest request;
    request.set_name("prod");
    request.mutable_settings()->set_description("changed");
    v1::Realm response;
    return realms.UpdateRealm(c, request, &response);
  });
  add("Realms/DeleteRealm", Needs::kAdmin, [&realms](grpc::ClientContext* c) {
    v1::DeleteRealmRequest request;
    request.set_name("prod");
    request.set_force(true);
    v1::DeleteRealmResponse response;
    return realms.DeleteRealm(c, request, &response);
  });
  AddTokenRpcs(
      world, [&add](std::string name, bool list,
                    std::function<grpc::Status(grpc::ClientContext*)> call) {
        add(std::move(name), list ? Needs::kAdminAnyRealm : Needs::kAdmin,
            std::move(call));
      });
  return rpcs;
}

// A caller of the table, and the code it must get for an RPC needing
// `needs`.
struct CallerCase {
  std::string name;
  std::string secret;  // empty: no authorization metadata
  std::function<grpc::StatusCode(Needs)> expect;
};

grpc::StatusCode Unauthenticated(Needs needs) {
  return needs == Needs::kNothing ? grpc::OK : grpc::UNAUTHENTICATED;
}

}  // namespace

TEST_CASE(
    "Every RPC refuses callers outside its role and scope and "
    "changes nothing",
    "[integration][auth]") {
  AuthWorld world;
  const std::vector<CallerCase> cases = {
      {"no token", "", Unauthenticated},
      {"a token of another realm", world.admin_of_other(),
       [](Needs needs) {
         switch (needs) {
           case Needs::kNothing:
           case Needs::kReadAnyRealm:
           case Needs::kAdminAnyRealm:
             return grpc::OK;
           default:
             return grpc::PERMISSION_DENIED;
         }
       }},
      {"a read token for a write", world.reader_of_prod(),
       [](Needs needs) {
         switch (needs) {
           case Needs::kNothing:
           case Needs::kRead:
           case Needs::kReadAnyRealm:
             return grpc::OK;
           default:
             return grpc::PERMISSION_DENIED;
         }
       }},
      {"an expired token", world.expired(), Unauthenticated},
      {"a revoked token", world.revoked(), Unauthenticated},
  };
  // One world for the whole table: a refused call changes nothing, which
  // is what the snapshot checks after each one.
  for (Rpc& rpc : EveryRpc(world)) {
    for (const CallerCase& caller : cases) {
      INFO(rpc.name << " with " << caller.name);
      const std::string before = Snapshot(world.server());
      std::unique_ptr<grpc::ClientContext> context =
          BearerContext(caller.secret);
      const grpc::Status status = rpc.call(context.get());
      INFO(status.error_message());
      CHECK(status.error_code() == caller.expect(rpc.needs));
      CHECK(Snapshot(world.server()) == before);
      if (status.error_code() == grpc::PERMISSION_DENIED) {
        // Names the role needed.
        CHECK_THAT(status.error_message(), Catch::Contains("needs role"));
      }
      // The secret never comes back in a message.
      if (!caller.secret.empty()) {
        CHECK_THAT(status.error_message(), !Catch::Contains(caller.secret));
      }
    }
  }
}

TEST_CASE("The same RPCs succeed for a caller whose token covers them",
          "[integration][auth]") {
  AuthWorld world;
  for (Rpc& rpc : EveryRpc(world)) {
    // A fresh world per RPC (Catch runs the case once per section).
    DYNAMIC_SECTION(rpc.name) {
      std::unique_ptr<grpc::ClientContext> context =
          BearerContext(world.admin());
      const grpc::Status status = rpc.call(context.get());
      INFO(status.error_message());
      CHECK(status.ok());
    }
  }
}

}  // namespace muster::testing

namespace muster::testing {

using registry::TokenRole;

namespace {

registry::Tokens::Spec ScopedSpec(std::string name, TokenRole role,
                                  std::vector<std::string> realms,
                                  std::vector<std::string> services = {}) {
  registry::Tokens::Spec spec;
  spec.name = std::move(name);
  spec.role = role;
  spec.realms = std::move(realms);
  spec.services = std::move(services);
  return spec;
}

}  // namespace

TEST_CASE(
    "A scoped token sees only its realms in lists, server info and "
    "watches",
    "[integration][auth]") {
  AuthWorld world;
  TestServer& server = world.server();
  const std::string reader = world.reader_of_prod();

  v1::ListRealmsResponse realms;
  REQUIRE(server.realms()
              .ListRealms(BearerContext(reader).get(), {}, &realms)
              .ok());
  REQUIRE(realms.realms_size() == 1);
  CHECK(realms.realms(0).realm().name() == "prod");
  v1::ListRealmsResponse all;
  REQUIRE(server.realms()
              .ListRealms(BearerContext(world.admin()).get(), {}, &all)
              .ok());
  CHECK(all.realms_size() == 3);  // default, other, prod

  // Another instance, in "other", which the reader must not count.
  v1::RegisterRequest request;
  request.set_realm("other");
  *request.mutable_instance() = MakeInstance("db", "1");
  v1::RegisterResponse registered;
  REQUIRE(
      server.registry()
          .Register(BearerContext(world.admin()).get(), request, &registered)
          .ok());
  v1::ServerInfo info;
  REQUIRE(server.registry()
              .GetServerInfo(BearerContext(reader).get(), {}, &info)
              .ok());
  CHECK(info.realm_count() == 1);
  CHECK(info.instance_count() == 1);
  CHECK(info.data_dir().empty());
  v1::ServerInfo admin_info;
  REQUIRE(
      server.registry()
          .GetServerInfo(BearerContext(world.admin()).get(), {}, &admin_info)
          .ok());
  CHECK(admin_info.realm_count() == 3);
  CHECK(admin_info.instance_count() == 2);

  v1::WatchRequest watch;
  watch.set_realm("other");
  grpc::Status refused =
      FirstWatchMessage(server.registry(), BearerContext(reader).get(), watch);
  CHECK(refused.error_code() == grpc::PERMISSION_DENIED);
  CHECK_THAT(refused.error_message(), Catch::Contains("\"other\""));
  CHECK_THAT(refused.error_message(), Catch::Contains("read"));
  // A realm that does not exist outside the scope is refused the same way
  // (nothing says whether it exists).
  watch.set_realm("nowhere");
  CHECK(FirstWatchMessage(server.registry(), BearerContext(reader).get(), watch)
            .error_code() == grpc::PERMISSION_DENIED);
  watch.set_realm("prod");
  CHECK(FirstWatchMessage(server.registry(), BearerContext(reader).get(), watch)
            .ok());
}

TEST_CASE("A write token limited to services registers only those",
          "[integration][auth]") {
  AuthWorld world;
  TestServer& server = world.server();
  const std::string web_only = MakeToken(
      server, ScopedSpec("web-writer", TokenRole::kWrite, {"prod"}, {"web"}));
  auto register_as = [&](const std::string& service) {
    v1::RegisterRequest request;
    request.set_realm("prod");
    *request.mutable_instance() = MakeInstance(service, "9");
    v1::RegisterResponse response;
    return server.registry().Register(BearerContext(web_only).get(), request,
                                      &response);
  };
  CHECK(register_as("web").ok());
  const grpc::Status api = register_as("api");
  CHECK(api.error_code() == grpc::PERMISSION_DENIED);
  CHECK_THAT(api.error_message(), Catch::Contains("api"));
  // Reads stay realm-wide.
  v1::ListServicesRequest list;
  list.set_realm("prod");
  v1::ListServicesResponse services;
  CHECK(server.registry()
            .ListServices(BearerContext(web_only).get(), list, &services)
            .ok());
  // The change is recorded under the token's name.
  v1::ListEventsRequest events;
  events.set_realm("prod");
  events.set_service("web");
  events.set_id("9");
  v1::ListEventsResponse history;
  REQUIRE(server.registry()
              .ListEvents(BearerContext(world.admin()).get(), events, &history)
              .ok());
  REQUIRE(history.events_size() >= 1);
  CHECK(history.events(0).actor() == "token:web-writer");
}

TEST_CASE("A client over its request rate is told when to retry",
          "[integration][auth]") {
  registry::AuthOptions options = AuthWorld::DefaultOptions();
  options.token_rate = 10;
  options.token_burst = 1000;  // enough for the world's set-up
  AuthWorld world(options);
  TestServer& server = world.server();
  const std::string reader = world.reader_of_prod();
  auto get_realm = [&](grpc::ClientContext* context) {
    v1::GetRealmRequest request;
    request.set_name("prod");
    v1::Realm realm;
    return server.realms().GetRealm(context, request, &realm);
  };
  // The reader's bucket is its own: drain it.
  int allowed = 0;
  grpc::Status refused;
  std::unique_ptr<grpc::ClientContext> last;
  for (int i = 0; i < 2000; ++i) {
    last = BearerContext(reader);
    refused = get_realm(last.get());
    if (!refused.ok()) break;
    ++allowed;
  }
  CHECK(allowed == 1000);
  REQUIRE(refused.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK_THAT(refused.error_message(), Catch::Contains("retry after 100ms"));
  CHECK_THAT(refused.error_message(), Catch::Contains("\"prod-reader\""));
  const auto& trailers = last->GetServerTrailingMetadata();
  auto it = trailers.find("muster-retry-after-ms");
  REQUIRE(it != trailers.end());
  CHECK(std::string(it->second.data(), it->second.size()) == "100");
  // Another token is not affected; the reader is let in once the time
  // has passed (the fake clock).
  CHECK(get_realm(BearerContext(world.admin()).get()).ok());
  world.clock().Advance(absl::Milliseconds(100));
  CHECK(get_realm(BearerContext(reader).get()).ok());
  CHECK(get_realm(BearerContext(reader).get()).error_code() ==
        grpc::RESOURCE_EXHAUSTED);
  // Ping is never limited.
  v1::PingResponse pong;
  CHECK(server.registry().Ping(BearerContext(reader).get(), {}, &pong).ok());
}

TEST_CASE("Without auth the request rate is per peer address",
          "[integration][auth]") {
  FakeClock clock(absl::Now());
  TestServer::Options options;
  options.auth.token_rate = 10;
  options.auth.token_burst = 3;
  options.clock = &clock;
  TestServer server(options);
  v1::ListRealmsResponse realms;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(server.realms().ListRealms(Context().get(), {}, &realms).ok());
  }
  // A second connection from the same address shares the bucket.
  auto channel = grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(server.port()),
      grpc::InsecureChannelCredentials(), grpc::ChannelArguments());
  const grpc::Status refused =
      v1::Realms::NewStub(channel)->ListRealms(Context().get(), {}, &realms);
  CHECK(refused.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK_THAT(refused.error_message(), Catch::Contains("127.0.0.1"));
  clock.Advance(absl::Milliseconds(100));
  CHECK(server.realms().ListRealms(Context().get(), {}, &realms).ok());
}

TEST_CASE("A client holds at most max_watchers_per_client watch streams",
          "[integration][auth]") {
  registry::AuthOptions options = AuthWorld::DefaultOptions();
  options.max_watchers_per_client = 2;
  AuthWorld world(options);
  v1::Registry::Stub& stub = world.server().registry();
  v1::WatchRequest request;
  request.set_realm("prod");
  // Two streams open and read their snapshot.
  struct Open {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader;
  };
  std::vector<Open> open;
  for (int i = 0; i < 2; ++i) {
    Open stream{BearerContext(world.reader_of_prod()), nullptr};
    stream.reader = stub.Watch(stream.context.get(), request);
    v1::WatchResponse response;
    REQUIRE(stream.reader->Read(&response));
    open.push_back(std::move(stream));
  }
  const grpc::Status third = FirstWatchMessage(
      stub, BearerContext(world.reader_of_prod()).get(), request);
  CHECK(third.error_code() == grpc::RESOURCE_EXHAUSTED);
  CHECK_THAT(third.error_message(),
             Catch::Contains("--max-watchers-per-client"));
  // Another token has its own allowance.
  CHECK(FirstWatchMessage(stub, BearerContext(world.admin()).get(), request)
            .ok());
  // Ending one frees its slot (once the server has let go of the stream).
  open[0].context->TryCancel();
  v1::WatchResponse drained;
  while (open[0].reader->Read(&drained)) {
  }
  open[0].reader->Finish().IgnoreError();
  grpc::Status again;
  for (int attempt = 0; attempt < 100; ++attempt) {
    again = FirstWatchMessage(stub, BearerContext(world.reader_of_prod()).get(),
                              request);
    if (again.ok()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  CHECK(again.ok());
  open[1].context->TryCancel();
  while (open[1].reader->Read(&drained)) {
  }
  open[1].reader->Finish().IgnoreError();
}

}  // namespace muster::testing

namespace muster::testing {

TEST_CASE("A realm-scoped admin manages only tokens within its scope",
          "[integration][auth]") {
  AuthWorld world;
  auto tokens = v1::Tokens::NewStub(world.server().channel());
  const std::string other_admin = world.admin_of_other();
  v1::CreateTokenRequest create;
  create.set_name("other-writer");
  create.set_role(v1::TOKEN_ROLE_WRITE);
  create.add_realms("other");
  v1::CreateTokenResponse created;
  grpc::Status status =
      tokens->CreateToken(BearerContext(other_admin).get(), create, &created);
  INFO(status.error_message());
  REQUIRE(status.ok());
  // The token it made records who made it.
  CHECK(created.token().created_by() == "token:other-admin");

  create.set_name("everywhere");
  create.clear_realms();
  create.set_all_realms(true);
  status =
      tokens->CreateToken(BearerContext(other_admin).get(), create, &created);
  CHECK(status.error_code() == grpc::PERMISSION_DENIED);
  CHECK_THAT(status.error_message(), Catch::Contains("every realm"));

  v1::ListTokensResponse listed;
  REQUIRE(
      tokens->ListTokens(BearerContext(other_admin).get(), {}, &listed).ok());
  std::vector<std::string> names;
  for (const v1::Token& token : listed.tokens()) names.push_back(token.name());
  CHECK(names == std::vector<std::string>{"other-admin", "other-writer"});

  v1::RevokeTokenRequest revoke;
  revoke.set_name("admin");
  v1::RevokeTokenResponse revoked;
  CHECK(tokens->RevokeToken(BearerContext(other_admin).get(), revoke, &revoked)
            .error_code() == grpc::PERMISSION_DENIED);
  revoke.set_name("other-writer");
  CHECK(tokens->RevokeToken(BearerContext(other_admin).get(), revoke, &revoked)
            .ok());
}

}  // namespace muster::testing
