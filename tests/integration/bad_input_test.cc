// Every class of bad input is refused with INVALID_ARGUMENT naming the
// field, and nothing is stored.

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

using muster::v1::Instance;

uint64_t Revision(TestServer& server) {
  muster::v1::ServerInfo info;
  REQUIRE(server.registry().GetServerInfo(Context().get(), {}, &info).ok());
  return info.revision();
}

uint64_t InstanceCount(TestServer& server) {
  muster::v1::ServerInfo info;
  REQUIRE(server.registry().GetServerInfo(Context().get(), {}, &info).ok());
  return info.instance_count();
}

// Opens a Watch and reads it to its end; returns how it ended and how
// many messages came first.
grpc::Status WatchToEnd(TestServer& server,
                        const muster::v1::WatchRequest& request,
                        int* messages) {
  std::unique_ptr<grpc::ClientContext> context = Context();
  auto reader = server.registry().Watch(context.get(), request);
  muster::v1::WatchResponse response;
  *messages = 0;
  while (reader->Read(&response)) ++*messages;
  return reader->Finish();
}

// How ListInstances refuses the same realm and service.
grpc::Status ListWith(TestServer& server, const std::string& realm,
                      const std::string& service) {
  muster::v1::ListInstancesRequest request;
  request.set_realm(realm);
  request.set_service(service);
  muster::v1::ListInstancesResponse response;
  return server.registry().ListInstances(Context().get(), request, &response);
}

struct BadCase {
  const char* name;
  std::function<void(muster::v1::RegisterRequest&)> spoil;
  const char* field;
};

// Registers `request`; expects INVALID_ARGUMENT whose message starts with
// `prefix`, and nothing stored.
void RequireRefused(TestServer& server,
                    const muster::v1::RegisterRequest& request,
                    const std::string& prefix) {
  const uint64_t revision = Revision(server);
  muster::v1::RegisterResponse response;
  const grpc::Status status =
      server.registry().Register(Context().get(), request, &response);
  INFO(status.error_message());
  CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
  CHECK_THAT(status.error_message(), Catch::StartsWith(prefix));
  CHECK(Revision(server) == revision);
  CHECK(InstanceCount(server) == 0);
}

}  // namespace

