#include "codec/model_proto.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace muster::registry {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

CheckSpec HttpCheck() {
  CheckSpec check;
  check.kind = CheckKind::kHttp;
  check.interval = absl::Seconds(10) + absl::Milliseconds(250);
  check.timeout = absl::Milliseconds(1500);
  check.healthy_threshold = 2;
  check.unhealthy_threshold = 3;
  check.deregister_after = absl::Minutes(10);
  check.http_url = "http://10.0.0.1:8080/health";
  check.http_method = "HEAD";
  check.http_headers = {{"Authorization", "x"}, {"X-Probe", "muster"}};
  check.http_follow_redirects = true;
  return check;
}

Instance FullInstance() {
  Instance instance;
  instance.realm = "prod";
  instance.service = "identity";
  instance.id = "web-1";
  instance.address = "10.0.0.1";
  instance.port = 8080;
  instance.tags = {"blue", "primary"};
  instance.metadata = {{"az", "a"}, {"build", "42"}};
  instance.weight = 7;
  instance.zone = "eu-1";
  instance.version = "1.2.3";
  instance.set_check(HttpCheck());
  instance.health = Health::kWarning;
  instance.admin_state = AdminState::kDraining;
  instance.set_admin_reason("deploy");
  instance.set_check_output("HTTP 429");
  instance.registered_at = absl::FromUnixNanos(1700000000123456789);
  instance.status_changed_at = absl::FromUnixNanos(1700000100000000001);
  instance.create_revision = 11;
  instance.modify_revision = 15;
  return instance;
}

void RequireSameCheck(const CheckSpec& a, const CheckSpec& b) {
  CHECK(a.kind == b.kind);
  CHECK(a.interval == b.interval);
  CHECK(a.timeout == b.timeout);
  CHECK(a.ttl == b.ttl);
  CHECK(a.deregister_after == b.deregister_after);
  CHECK(a == b);
}

void RequireSameInstance(const Instance& a, const Instance& b) {
  CHECK(a.Key() == b.Key());
  CHECK(a.SameRegistration(b));
  RequireSameCheck(a.check(), b.check());
  CHECK(a.tags == b.tags);
  CHECK(a.metadata == b.metadata);
  CHECK(a.health == b.health);
  CHECK(a.admin_state == b.admin_state);
  CHECK(a.admin_reason() == b.admin_reason());
  CHECK(a.check_output() == b.check_output());
  CHECK(a.registered_at == b.registered_at);
  CHECK(a.status_changed_at == b.status_changed_at);
  CHECK(a.create_revision == b.create_revision);
  CHECK(a.modify_revision == b.modify_revision);
}

template <typename T>
T ValueOf(absl::StatusOr<T> value) {
  INFO(value.status().ToString());
  REQUIRE(value.ok());
  return *std::move(value);
}

TEST_CASE("model_proto: an instance round trips with every field",
          "[model_proto]") {
  const Instance instance = FullInstance();
  muster::v1::Instance proto;
  ToProto(instance, &proto);
  CHECK(proto.health() == muster::v1::HEALTH_WARNING);
  CHECK(proto.admin_state() == muster::v1::ADMIN_STATE_DRAINING);
  CHECK(proto.check().kind() == muster::v1::CHECK_KIND_HTTP);
  CHECK(proto.health_detail().output() == "HTTP 429");
  CHECK(proto.registered_at().seconds() == 1700000000);
  CHECK(proto.registered_at().nanos() == 123456789);
  CHECK(proto.check().interval().seconds() == 10);
  CHECK(proto.check().interval().nanos() == 250000000);
  CHECK(proto.metadata().at("build") == "42");

  RequireSameInstance(ValueOf(InstanceFromProto(proto, "instance")), instance);

  // Through the wire format too, as the store does.
  muster::v1::Instance parsed;
  REQUIRE(parsed.ParseFromString(proto.SerializeAsString()));
  RequireSameInstance(ValueOf(InstanceFromProto(parsed, "instance")), instance);
}

