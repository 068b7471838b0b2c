// The Realms service: create, get, list, update, delete and its rules.

#include <catch2/catch.hpp>

#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

grpc::Status CreateRealm(TestServer& server, const std::string& name,
                         double share = 0) {
  muster::v1::CreateRealmRequest request;
  request.set_name(name);
  request.mutable_settings()->set_description("for tests");
  request.mutable_settings()->set_eviction_protection_share(share);
  muster::v1::Realm realm;
  return server.realms().CreateRealm(Context().get(), request, &realm);
}

grpc::Status DeleteRealm(TestServer& server, const std::string& name,
                         bool force,
                         muster::v1::DeleteRealmResponse* response) {
  muster::v1::DeleteRealmRequest request;
  request.set_name(name);
  request.set_force(force);
  return server.realms().DeleteRealm(Context().get(), request, response);
}

void Register(TestServer& server, const std::string& realm,
              const std::string& id) {
  muster::v1::RegisterRequest request;
  request.set_realm(realm);
  *request.mutable_instance() = MakeInstance("web", id);
  muster::v1::RegisterResponse response;
  REQUIRE(server.registry().Register(Context().get(), request, &response).ok());
}

// staging: "for tests", share 0.3, default deregister_after 120s.
void CreateStaging(TestServer& server) {
  muster::v1::CreateRealmRequest request;
  request.set_name("staging");
  muster::v1::RealmSettings& settings = *request.mutable_settings();
  settings.set_description("for tests");
  settings.set_eviction_protection_share(0.3);
  settings.mutable_default_deregister_after()->set_seconds(120);
  muster::v1::Realm realm;
  REQUIRE(server.realms().CreateRealm(Context().get(), request, &realm).ok());
}

muster::v1::Realm GetRealm(TestServer& server, const std::string& name) {
  muster::v1::GetRealmRequest request;
  request.set_name(name);
  muster::v1::Realm realm;
  grpc::Status status =
      server.realms().GetRealm(Context().get(), request, &realm);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return realm;
}

uint64_t CurrentRevision(TestServer& server) {
  muster::v1::ListRealmsResponse list;
  REQUIRE(server.realms().ListRealms(Context().get(), {}, &list).ok());
  return list.revision();
}

}  // namespace

TEST_CASE("realm default always exists and cannot be deleted",
          "[integration][realm]") {
  TestServer server;
  muster::v1::GetRealmRequest get;
  get.set_name("default");
  muster::v1::Realm realm;
  REQUIRE(server.realms().GetRealm(Context().get(), get, &realm).ok());
  CHECK(realm.create_revision() == 1);
  muster::v1::DeleteRealmResponse response;
  CHECK(DeleteRealm(server, "default", true, &response).error_code() ==
        grpc::FAILED_PRECONDITION);
}

TEST_CASE("realms are created, listed, updated and survive a restart",
          "[integration][realm]") {
  TestServer server;
  REQUIRE(CreateRealm(server, "staging", 0.3).ok());
  CHECK(CreateRealm(server, "staging").error_code() == grpc::ALREADY_EXISTS);
  REQUIRE(CreateRealm(server, "dev").ok());
  Register(server, "staging", "a");

  muster::v1::UpdateRealmRequest update;
  update.set_name("staging");
  update.mutable_settings()->set_description("pre-production");
  update.mutable_settings()->set_eviction_protection_share(0.7);
  update.mutable_settings()->mutable_default_deregister_after()->set_seconds(
      120);
  muster::v1::Realm updated;
  REQUIRE(server.realms().UpdateRealm(Context().get(), update, &updated).ok());
  CHECK(updated.settings().description() == "pre-production");
  CHECK(updated.modify_revision() > updated.create_revision());

  update.set_name("missing");
  CHECK(server.realms()
            .UpdateRealm(Context().get(), update, &updated)
            .error_code() == grpc::NOT_FOUND);

  server.Restart();
  muster::v1::ListRealmsResponse list;
  REQUIRE(server.realms().ListRealms(Context().get(), {}, &list).ok());
  REQUIRE(list.realms_size() == 3);
  CHECK(list.realms(0).realm().name() == "default");
  CHECK(list.realms(1).realm().name() == "dev");
  CHECK(list.realms(2).realm().name() == "staging");
  CHECK(list.realms(2).instance_count() == 1);
  CHECK(list.realms(2).realm().settings().eviction_protection_share() ==
        Approx(0.7));
  CHECK(
      list.realms(2).realm().settings().default_deregister_after().seconds() ==
      120);
}