TEST_CASE("bad registrations are refused with the field and nothing is stored",
          "[integration][bad_input]") {
  TestServer server;
  const uint64_t revision = Revision(server);
  const BadCase cases[] = {
      {"realm name", [](auto& r) { r.set_realm("Prod"); }, "realm"},
      {"service missing",
       [](auto& r) { r.mutable_instance()->set_service(""); },
       "instance.service"},
      {"service name",
       [](auto& r) { r.mutable_instance()->set_service("web_1"); },
       "instance.service"},
      {"id characters", [](auto& r) { r.mutable_instance()->set_id("a b"); },
       "instance.id"},
      {"id length",
       [](auto& r) { r.mutable_instance()->set_id(std::string(129, 'a')); },
       "instance.id"},
      {"address missing",
       [](auto& r) { r.mutable_instance()->set_address(""); },
       "instance.address"},
      {"address form",
       [](auto& r) { r.mutable_instance()->set_address("-bad-.example"); },
       "instance.address"},
      {"port zero", [](auto& r) { r.mutable_instance()->set_port(0); },
       "instance.port"},
      {"port too big", [](auto& r) { r.mutable_instance()->set_port(65536); },
       "instance.port"},
      {"too many tags",
       [](auto& r) {
         for (int i = 0; i < 65; ++i)
           r.mutable_instance()->add_tags("t" + std::to_string(i));
       },
       "instance.tags"},
      {"tag too long",
       [](auto& r) { r.mutable_instance()->add_tags(std::string(129, 't')); },
       "instance.tags[0]"},
      {"too many metadata pairs",
       [](auto& r) {
         for (int i = 0; i < 65; ++i) {
           (*r.mutable_instance()
                 ->mutable_metadata())["k" + std::to_string(i)] = "v";
         }
       },
       "instance.metadata"},
      {"metadata key too long",
       [](auto& r) {
         (*r.mutable_instance()->mutable_metadata())[std::string(129, 'k')] =
             "v";
       },
       "instance.metadata"},
      {"metadata value too long",
       [](auto& r) {
         (*r.mutable_instance()->mutable_metadata())["k"] =
             std::string(513, 'v');
       },
       "instance.metadata[\"k\"]"},
      {"weight", [](auto& r) { r.mutable_instance()->set_weight(10001); },
       "instance.weight"},
      {"zone", [](auto& r) { r.mutable_instance()->set_zone("Zone A"); },
       "instance.zone"},
      {"version",
       [](auto& r) {
         r.mutable_instance()->set_version(std::string(129, 'v'));
       },
       "instance.version"},
      {"check kind",
       [](auto& r) {
         r.mutable_instance()->mutable_check()->set_kind(
             static_cast<muster::v1::CheckKind>(99));
       },
       "instance.check.kind"},
      {"interval too short",
       [](auto& r) {
         auto* check = r.mutable_instance()->mutable_check();
         check->set_kind(muster::v1::CHECK_KIND_TCP);
         check->mutable_interval()->set_nanos(500000000);
       },
       "instance.check.interval"},
      {"timeout not below interval",
       [](auto& r) {
         auto* check = r.mutable_instance()->mutable_check();
         check->set_kind(muster::v1::CHECK_KIND_TCP);
         check->mutable_interval()->set_seconds(5);
         check->mutable_timeout()->set_seconds(5);
       },
       "instance.check.timeout"},
      {"ttl missing",
       [](auto& r) {
         r.mutable_instance()->mutable_check()->set_kind(
             muster::v1::CHECK_KIND_TTL);
       },
       "instance.check.ttl"},
      {"threshold",
       [](auto& r) {
         auto* check = r.mutable_instance()->mutable_check();
         check->set_kind(muster::v1::CHECK_KIND_TCP);
         check->set_unhealthy_threshold(11);
       },
       "instance.check.unhealthy_threshold"},
      {"deregister_after below a minute",
       [](auto& r) {
         auto* check = r.mutable_instance()->mutable_check();
         check->set_kind(muster::v1::CHECK_KIND_TCP);
         check->mutable_deregister_after()->set_seconds(59);
       },
       "instance.check.deregister_after"},
      {"http url scheme",
       [](auto& r) {
         auto* check = r.mutable_instance()->mutable_check();
         check->set_kind(muster::v1::CHECK_KIND_HTTP);
         check->set_http_url("ftp://10.0.0.1/health");
       },
       "instance.check.http_url"},
      {"http url missing",
       [](auto& r) {
         r.mutable_instance()->mutable_check()->set_kind(
             muster::v1::CHECK_KIND_HTTP);
       },
       "instance.check.http_url"},
      {"http header newline",
       [](auto& r) {
         auto* check = r.mutable_instance()->mutable_check();
         check->set_kind(muster::v1::CHECK_KIND_HTTP);
         check->set_http_url("http://10.0.0.1/health");
         (*check->mutable_http_headers())["X-A"] = "a\r\nb";
       },
       "instance.check.http_headers"},
      {"negative duration",
       [](auto& r) {
         auto* check = r.mutable_instance()->mutable_check();
         check->set_kind(muster::v1::CHECK_KIND_TCP);
         check->mutable_interval()->set_seconds(-5);
       },
       "instance.check.interval"},
  };
  for (const BadCase& bad : cases) {
    SECTION(bad.name) {
      muster::v1::RegisterRequest request;
      *request.mutable_instance() = MakeInstance("web", "w1");
      bad.spoil(request);
      muster::v1::RegisterResponse response;
      grpc::Status status =
          server.registry().Register(Context().get(), request, &response);
      INFO(bad.name << ": " << status.error_message());
      CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
      CHECK_THAT(status.error_message(), Catch::StartsWith(bad.field));
      CHECK(Revision(server) == revision);
      CHECK(InstanceCount(server) == 0);
    }
  }
}

TEST_CASE("bad reads and realm requests are refused with the field",
          "[integration][bad_input]") {
  TestServer server;
  const uint64_t revision = Revision(server);
  SECTION("page size") {
    muster::v1::ListInstancesRequest request;
    request.set_page_size(1001);
    muster::v1::ListInstancesResponse response;
    grpc::Status status =
        server.registry().ListInstances(Context().get(), request, &response);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::StartsWith("page_size"));
  }
  SECTION("realm settings") {
    muster::v1::CreateRealmRequest request;
    request.set_name("prod");
    request.mutable_settings()->set_eviction_protection_share(1.5);
    muster::v1::Realm realm;
    grpc::Status status =
        server.realms().CreateRealm(Context().get(), request, &realm);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(),
               Catch::StartsWith("settings.eviction_protection_share"));
    request.set_name("-prod");
    request.mutable_settings()->set_eviction_protection_share(0.5);
    status = server.realms().CreateRealm(Context().get(), request, &realm);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::StartsWith("name"));
  }
  SECTION("admin state and reason") {
    muster::v1::RegisterRequest reg;
    *reg.mutable_instance() = MakeInstance("web", "w1");
    muster::v1::RegisterResponse registered;
    REQUIRE(server.registry().Register(Context().get(), reg, &registered).ok());
    const uint64_t after_register = Revision(server);
    muster::v1::SetAdminStateRequest request;
    request.set_service("web");
    request.set_id("w1");
    muster::v1::Instance out;
    CHECK(server.registry()
              .SetAdminState(Context().get(), request, &out)
              .error_code() == grpc::INVALID_ARGUMENT);
    request.set_admin_state(muster::v1::ADMIN_STATE_DRAINING);
    request.set_reason(std::string(257, 'r'));
    grpc::Status status =
        server.registry().SetAdminState(Context().get(), request, &out);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::StartsWith("reason"));
    CHECK(Revision(server) == after_register);
  }
  SECTION("a message over the size limit") {
    muster::v1::RegisterRequest request;
    *request.mutable_instance() = MakeInstance("web", "w1");
    request.mutable_instance()->set_version(std::string(5 * 1024 * 1024, 'v'));
    muster::v1::RegisterResponse response;
    grpc::Status status =
        server.registry().Register(Context().get(), request, &response);
    CHECK(status.error_code() == grpc::RESOURCE_EXHAUSTED);
    CHECK(Revision(server) == revision);
  }
}