TEST_CASE("model_proto: tags become a sorted set and maps sorted pairs",
          "[model_proto]") {
  muster::v1::Instance proto;
  for (const char* tag : {"zeta", "alpha", "mid", "alpha", "zeta"}) {
    proto.add_tags(tag);
  }
  for (const char* key : {"k3", "k1", "k2"}) {
    (*proto.mutable_metadata())[key] = std::string("v") + key;
    (*proto.mutable_check()->mutable_http_headers())[key] = "h";
  }
  const Instance instance = ValueOf(InstanceFromProto(proto, "instance"));
  CHECK(instance.tags == std::vector<std::string>{"alpha", "mid", "zeta"});
  CHECK(instance.metadata ==
        Pairs{{"k1", "vk1"}, {"k2", "vk2"}, {"k3", "vk3"}});
  CHECK(instance.check().http_headers ==
        Pairs{{"k1", "h"}, {"k2", "h"}, {"k3", "h"}});
}

TEST_CASE("model_proto: a registration keeps the client's tag order",
          "[model_proto][registration]") {
  muster::v1::RegisterRequest request;
  request.set_realm("prod");
  muster::v1::Instance& proto = *request.mutable_instance();
  proto.set_service("web");
  for (const char* tag : {"zeta", "alpha", "mid", "alpha"}) proto.add_tags(tag);
  for (const char* key : {"k2", "k1"}) (*proto.mutable_metadata())[key] = "v";
  const Instance instance = ValueOf(RegistrationFromProto(request));
  CHECK(instance.tags ==
        std::vector<std::string>{"zeta", "alpha", "mid", "alpha"});
  CHECK(instance.metadata == Pairs{{"k1", "v"}, {"k2", "v"}});
  CHECK(instance.service == "web");
  // The request's realm field says where it goes.
  CHECK(instance.realm.empty());
}

TEST_CASE("model_proto: a registration refuses output-only fields",
          "[model_proto][registration]") {
  muster::v1::RegisterRequest full;
  ToProto(FullInstance(), full.mutable_instance());
  full.set_realm("prod");
  // The first one in field order is named.
  absl::Status status = RegistrationFromProto(full).status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(status.message() == "instance.health: output only; leave it unset");

  muster::v1::RegisterRequest request;
  request.mutable_instance()->set_service("web");
  request.mutable_instance()->set_create_revision(3);
  status = RegistrationFromProto(request).status();
  CHECK(status.message() ==
        "instance.create_revision: output only; leave it unset");

  request.mutable_instance()->set_create_revision(0);
  request.mutable_instance()->set_realm("prod");
  status = RegistrationFromProto(request).status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(status.message(), "instance.realm: "));
  request.set_realm("prod");
  CHECK(RegistrationFromProto(request).ok());
}

TEST_CASE("model_proto: unspecified enums take the model defaults",
          "[model_proto]") {
  const Instance instance =
      ValueOf(InstanceFromProto(muster::v1::Instance(), "instance"));
  CHECK(instance.check().kind == CheckKind::kNone);
  CHECK(instance.health == Health::kStarting);
  CHECK(instance.admin_state == AdminState::kEnabled);
  CHECK(instance.registered_at == absl::UnixEpoch());
  CHECK(instance.check().interval == absl::ZeroDuration());
  // No defaults are applied: weight 0 stays 0 for the registry to resolve.
  CHECK(instance.weight == 0);
}

TEST_CASE("model_proto: unknown enum values name the field", "[model_proto]") {
  muster::v1::Instance proto;
  SECTION("check kind") {
    proto.mutable_check()->set_kind(static_cast<muster::v1::CheckKind>(99));
    absl::Status status = InstanceFromProto(proto, "instance").status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message() == "instance.check.kind: unknown value 99");
  }
  SECTION("health") {
    proto.set_health(static_cast<muster::v1::Health>(5));
    absl::Status status = InstanceFromProto(proto, "req.instance").status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message() == "req.instance.health: unknown value 5");
  }
  SECTION("admin state") {
    proto.set_admin_state(static_cast<muster::v1::AdminState>(-1));
    absl::Status status = InstanceFromProto(proto, "instance").status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message() == "instance.admin_state: unknown value -1");
  }
}