TEST_CASE("a realm default deregister_after applies to new checks",
          "[integration][realm]") {
  TestServer server;
  muster::v1::CreateRealmRequest create;
  create.set_name("edge");
  create.mutable_settings()->mutable_default_deregister_after()->set_seconds(
      300);
  muster::v1::Realm realm;
  REQUIRE(server.realms().CreateRealm(Context().get(), create, &realm).ok());
  muster::v1::RegisterRequest request;
  request.set_realm("edge");
  *request.mutable_instance() = MakeInstance("web", "w1");
  request.mutable_instance()->mutable_check()->set_kind(
      muster::v1::CHECK_KIND_TCP);
  muster::v1::RegisterResponse response;
  REQUIRE(server.registry().Register(Context().get(), request, &response).ok());
  CHECK(response.instance().check().deregister_after().seconds() == 300);
  CHECK(response.instance().check().interval().seconds() == 10);
  CHECK(response.instance().check().unhealthy_threshold() == 3);
}

TEST_CASE("deleting a realm with instances needs force",
          "[integration][realm]") {
  TestServer server;
  REQUIRE(CreateRealm(server, "staging").ok());
  Register(server, "staging", "a");
  Register(server, "staging", "b");
  muster::v1::DeleteRealmResponse response;
  grpc::Status refused = DeleteRealm(server, "staging", false, &response);
  CHECK(refused.error_code() == grpc::FAILED_PRECONDITION);
  CHECK_THAT(refused.error_message(), Catch::Contains("2 instances"));

  REQUIRE(DeleteRealm(server, "staging", true, &response).ok());
  CHECK(response.deleted_instances() == 2);
  CHECK(DeleteRealm(server, "staging", true, &response).error_code() ==
        grpc::NOT_FOUND);

  // The instances went with it, also after a restart.
  server.Restart();
  muster::v1::GetRealmRequest get;
  get.set_name("staging");
  muster::v1::Realm realm;
  CHECK(server.realms().GetRealm(Context().get(), get, &realm).error_code() ==
        grpc::NOT_FOUND);
  REQUIRE(CreateRealm(server, "staging").ok());
  muster::v1::ListInstancesRequest list;
  list.set_realm("staging");
  muster::v1::ListInstancesResponse instances;
  REQUIRE(
      server.registry().ListInstances(Context().get(), list, &instances).ok());
  CHECK(instances.instances_size() == 0);

  REQUIRE(CreateRealm(server, "empty").ok());
  CHECK(DeleteRealm(server, "empty", false, &response).ok());
}

TEST_CASE("UpdateRealm without a mask changes only the fields it sets",
          "[integration][realm]") {
  TestServer server;
  CreateStaging(server);
  const muster::v1::Realm before = GetRealm(server, "staging");

  muster::v1::UpdateRealmRequest update;
  update.set_name("staging");
  update.mutable_settings()->set_description("pre-production");
  muster::v1::Realm updated;
  grpc::Status status =
      server.realms().UpdateRealm(Context().get(), update, &updated);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(updated.settings().description() == "pre-production");
  CHECK(updated.settings().eviction_protection_share() == Approx(0.3));
  CHECK(updated.settings().default_deregister_after().seconds() == 120);
  CHECK(updated.modify_revision() > before.modify_revision());

  // What was answered is what is stored, also after a restart.
  server.Restart();
  const muster::v1::Realm after = GetRealm(server, "staging");
  CHECK(after.settings().description() == "pre-production");
  CHECK(after.settings().eviction_protection_share() == Approx(0.3));
  CHECK(after.settings().default_deregister_after().seconds() == 120);
  CHECK(after.modify_revision() == updated.modify_revision());
}