TEST_CASE("a watch on a bad realm or service name is refused with the field",
          "[integration][bad_input][watch]") {
  TestServer server;
  struct WatchCase {
    const char* name;
    std::string realm;
    std::string service;
    const char* field;
  };
  const WatchCase cases[] = {
      {"realm upper case", "Prod", "", "realm: "},
      {"realm too long", std::string(64, 'r'), "", "realm: "},
      {"service characters", "default", "web_1", "service: "},
      {"service leading dash", "", "-web", "service: "},
  };
  for (const WatchCase& bad : cases) {
    SECTION(bad.name) {
      muster::v1::WatchRequest request;
      request.set_realm(bad.realm);
      request.set_service(bad.service);
      int messages = 0;
      const grpc::Status status = WatchToEnd(server, request, &messages);
      INFO(bad.name << ": " << status.error_message());
      CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
      CHECK_THAT(status.error_message(), Catch::StartsWith(bad.field));
      CHECK(messages == 0);
      // Word for word what ListInstances says about the same names.
      const grpc::Status listed = ListWith(server, bad.realm, bad.service);
      CHECK(listed.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(status.error_message() == listed.error_message());
    }
  }
}

TEST_CASE(
    "a watch still maps an empty realm to default and a missing one "
    "to NOT_FOUND",
    "[integration][bad_input][watch]") {
  TestServer server;
  SECTION("empty realm") {
    std::unique_ptr<grpc::ClientContext> context = Context();
    muster::v1::WatchRequest request;
    auto reader = server.registry().Watch(context.get(), request);
    muster::v1::WatchResponse response;
    REQUIRE(reader->Read(&response));
    CHECK(response.kind() == muster::v1::WatchResponse::SNAPSHOT_END);
    context->TryCancel();
    while (reader->Read(&response)) {
    }
    const grpc::Status ended = reader->Finish();
    CHECK(ended.error_code() == grpc::CANCELLED);
  }
  SECTION("missing realm") {
    muster::v1::WatchRequest request;
    request.set_realm("staging");
    int messages = 0;
    const grpc::Status status = WatchToEnd(server, request, &messages);
    CHECK(status.error_code() == grpc::NOT_FOUND);
    CHECK_THAT(status.error_message(), Catch::Contains("\"staging\""));
    CHECK(messages == 0);
  }
}

TEST_CASE("a bad tag is named by the index the client sent",
          "[integration][bad_input][tags]") {
  TestServer server;
  // Sorted, the bad tag of the second list would be instance.tags[0].
  for (const std::vector<std::string>& tags :
       {std::vector<std::string>{"b", "a", "bad\x01"},
        std::vector<std::string>{"b", "a", "0bad\x01"}}) {
    muster::v1::RegisterRequest request;
    *request.mutable_instance() = MakeInstance("web", "w1");
    for (const std::string& tag : tags)
      request.mutable_instance()->add_tags(tag);
    RequireRefused(server, request, "instance.tags[2]: ");
  }

  SECTION("a repeated tag counts once and the stored tags are a sorted set") {
    muster::v1::RegisterRequest ok;
    *ok.mutable_instance() = MakeInstance("web", "w1");
    for (int i = 63; i >= 0; --i) {
      ok.mutable_instance()->add_tags("t" + std::to_string(100 + i));
      ok.mutable_instance()->add_tags("t" + std::to_string(100 + i));
    }
    muster::v1::RegisterResponse registered;
    grpc::Status status =
        server.registry().Register(Context().get(), ok, &registered);
    INFO(status.error_message());
    REQUIRE(status.ok());
    REQUIRE(registered.instance().tags_size() == 64);
    CHECK(registered.instance().tags(0) == "t100");
    CHECK(registered.instance().tags(63) == "t163");
    // The same set in another order is the same registration.
    muster::v1::RegisterRequest reordered;
    *reordered.mutable_instance() = MakeInstance("web", "w1");
    for (int i = 0; i < 64; ++i) {
      reordered.mutable_instance()->add_tags("t" + std::to_string(100 + i));
    }
    muster::v1::RegisterResponse again;
    REQUIRE(
        server.registry().Register(Context().get(), reordered, &again).ok());
    CHECK(again.revision() == registered.revision());
    muster::v1::Instance got;
    muster::v1::GetInstanceRequest get;
    get.set_service("web");
    get.set_id("w1");
    REQUIRE(server.registry().GetInstance(Context().get(), get, &got).ok());
    CHECK(got.tags(0) == "t100");
    CHECK(got.tags(63) == "t163");
  }
}

TEST_CASE("a registration that sets an output-only field is refused",
          "[integration][bad_input][output_only]") {
  TestServer server;
  const BadCase cases[] = {
      {"health",
       [](auto& r) {
         r.mutable_instance()->set_health(muster::v1::HEALTH_PASSING);
       },
       "instance.health: output only; leave it unset"},
      {"admin_state",
       [](auto& r) {
         r.mutable_instance()->set_admin_state(
             muster::v1::ADMIN_STATE_DRAINING);
       },
       "instance.admin_state: output only; leave it unset"},
      {"admin_reason",
       [](auto& r) { r.mutable_instance()->set_admin_reason("maintenance"); },
       "instance.admin_reason: output only; leave it unset"},
      {"health_detail",
       [](auto& r) {
         r.mutable_instance()->mutable_health_detail()->set_output("ok");
       },
       "instance.health_detail: output only; leave it unset"},
      {"registered_at",
       [](auto& r) {
         r.mutable_instance()->mutable_registered_at()->set_seconds(1);
       },
       "instance.registered_at: output only; leave it unset"},
      {"status_changed_at",
       [](auto& r) {
         r.mutable_instance()->mutable_status_changed_at()->set_seconds(1);
       },
       "instance.status_changed_at: output only; leave it unset"},
      {"last_heartbeat_at",
       [](auto& r) {
         r.mutable_instance()->mutable_last_heartbeat_at()->set_seconds(1);
       },
       "instance.last_heartbeat_at: output only; leave it unset"},
      {"create_revision",
       [](auto& r) { r.mutable_instance()->set_create_revision(7); },
       "instance.create_revision: output only; leave it unset"},
      {"modify_revision",
       [](auto& r) { r.mutable_instance()->set_modify_revision(7); },
       "instance.modify_revision: output only; leave it unset"},
      {"realm other than the request's",
       [](auto& r) {
         r.set_realm("default");
         r.mutable_instance()->set_realm("prod");
       },
       "instance.realm: "},
      {"realm set while the request's is empty (default)",
       [](auto& r) { r.mutable_instance()->set_realm("prod"); },
       "instance.realm: "},
  };
  for (const BadCase& bad : cases) {
    SECTION(bad.name) {
      muster::v1::RegisterRequest request;
      *request.mutable_instance() = MakeInstance("web", "w1");
      bad.spoil(request);
      RequireRefused(server, request, bad.field);
    }
  }
  SECTION("instance.realm equal to the request's realm is accepted") {
    for (const char* realm : {"", "default"}) {
      muster::v1::RegisterRequest request;
      request.set_realm(realm);
      *request.mutable_instance() = MakeInstance("web", "w1");
      request.mutable_instance()->set_realm("default");
      muster::v1::RegisterResponse response;
      grpc::Status status =
          server.registry().Register(Context().get(), request, &response);
      INFO(status.error_message());
      CHECK(status.ok());
    }
  }
}

TEST_CASE("an unparseable Watch body says what the unary methods say",
          "[integration][bad_input][parse][watch]") {
  TestServer server;
  const std::string garbage = "\xff\xff\xff";  // a varint that never ends
  const grpc::Status watch =
      CallRaw(server, "/muster.v1.Registry/Watch", garbage);
  CHECK(watch.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(watch.error_message() ==
        "the request body is not a valid muster.v1.WatchRequest message");
  const grpc::Status unary =
      CallRaw(server, "/muster.v1.Registry/ListEvents", garbage);
  CHECK(unary.error_message() ==
        "the request body is not a valid muster.v1.ListEventsRequest message");
}

}  // namespace muster::testing