TEST_CASE("model_proto: unset times and durations map to epoch and zero",
          "[model_proto]") {
  Instance instance = FullInstance();
  instance.registered_at = absl::UnixEpoch();
  instance.mutable_check()->timeout = absl::ZeroDuration();
  muster::v1::Instance proto;
  ToProto(instance, &proto);
  CHECK_FALSE(proto.has_registered_at());
  CHECK(proto.has_status_changed_at());
  CHECK_FALSE(proto.check().has_timeout());
  CHECK(proto.check().has_interval());
  RequireSameInstance(ValueOf(InstanceFromProto(proto, "instance")), instance);
}

TEST_CASE("model_proto: times before the epoch and negative durations survive",
          "[model_proto]") {
  google::protobuf::Timestamp timestamp;
  const absl::Time before = absl::FromUnixNanos(-1500000000);  // -1.5 s
  TimeToProto(before, &timestamp);
  CHECK(timestamp.seconds() == -2);
  CHECK(timestamp.nanos() == 500000000);
  CHECK(ValueOf(TimeFromProto(timestamp, "t")) == before);

  CheckSpec check;
  check.interval = -absl::Milliseconds(1500);
  check.ttl = -absl::Seconds(3);
  muster::v1::CheckSpec proto;
  ToProto(check, &proto);
  CHECK(proto.interval().seconds() == -1);
  CHECK(proto.interval().nanos() == -500000000);
  const CheckSpec back = ValueOf(CheckSpecFromProto(proto, "check"));
  CHECK(back.interval == -absl::Milliseconds(1500));
  CHECK(back.ttl == -absl::Seconds(3));
}

TEST_CASE("model_proto: malformed timestamps and durations are rejected",
          "[model_proto]") {
  muster::v1::Instance proto;
  SECTION("timestamp nanos out of range") {
    proto.mutable_registered_at()->set_nanos(1000000000);
    absl::Status status = InstanceFromProto(proto, "instance").status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(status.message(), "instance.registered_at:"));
  }
  SECTION("negative timestamp nanos") {
    proto.mutable_status_changed_at()->set_nanos(-1);
    absl::Status status = InstanceFromProto(proto, "instance").status();
    CHECK(absl::StartsWith(status.message(), "instance.status_changed_at:"));
  }
  SECTION("duration with mixed signs") {
    proto.mutable_check()->mutable_ttl()->set_seconds(1);
    proto.mutable_check()->mutable_ttl()->set_nanos(-1);
    absl::Status status = InstanceFromProto(proto, "instance").status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(status.message(), "instance.check.ttl:"));
  }
  SECTION("duration nanos out of range") {
    proto.mutable_check()->mutable_interval()->set_nanos(1000000000);
    absl::Status status = InstanceFromProto(proto, "instance").status();
    CHECK(absl::StartsWith(status.message(), "instance.check.interval:"));
  }
}

TEST_CASE("model_proto: ToProto overwrites the previous content",
          "[model_proto]") {
  muster::v1::Instance proto;
  ToProto(FullInstance(), &proto);
  Instance bare;
  bare.realm = "dev";
  ToProto(bare, &proto);
  CHECK(proto.tags_size() == 0);
  CHECK(proto.metadata().empty());
  CHECK_FALSE(proto.has_health_detail());
  CHECK_FALSE(proto.has_registered_at());
  CHECK(proto.realm() == "dev");
}

