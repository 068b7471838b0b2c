#include "store/layout/keys.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "codec/model_proto.h"
#include "muster/v1/types.pb.h"

namespace muster::registry::keys {
namespace {

std::string Nul() { return std::string(1, '\0'); }

TEST_CASE("keys: uint64 encoding is 8 bytes big-endian and round trips",
          "[keys]") {
  CHECK(EncodeUint64(0x0102030405060708) ==
        std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  for (uint64_t value :
       {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256},
        uint64_t{1} << 32, std::numeric_limits<uint64_t>::max()}) {
    const std::string encoded = EncodeUint64(value);
    REQUIRE(encoded.size() == 8);
    absl::StatusOr<uint64_t> decoded = DecodeUint64(encoded);
    INFO(decoded.status().ToString());
    REQUIRE(decoded.ok());
    CHECK(*decoded == value);
  }
}

TEST_CASE("keys: encoded uint64 byte order equals numeric order", "[keys]") {
  const std::vector<uint64_t> values = {
      0,
      1,
      127,
      128,
      255,
      256,
      65535,
      65536,
      1u << 31,
      uint64_t{1} << 32,
      (uint64_t{1} << 32) + 1,
      uint64_t{1} << 56,
      std::numeric_limits<uint64_t>::max() - 1,
      std::numeric_limits<uint64_t>::max()};
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    INFO(values[i] << " vs " << values[i + 1]);
    CHECK(EncodeUint64(values[i]) < EncodeUint64(values[i + 1]));
  }
}

TEST_CASE("keys: uint64 decoding rejects a wrong length", "[keys]") {
  for (const std::string& bytes :
       {std::string(), std::string(7, 'x'), std::string(9, 'x')}) {
    absl::StatusOr<uint64_t> decoded = DecodeUint64(bytes);
    CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("keys: realm keys are the name and reject empty or NUL", "[keys]") {
  absl::StatusOr<std::string> key = EncodeRealmKey("prod");
  INFO(key.status().ToString());
  REQUIRE(key.ok());
  CHECK(*key == "prod");
  CHECK(EncodeRealmKey("").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(EncodeRealmKey("a" + Nul() + "b").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("keys: instance keys round trip", "[keys]") {
  const InstanceKey key{"prod", "identity", "web-1.a:b"};
  absl::StatusOr<std::string> encoded = EncodeInstanceKey(key);
  INFO(encoded.status().ToString());
  REQUIRE(encoded.ok());
  CHECK(*encoded == "prod" + Nul() + "identity" + Nul() + "web-1.a:b");
  absl::StatusOr<InstanceKey> decoded = DecodeInstanceKey(*encoded);
  INFO(decoded.status().ToString());
  REQUIRE(decoded.ok());
  CHECK(*decoded == key);
}

TEST_CASE("keys: instance key order is realm then service then id", "[keys]") {
  // Shorter names sort before longer ones that extend them.
  std::vector<InstanceKey> sorted = {
      {"a", "s", "1"}, {"a", "s", "10"},  {"a", "s", "2"},  {"a", "s-x", "1"},
      {"a", "t", "0"}, {"a-b", "a", "a"}, {"ab", "a", "a"}, {"b", "a", "a"},
  };
  REQUIRE(std::is_sorted(sorted.begin(), sorted.end()));
  std::vector<std::string> encoded;
  for (const InstanceKey& key : sorted) {
    absl::StatusOr<std::string> bytes = EncodeInstanceKey(key);
    INFO(bytes.status().ToString());
    REQUIRE(bytes.ok());
    encoded.push_back(*bytes);
  }
  CHECK(std::is_sorted(encoded.begin(), encoded.end()));
}

TEST_CASE("keys: instance key encoding rejects empty parts and NUL", "[keys]") {
  for (const InstanceKey& key :
       {InstanceKey{"", "s", "i"}, InstanceKey{"r", "", "i"},
        InstanceKey{"r", "s", ""}, InstanceKey{"r" + Nul(), "s", "i"},
        InstanceKey{"r", "s" + Nul() + "x", "i"},
        InstanceKey{"r", "s", "i" + Nul()}}) {
    absl::StatusOr<std::string> encoded = EncodeInstanceKey(key);
    INFO(encoded.status().ToString());
    CHECK(encoded.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("keys: malformed instance keys are rejected", "[keys]") {
  const std::string n = Nul();
  for (const std::string& bytes :
       {std::string(), std::string("prod"), "prod" + n + "svc",
        "prod" + n + "svc" + n, n + "svc" + n + "id", "prod" + n + n + "id",
        "prod" + n + "svc" + n + "id" + n + "x", "prod" + n + "svc" + n + n}) {
    absl::StatusOr<InstanceKey> decoded = DecodeInstanceKey(bytes);
    CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("keys: realm and service prefixes select exactly their keys",
          "[keys]") {
  absl::StatusOr<std::string> in_realm = EncodeInstanceKey({"a", "s", "1"});
  absl::StatusOr<std::string> other_realm = EncodeInstanceKey({"ab", "s", "1"});
  absl::StatusOr<std::string> other_service =
      EncodeInstanceKey({"a", "s2", "1"});
  REQUIRE(in_realm.ok());
  REQUIRE(other_realm.ok());
  REQUIRE(other_service.ok());
  CHECK(absl::StartsWith(*in_realm, InstanceRealmPrefix("a")));
  CHECK(absl::StartsWith(*other_service, InstanceRealmPrefix("a")));
  CHECK_FALSE(absl::StartsWith(*other_realm, InstanceRealmPrefix("a")));
  CHECK(absl::StartsWith(*in_realm, InstanceServicePrefix("a", "s")));
  CHECK_FALSE(
      absl::StartsWith(*other_service, InstanceServicePrefix("a", "s")));
}

TEST_CASE("keys: change-log keys round trip and sort by revision then sequence",
          "[keys]") {
  const std::string key = EncodeChangelogKey(0x0102030405060708, 0x0a0b0c0d);
  CHECK(key ==
        std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x0a\x0b\x0c\x0d", 12));
  absl::StatusOr<ChangelogPosition> position = DecodeChangelogKey(key);
  INFO(position.status().ToString());
  REQUIRE(position.ok());
  CHECK(position->revision == 0x0102030405060708);
  CHECK(position->sequence == 0x0a0b0c0d);

  CHECK(EncodeChangelogKey(1, 0) < EncodeChangelogKey(1, 1));
  CHECK(EncodeChangelogKey(1, 255) < EncodeChangelogKey(1, 256));
  CHECK(EncodeChangelogKey(1, std::numeric_limits<uint32_t>::max()) <
        EncodeChangelogKey(2, 0));
  CHECK(EncodeChangelogKey(255, 7) < EncodeChangelogKey(256, 0));
}

TEST_CASE("keys: malformed change-log keys are rejected", "[keys]") {
  for (const std::string& bytes :
       {std::string(), std::string(8, 'x'), std::string(11, 'x'),
        std::string(13, 'x')}) {
    CHECK(DecodeChangelogKey(bytes).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("keys: the column families and format version are fixed", "[keys]") {
  // These names are on disk: changing them needs a new format version.
  CHECK(kFormatVersion == 1);
  REQUIRE(kColumnFamilies.size() == 4);
  CHECK(std::string(kColumnFamilies[0]) == "default");
  CHECK(std::string(kColumnFamilies[1]) == "realms");
  CHECK(std::string(kColumnFamilies[2]) == "instances");
  CHECK(std::string(kColumnFamilies[3]) == "changelog");
}

TEST_CASE("keys: records round trip through their values", "[keys]") {
  Realm realm;
  realm.name = "prod";
  realm.description = "production";
  realm.create_revision = 3;
  realm.modified_by = "token:ops";
  absl::StatusOr<Realm> realm_back =
      DecodeRealmRecord("prod", EncodeRealmValue(realm));
  INFO(realm_back.status().ToString());
  REQUIRE(realm_back.ok());
  CHECK(realm_back->description == "production");
  CHECK(realm_back->create_revision == 3);
  CHECK(realm_back->modified_by == "token:ops");

  Instance instance;
  instance.realm = "prod";
  instance.service = "web";
  instance.id = "w1";
  instance.port = 80;
  instance.health = Health::kCritical;
  absl::StatusOr<std::string> key = EncodeInstanceKey(instance.Key());
  REQUIRE(key.ok());
  absl::StatusOr<Instance> instance_back =
      DecodeInstanceRecord(*key, EncodeInstanceValue(instance));
  INFO(instance_back.status().ToString());
  REQUIRE(instance_back.ok());
  CHECK(instance_back->Key() == instance.Key());
  CHECK(instance_back->port == 80);
  CHECK(instance_back->health == Health::kCritical);

  Event event;
  event.revision = 9;
  event.type = EventType::kDelete;
  event.cause = EventCause::kDeregistered;
  event.instance = std::make_shared<const Instance>(instance);
  event.actor = "cert:CN=deployer";
  absl::StatusOr<Event> event_back =
      DecodeChangelogRecord(EncodeChangelogKey(9, 2), EncodeEventValue(event));
  INFO(event_back.status().ToString());
  REQUIRE(event_back.ok());
  CHECK(event_back->revision == 9);
  CHECK(event_back->type == EventType::kDelete);
  CHECK(event_back->actor == "cert:CN=deployer");
  REQUIRE(event_back->instance != nullptr);
  CHECK(event_back->instance->id == "w1");
}

TEST_CASE("keys: damaged records are DATA_LOSS naming the key", "[keys]") {
  Instance instance;
  instance.realm = "prod";
  instance.service = "web";
  instance.id = "w1";
  const std::string instance_key = "prod" + Nul() + "web" + Nul() + "w1";
  Event event;
  event.revision = 9;
  event.instance = std::make_shared<const Instance>(instance);
  absl::Status status;

  SECTION("garbage value") {
    status = DecodeInstanceRecord(instance_key, "\xff\xff\xff").status();
    CHECK(absl::StrContains(status.message(), "bad protobuf"));
  }
  SECTION("realm name does not match the key") {
    Realm realm;
    realm.name = "dev";
    status = DecodeRealmRecord("prod", EncodeRealmValue(realm)).status();
    CHECK(absl::StrContains(status.message(), "does not match"));
  }
  SECTION("instance does not match the key") {
    status = DecodeInstanceRecord("prod" + Nul() + "web" + Nul() + "w2",
                                  EncodeInstanceValue(instance))
                 .status();
    CHECK(absl::StrContains(status.message(), "do not match"));
  }
  SECTION("malformed instance key") {
    status =
        DecodeInstanceRecord("prod", EncodeInstanceValue(instance)).status();
  }
  SECTION("unknown enum value") {
    muster::v1::Instance proto;
    ToProto(instance, &proto);
    proto.set_health(static_cast<muster::v1::Health>(42));
    status =
        DecodeInstanceRecord(instance_key, proto.SerializeAsString()).status();
    CHECK(absl::StrContains(status.message(),
                            "instance.health: unknown value 42"));
  }
  SECTION("event revision does not match the key") {
    status =
        DecodeChangelogRecord(EncodeChangelogKey(8, 0), EncodeEventValue(event))
            .status();
    CHECK(absl::StrContains(status.message(), "revision does not match"));
  }
  SECTION("malformed change-log key") {
    status = DecodeChangelogRecord("short", EncodeEventValue(event)).status();
  }
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kDataLoss);
  CHECK(absl::StrContains(status.message(), "cannot decode"));
}

// Found by fuzz/stored_record_fuzzer.cc: a realm record whose settings
// are out of range decoded and loaded, and every Register into the realm
// then failed with INTERNAL ("default deregister_after 5s is outside its
// limits"). The inputs are the fuzzer's, inline.
TEST_CASE("keys: a stored realm with settings out of range is DATA_LOSS",
          "[keys]") {
  // muster.v1.Realm{name: "prod", settings{default_deregister_after: 5s}}
  const std::string five_seconds("\x0a\x04prod\x12\x04\x1a\x02\x08\x05", 12);
  // muster.v1.Realm{name: "prod", settings{eviction_protection_share: NaN}}
  const std::string nan_share(
      "\x0a\x04prod\x12\x09\x11\x00\x00\x00\x00\x00\x00\xf8\x7f", 17);
  for (const auto& [value, field] :
       {std::pair<std::string, std::string>{
            five_seconds, "settings.default_deregister_after"},
        {nan_share, "settings.eviction_protection_share"}}) {
    const absl::Status status = DecodeRealmRecord("prod", value).status();
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(status.message(), "cannot decode realm \"prod\""));
    CHECK(absl::StrContains(status.message(), field));
  }
  // In range, the same record loads.
  const std::string one_hour("\x0a\x04prod\x12\x05\x1a\x03\x08\x90\x1c", 13);
  absl::StatusOr<Realm> realm = DecodeRealmRecord("prod", one_hour);
  INFO(realm.status().ToString());
  REQUIRE(realm.ok());
  CHECK(realm->default_deregister_after == absl::Hours(1));
}

Event EventAt(uint64_t revision) {
  Event event;
  event.revision = revision;
  event.instance = std::make_shared<const Instance>();
  return event;
}

TEST_CASE("keys: commit batches are checked against the store revision",
          "[keys]") {
  CommitBatch batch;
  batch.revision = 5;
  batch.events = {EventAt(4), EventAt(4), EventAt(5)};
  absl::Status status = CheckCommitBatch(batch, 3);
  INFO(status.ToString());
  CHECK(status.ok());

  SECTION("revision not above the store") {
    CHECK(CheckCommitBatch(batch, 5).code() == absl::StatusCode::kInternal);
  }
  SECTION("event at or below the store revision") {
    CHECK(CheckCommitBatch(batch, 4).code() == absl::StatusCode::kInternal);
  }
  SECTION("event above the batch") {
    batch.events.push_back(EventAt(6));
    CHECK(CheckCommitBatch(batch, 3).code() == absl::StatusCode::kInternal);
  }
  SECTION("events out of order") {
    batch.events.push_back(EventAt(4));
    CHECK(CheckCommitBatch(batch, 3).code() == absl::StatusCode::kInternal);
  }
  SECTION("event without instance") {
    batch.events[1].instance = nullptr;
    status = CheckCommitBatch(batch, 3);
    CHECK(status.code() == absl::StatusCode::kInternal);
    CHECK(absl::StrContains(status.message(), "no instance"));
  }
}

}  // namespace
}  // namespace muster::registry::keys
