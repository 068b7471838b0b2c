// RegistrationOptions: the local checks (each error names its field), the
// instance a Registration registers, and its pace.

#include "client/src/registration_options.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "muster/client/client.h"
#include "muster/client/registration.h"

namespace muster::client {
namespace {

using std::chrono::milliseconds;

RegistrationOptions Valid() {
  RegistrationOptions options;
  options.service = "identity";
  options.address = "10.0.0.5";
  options.port = 8080;
  return options;
}

// The message of Start()'s status for options changed by `change`.
std::string Error(const std::function<void(RegistrationOptions&)>& change) {
  RegistrationOptions options = Valid();
  change(options);
  ClientOptions client_options;
  client_options.addresses = {"127.0.0.1:1"};
  std::shared_ptr<Client> client = Client::Create(client_options);
  REQUIRE(client != nullptr);
  grpc::Status status;
  std::unique_ptr<Registration> registration =
      Registration::Start(client, options, &status);
  CHECK(registration == nullptr);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  return status.error_message();
}

TEST_CASE("valid registration options pass the local checks",
          "[client][registration]") {
  CHECK(internal::CheckRegistrationOptions(Valid()).ok());
  RegistrationOptions http = Valid();
  http.check = CheckType::kHttp;
  http.http_url = "http://127.0.0.1:8081/readyz";
  CHECK(internal::CheckRegistrationOptions(http).ok());
  RegistrationOptions none = Valid();
  none.check = CheckType::kNone;
  none.heartbeat_fraction = 0.5;
  none.weight = 10000;
  CHECK(internal::CheckRegistrationOptions(none).ok());
}

TEST_CASE("invalid registration options are refused naming the field",
          "[client][registration]") {
  CHECK_THAT(Error([](auto& o) { o.service = ""; }),
             Catch::StartsWith("service: must be 1..63 characters"));
  CHECK_THAT(Error([](auto& o) { o.service = "Identity"; }),
             Catch::StartsWith("service:"));
  CHECK_THAT(Error([](auto& o) { o.service = "-identity"; }),
             Catch::StartsWith("service:"));
  CHECK_THAT(Error([](auto& o) { o.service = "identity-"; }),
             Catch::StartsWith("service:"));
  CHECK_THAT(Error([](auto& o) { o.service = std::string(64, 'a'); }),
             Catch::StartsWith("service:"));
  CHECK_THAT(Error([](auto& o) { o.id = "a b"; }), Catch::StartsWith("id:"));
  CHECK_THAT(Error([](auto& o) { o.address = ""; }),
             Catch::StartsWith("address: is required"));
  CHECK(Error([](auto& o) { o.port = 0; }) == "port: must be 1..65535, got 0");
  CHECK(Error([](auto& o) { o.port = 65536; }) ==
        "port: must be 1..65535, got 65536");
  CHECK_THAT(Error([](auto& o) { o.weight = 10001; }),
             Catch::StartsWith("weight: must be 0..10000"));
  CHECK_THAT(Error([](auto& o) { o.zone = "Zone_A"; }),
             Catch::StartsWith("zone:"));
  CHECK(Error([](auto& o) { o.ttl = milliseconds(999); }) ==
        "ttl: must be at least 1s for a TTL check, got 999ms");
  CHECK_THAT(Error([](auto& o) { o.check = CheckType::kHttp; }),
             Catch::StartsWith("http_url: an HTTP check needs"));
  CHECK_THAT(Error([](auto& o) {
               o.check = CheckType::kHttp;
               o.http_url = "ftp://x/";
             }),
             Catch::StartsWith("http_url:"));
  CHECK_THAT(Error([](auto& o) { o.heartbeat_fraction = 0; }),
             Catch::StartsWith("heartbeat_fraction: must be in (0, 0.5]"));
  CHECK_THAT(Error([](auto& o) { o.heartbeat_fraction = 0.6; }),
             Catch::StartsWith("heartbeat_fraction:"));
  CHECK(Error([](auto& o) { o.drain_grace = milliseconds(-1); }) ==
        "drain_grace: must not be negative, got -1ms");
  CHECK_THAT(Error([](auto& o) { o.interval = milliseconds(-5); }),
             Catch::StartsWith("interval:"));
  CHECK_THAT(Error([](auto& o) { o.initial_backoff = milliseconds(0); }),
             Catch::StartsWith("initial_backoff:"));
  CHECK_THAT(Error([](auto& o) { o.max_backoff = milliseconds(10); }),
             Catch::StartsWith("max_backoff:"));
}

TEST_CASE("a registration without a client is refused",
          "[client][registration]") {
  grpc::Status status;
  CHECK(Registration::Start(nullptr, Valid(), &status) == nullptr);
  CHECK(status.error_message() == "client: is null");
}

TEST_CASE(
    "the instance id defaults to address:port and the zone to the "
    "client's",
    "[client][registration]") {
  RegistrationOptions options = Valid();
  CHECK(internal::InstanceId(options) == "10.0.0.5:8080");
  v1::Instance instance = internal::BuildInstance(options, "zone-a");
  CHECK(instance.id() == "10.0.0.5:8080");
  CHECK(instance.zone() == "zone-a");
  CHECK(instance.service() == "identity");
  CHECK(instance.check().kind() == v1::CHECK_KIND_TTL);
  CHECK(instance.check().ttl().seconds() == 10);
  CHECK_FALSE(instance.check().has_interval());
  CHECK_FALSE(instance.check().has_deregister_after());

  options.id = "identity-1";
  options.zone = "zone-b";
  options.ttl = milliseconds(2500);
  options.deregister_after = milliseconds(60000);
  instance = internal::BuildInstance(options, "zone-a");
  CHECK(instance.id() == "identity-1");
  CHECK(instance.zone() == "zone-b");
  CHECK(instance.check().ttl().seconds() == 2);
  CHECK(instance.check().ttl().nanos() == 500000000);
  CHECK(instance.check().deregister_after().seconds() == 60);
}

TEST_CASE("an HTTP check carries its URL and only the durations given",
          "[client][registration]") {
  RegistrationOptions options = Valid();
  options.check = CheckType::kHttp;
  options.http_url = "http://127.0.0.1:8081/readyz";
  options.interval = milliseconds(1000);
  options.tags = {"a", "b"};
  options.metadata = {{"k", "v"}};
  const v1::Instance instance = internal::BuildInstance(options, "");
  CHECK(instance.check().kind() == v1::CHECK_KIND_HTTP);
  CHECK(instance.check().http_url() == "http://127.0.0.1:8081/readyz");
  CHECK(instance.check().interval().seconds() == 1);
  CHECK_FALSE(instance.check().has_timeout());
  CHECK_FALSE(instance.check().has_ttl());
  CHECK(instance.tags_size() == 2);
  CHECK(instance.metadata().at("k") == "v");
  CHECK(instance.zone().empty());
}

TEST_CASE("the heartbeat period is ttl times heartbeat_fraction",
          "[client][registration]") {
  RegistrationOptions options = Valid();
  options.ttl = milliseconds(3000);
  CHECK(internal::HeartbeatPeriod(options) == milliseconds(1000));
  options.heartbeat_fraction = 0.5;
  CHECK(internal::HeartbeatPeriod(options) == milliseconds(1500));
}

TEST_CASE(
    "a registration with musterd unreachable keeps registering and "
    "shuts down at once",
    "[client][registration]") {
  ClientOptions client_options;
  client_options.addresses = {"127.0.0.1:1"};  // nothing listens on port 1
  std::shared_ptr<Client> client = Client::Create(client_options);
  REQUIRE(client != nullptr);
  grpc::Status status;
  std::unique_ptr<Registration> registration =
      Registration::Start(client, Valid(), &status);
  REQUIRE(registration != nullptr);
  CHECK(status.ok());
  CHECK(registration->status().id == "10.0.0.5:8080");
  CHECK_FALSE(registration->WaitRegistered(milliseconds(300)));
  RegistrationStatus now = registration->status();
  CHECK(now.state == RegistrationState::kRegistering);
  CHECK(now.registrations == 0);
  CHECK_THAT(now.last_error, Catch::StartsWith("Register: UNAVAILABLE"));

  // Nothing was registered: nothing to drain or deregister.
  const auto start = std::chrono::steady_clock::now();
  CHECK(registration->Shutdown().ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(registration->status().state == RegistrationState::kStopped);
  CHECK(registration->Shutdown().ok());  // idempotent
}

TEST_CASE("state names", "[client][registration]") {
  CHECK(std::string(StateName(RegistrationState::kRegistering)) ==
        "registering");
  CHECK(std::string(StateName(RegistrationState::kRegistered)) == "registered");
  CHECK(std::string(StateName(RegistrationState::kRetrying)) == "retrying");
  CHECK(std::string(StateName(RegistrationState::kFailed)) == "failed");
  CHECK(std::string(StateName(RegistrationState::kDraining)) == "draining");
  CHECK(std::string(StateName(RegistrationState::kStopped)) == "stopped");
}

}  // namespace
}  // namespace muster::client