TEST_CASE("model_proto: a realm round trips", "[model_proto]") {
  Realm realm;
  realm.name = "staging";
  realm.description = "pre-production";
  realm.eviction_protection_share = 0.75;
  realm.default_deregister_after = absl::Minutes(5);
  realm.created_at = absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(7);
  realm.create_revision = 3;
  realm.modify_revision = 9;
  realm.modified_by = "token:ops";
  muster::v1::Realm proto;
  ToProto(realm, &proto);
  CHECK(proto.modified_by() == "token:ops");
  CHECK(proto.settings().description() == "pre-production");
  CHECK(proto.settings().default_deregister_after().seconds() == 300);
  const Realm back = ValueOf(RealmFromProto(proto, "realm"));
  CHECK(back.name == realm.name);
  CHECK(back.description == realm.description);
  CHECK(back.eviction_protection_share == realm.eviction_protection_share);
  CHECK(back.default_deregister_after == realm.default_deregister_after);
  CHECK(back.created_at == realm.created_at);
  CHECK(back.create_revision == 3);
  CHECK(back.modify_revision == 9);
  CHECK(back.modified_by == "token:ops");

  proto.mutable_settings()->mutable_default_deregister_after()->set_nanos(
      -1000000000);
  CHECK(RealmFromProto(proto, "realm").status().message() ==
        "realm.settings.default_deregister_after: invalid duration (seconds "
        "300, nanos -1000000000)");
}

TEST_CASE("model_proto: an event round trips", "[model_proto]") {
  Event event;
  event.revision = 42;
  event.type = EventType::kDelete;
  event.cause = EventCause::kEvicted;
  event.instance = std::make_shared<const Instance>(FullInstance());
  event.reason = "evicted: critical for 10m";
  event.time = absl::FromUnixNanos(1700000200000000999);
  event.actor = "health-checker";
  muster::v1::Event proto;
  ToProto(event, &proto);
  CHECK(proto.actor() == "health-checker");
  CHECK(proto.type() == muster::v1::Event::DELETE);
  CHECK(proto.cause() == muster::v1::Event::EVICTED);
  const Event back = ValueOf(EventFromProto(proto, "event"));
  CHECK(back.revision == 42);
  CHECK(back.type == EventType::kDelete);
  CHECK(back.cause == EventCause::kEvicted);
  CHECK(back.reason == event.reason);
  CHECK(back.time == event.time);
  CHECK(back.actor == "health-checker");
  REQUIRE(back.instance != nullptr);
  RequireSameInstance(*back.instance, *event.instance);
}

TEST_CASE("model_proto: malformed events are rejected", "[model_proto]") {
  muster::v1::Event proto;
  proto.set_revision(1);
  proto.set_type(muster::v1::Event::PUT);
  proto.set_cause(muster::v1::Event::REGISTERED);
  SECTION("without instance") {
    absl::Status status = EventFromProto(proto, "event").status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message() == "event.instance: required");
  }
  proto.mutable_instance()->set_realm("prod");
  SECTION("unknown type") {
    proto.set_type(static_cast<muster::v1::Event::Type>(3));
    CHECK(EventFromProto(proto, "event").status().message() ==
          "event.type: unknown value 3");
  }
  SECTION("unspecified cause") {
    proto.set_cause(muster::v1::Event::CAUSE_UNSPECIFIED);
    CHECK(EventFromProto(proto, "event").status().message() ==
          "event.cause: required");
  }
  SECTION("bad instance") {
    proto.mutable_instance()->mutable_check()->set_kind(
        static_cast<muster::v1::CheckKind>(99));
    CHECK(EventFromProto(proto, "event").status().message() ==
          "event.instance.check.kind: unknown value 99");
  }
  SECTION("a null instance is left unset by ToProto") {
    Event event;
    event.revision = 1;
    ToProto(event, &proto);
    CHECK_FALSE(proto.has_instance());
  }
}