TEST_CASE("UpdateRealm with a mask changes exactly the named fields",
          "[integration][realm]") {
  TestServer server;
  CreateStaging(server);
  muster::v1::UpdateRealmRequest update;
  update.set_name("staging");
  muster::v1::Realm updated;

  SECTION("a named field at its default is reset") {
    update.mutable_update_mask()->add_paths("eviction_protection_share");
    update.mutable_settings()->set_description("ignored: not named");
    REQUIRE(
        server.realms().UpdateRealm(Context().get(), update, &updated).ok());
    CHECK(updated.settings().eviction_protection_share() == 0);
    CHECK(updated.settings().description() == "for tests");
    CHECK(updated.settings().default_deregister_after().seconds() == 120);
    // What was answered is what is stored.
    CHECK(GetRealm(server, "staging").settings().SerializeAsString() ==
          updated.settings().SerializeAsString());
  }
  SECTION("an unnamed field is ignored, even when it would be invalid") {
    update.mutable_update_mask()->add_paths("default_deregister_after");
    update.mutable_settings()->mutable_default_deregister_after()->set_seconds(
        300);
    update.mutable_settings()->set_eviction_protection_share(7);
    grpc::Status status =
        server.realms().UpdateRealm(Context().get(), update, &updated);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(updated.settings().default_deregister_after().seconds() == 300);
    CHECK(updated.settings().eviction_protection_share() == Approx(0.3));
    // What was answered is what is stored.
    CHECK(GetRealm(server, "staging").settings().SerializeAsString() ==
          updated.settings().SerializeAsString());
  }
  SECTION("a named field is validated") {
    update.mutable_update_mask()->add_paths("eviction_protection_share");
    update.mutable_settings()->set_eviction_protection_share(1.5);
    grpc::Status status =
        server.realms().UpdateRealm(Context().get(), update, &updated);
    CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(),
               Catch::StartsWith("settings.eviction_protection_share:"));
    CHECK(GetRealm(server, "staging").settings().eviction_protection_share() ==
          Approx(0.3));
  }
  SECTION("* names every field") {
    update.mutable_update_mask()->add_paths("*");
    update.mutable_settings()->set_description("only this");
    REQUIRE(
        server.realms().UpdateRealm(Context().get(), update, &updated).ok());
    CHECK(updated.settings().description() == "only this");
    CHECK(updated.settings().eviction_protection_share() == 0);
    CHECK(updated.settings().default_deregister_after().seconds() == 0);
    // What was answered is what is stored.
    CHECK(GetRealm(server, "staging").settings().SerializeAsString() ==
          updated.settings().SerializeAsString());
  }
}

TEST_CASE("UpdateRealm refuses an unknown mask path and changes nothing",
          "[integration][realm]") {
  TestServer server;
  CreateStaging(server);
  const muster::v1::Realm before = GetRealm(server, "staging");

  muster::v1::UpdateRealmRequest update;
  update.set_name("staging");
  update.mutable_update_mask()->add_paths("description");
  update.mutable_update_mask()->add_paths("settings.colour");
  update.mutable_settings()->set_description("changed");
  muster::v1::Realm updated;
  grpc::Status status =
      server.realms().UpdateRealm(Context().get(), update, &updated);
  CHECK(status.error_code() == grpc::INVALID_ARGUMENT);
  CHECK_THAT(status.error_message(),
             Catch::StartsWith("update_mask.paths[1]: \"settings.colour\""));

  const muster::v1::Realm after = GetRealm(server, "staging");
  CHECK(after.SerializeAsString() == before.SerializeAsString());
}

TEST_CASE("UpdateRealm that names nothing writes nothing",
          "[integration][realm]") {
  TestServer server;
  CreateStaging(server);
  const muster::v1::Realm before = GetRealm(server, "staging");
  const uint64_t revision = CurrentRevision(server);

  // Empty mask and every setting at its default: nothing is named.
  muster::v1::UpdateRealmRequest update;
  update.set_name("staging");
  muster::v1::Realm answered;
  REQUIRE(server.realms().UpdateRealm(Context().get(), update, &answered).ok());
  CHECK(answered.SerializeAsString() == before.SerializeAsString());
  CHECK(CurrentRevision(server) == revision);

  update.set_name("missing");
  CHECK(server.realms()
            .UpdateRealm(Context().get(), update, &answered)
            .error_code() == grpc::NOT_FOUND);
  update.set_name("Bad Name");
  CHECK(server.realms()
            .UpdateRealm(Context().get(), update, &answered)
            .error_code() == grpc::INVALID_ARGUMENT);
}

}  // namespace muster::testing