TEST_CASE("model_proto: enum helpers map every model value", "[model_proto]") {
  for (Health health : {Health::kStarting, Health::kPassing, Health::kWarning,
                        Health::kCritical}) {
    CHECK(ValueOf(HealthFromProto(HealthToProto(health), "h")) == health);
  }
  for (AdminState state : {AdminState::kEnabled, AdminState::kDraining}) {
    CHECK(ValueOf(AdminStateFromProto(AdminStateToProto(state), "a")) == state);
  }
  for (CheckKind kind : {CheckKind::kNone, CheckKind::kTtl, CheckKind::kHttp,
                         CheckKind::kTcp, CheckKind::kGrpc}) {
    CHECK(ValueOf(CheckKindFromProto(CheckKindToProto(kind), "k")) == kind);
  }
  for (EventCause cause :
       {EventCause::kRegistered, EventCause::kUpdated,
        EventCause::kHealthChanged, EventCause::kAdminChanged,
        EventCause::kDeregistered, EventCause::kEvicted,
        EventCause::kRealmDeleted, EventCause::kSnapshot}) {
    CHECK(ValueOf(EventCauseFromProto(EventCauseToProto(cause), "c")) == cause);
  }
  CHECK(HealthToProto(Health::kCritical) == muster::v1::HEALTH_CRITICAL);
  CHECK(CheckKindToProto(CheckKind::kGrpc) == muster::v1::CHECK_KIND_GRPC);
  CHECK(EventCauseToProto(EventCause::kSnapshot) ==
        muster::v1::Event::SNAPSHOT);
  CHECK(CheckKindFromProto(6, "k").status().message() == "k: unknown value 6");
}

}  // namespace
}  // namespace muster::registry

namespace muster::registry {
namespace {

// EncodedSizeBound (what replies are bounded by) is never below the size
// of the message a client gets, from tiny instances to the largest ones.
TEST_CASE("model_proto: EncodedSizeBound bounds the encoded size",
          "[model_proto][size_bound]") {
  std::vector<Instance> cases;
  Instance small;
  small.realm = "r";
  small.service = "s";
  small.id = "i";
  small.address = "a";
  small.port = 1;
  cases.push_back(small);
  cases.push_back(FullInstance());
  Instance big = FullInstance();
  big.set_check_output(std::string(4096, 'o'));
  big.set_admin_reason(std::string(256, 'r'));
  big.version = std::string(128, 'v');
  big.tags.clear();
  for (int i = 0; i < 64; ++i) {
    big.tags.push_back(absl::StrCat(std::string(120, 't'), 1000 + i));
  }
  big.metadata.clear();
  for (int i = 0; i < 64; ++i) {
    big.metadata.emplace_back(absl::StrCat(std::string(120, 'k'), 1000 + i),
                              std::string(512, 'v'));
  }
  big.mutable_check()->http_headers.clear();
  for (int i = 0; i < 16; ++i) {
    big.mutable_check()->http_headers.emplace_back(absl::StrCat("X-H", 10 + i),
                                                   std::string(1024, 'h'));
  }
  big.mutable_check()->http_url =
      "http://example.com/" + std::string(2000, 'p');
  cases.push_back(big);

  for (const Instance& instance : cases) {
    muster::v1::Instance proto;
    ToProto(instance, &proto);
    // A client's copy may carry the checker's health detail too.
    proto.mutable_health_detail()->set_consecutive_failures(1u << 31);
    proto.mutable_health_detail()->mutable_last_checked_at()->set_seconds(
        int64_t{1} << 40);
    INFO("encoded " << proto.ByteSizeLong() << ", bound "
                    << EncodedSizeBound(instance));
    CHECK(proto.ByteSizeLong() + 8 <= EncodedSizeBound(instance));

    Event event;
    event.revision = uint64_t{1} << 60;
    event.type = EventType::kDelete;
    event.cause = EventCause::kRealmDeleted;
    event.instance = std::make_shared<const Instance>(instance);
    event.reason = std::string(300, 'x');
    event.time = absl::FromUnixSeconds(1800000000);
    muster::v1::Event wire;
    ToProto(event, &wire);
    CHECK(wire.ByteSizeLong() + 8 <= EncodedSizeBound(event));
  }
}

}  // namespace
}  // namespace muster::registry
