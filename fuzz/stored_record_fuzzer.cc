// Fuzzes the RocksDB store's record decoding (store/layout/keys.h), which
// RocksDbStore::Load and ReadChangeLog run on every stored key and value:
// any bytes as a stored realm, instance, change-log entry, access token or
// meta counter
// yield a value or a clear error, never a crash.
//
// Input: byte 0 picks the record kind, byte 1 the key's length; the key
// follows, the rest is the value.
//
// Invariants: a record decodes or fails with DATA_LOSS saying "cannot
// decode" (meta counters: INVALID_ARGUMENT unless exactly 8 bytes); what
// decodes matches its key, re-encodes to a value that decodes to the
// same record, and its key re-encodes to the same bytes; a decoded realm
// and instance load into a registry index that then serves them; a
// decoded realm's settings are valid (registrations resolve against
// them).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "codec/model_proto.h"
#include "codec/token_proto.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "muster/v1/tokens.pb.h"
#include "muster/v1/types.pb.h"
#include "registry/index.h"
#include "registry/model.h"
#include "registry/validation.h"
#include "store/layout/keys.h"

namespace {

using muster::registry::Event;
using muster::registry::Index;
using muster::registry::Instance;
using muster::registry::InstanceKey;
using muster::registry::ListQuery;
using muster::registry::Realm;
using muster::registry::StoredState;
namespace keys = muster::registry::keys;

template <typename Proto, typename Model>
bool SameRecord(const Model& a, const Model& b) {
  Proto pa;
  Proto pb;
  muster::registry::ToProto(a, &pa);
  muster::registry::ToProto(b, &pb);
  return google::protobuf::util::MessageDifferencer::Equals(pa, pb);
}

void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(absl::IsDataLoss(status), "want DATA_LOSS, got %s",
             status.ToString().c_str());
  FUZZ_CHECK(status.message().find("cannot decode") != absl::string_view::npos,
             "message does not say what failed: %s", status.ToString().c_str());
}

// What Load would give the registry: the record in an index, served.
void ServeFromIndex(const Realm& realm,
                    std::shared_ptr<const Instance> instance) {
  StoredState state;
  state.revision = 1;
  state.oldest_retained_revision = 2;
  state.realms.push_back(realm);
  if (instance != nullptr) state.instances.push_back(instance);
  Index index;
  index.Load(std::move(state));
  uint64_t revision = 0;
  FUZZ_CHECK(index.Realms(&revision).size() == 1, "the realm is not listed");
  ListQuery query;
  query.realm = realm.name;
  absl::StatusOr<muster::registry::InstancePage> page = index.List(query);
  FUZZ_CHECK(page.ok(), "List: %s", page.status().ToString().c_str());
  FUZZ_CHECK(page->instances.size() == (instance != nullptr ? 1u : 0u),
             "List found %zu instances", page->instances.size());
  if (instance != nullptr) {
    FUZZ_CHECK(index.FindInstance(instance->Key()) != nullptr,
               "the instance is not found by its key");
    FUZZ_CHECK(index.InstanceCount() == 1, "instance count %llu",
               static_cast<unsigned long long>(index.InstanceCount()));
  }
}

void FuzzRealm(absl::string_view key, absl::string_view value) {
  absl::StatusOr<Realm> realm = keys::DecodeRealmRecord(key, value);
  if (!realm.ok()) return CheckRefusal(realm.status());
  FUZZ_CHECK(realm->name == key, "realm name differs from its key");
  absl::StatusOr<std::string> encoded_key = keys::EncodeRealmKey(realm->name);
  if (encoded_key.ok()) {
    FUZZ_CHECK(*encoded_key == key, "the realm key does not round-trip");
  }
  absl::StatusOr<Realm> again =
      keys::DecodeRealmRecord(key, keys::EncodeRealmValue(*realm));
  FUZZ_CHECK(again.ok(), "re-encoded realm: %s",
             again.status().ToString().c_str());
  FUZZ_CHECK((SameRecord<muster::v1::Realm>(*realm, *again)),
             "the realm does not round-trip");
  // The registry takes a loaded realm's settings as valid: registrations
  // into it resolve their checks against them.
  const absl::Status valid = muster::registry::ValidateRealmSettings(*realm);
  FUZZ_CHECK(valid.ok(), "a realm with invalid settings decoded: %s",
             valid.ToString().c_str());
  muster::CheckSpec check;
  check.kind = muster::CheckKind::kTcp;
  absl::StatusOr<muster::CheckSpec> resolved =
      muster::registry::ResolveCheckSpec(check, realm->default_deregister_after,
                                         "instance.check");
  FUZZ_CHECK(resolved.ok(), "a check cannot resolve in a loaded realm: %s",
             resolved.status().ToString().c_str());
  ServeFromIndex(*realm, nullptr);
}

void FuzzInstance(absl::string_view key, absl::string_view value) {
  absl::StatusOr<Instance> instance = keys::DecodeInstanceRecord(key, value);
  if (!instance.ok()) return CheckRefusal(instance.status());
  absl::StatusOr<InstanceKey> decoded_key = keys::DecodeInstanceKey(key);
  FUZZ_CHECK(decoded_key.ok(), "an instance decoded under a malformed key");
  FUZZ_CHECK(instance->Key() == *decoded_key, "instance differs from its key");
  absl::StatusOr<std::string> encoded_key =
      keys::EncodeInstanceKey(instance->Key());
  FUZZ_CHECK(encoded_key.ok() && *encoded_key == key,
             "the instance key does not round-trip");
  absl::StatusOr<Instance> again =
      keys::DecodeInstanceRecord(key, keys::EncodeInstanceValue(*instance));
  FUZZ_CHECK(again.ok(), "re-encoded instance: %s",
             again.status().ToString().c_str());
  FUZZ_CHECK((SameRecord<muster::v1::Instance>(*instance, *again)),
             "the instance does not round-trip");
  Realm realm;
  realm.name = instance->realm;
  ServeFromIndex(realm, std::make_shared<const Instance>(*instance));
}

void FuzzChangelog(absl::string_view key, absl::string_view value) {
  absl::StatusOr<Event> event = keys::DecodeChangelogRecord(key, value);
  if (!event.ok()) return CheckRefusal(event.status());
  absl::StatusOr<keys::ChangelogPosition> position =
      keys::DecodeChangelogKey(key);
  FUZZ_CHECK(position.ok(), "an event decoded under a malformed key");
  FUZZ_CHECK(position->revision == event->revision,
             "event revision differs from its key");
  FUZZ_CHECK(
      keys::EncodeChangelogKey(position->revision, position->sequence) == key,
      "the change-log key does not round-trip");
  FUZZ_CHECK(event->instance != nullptr, "an event without its instance");
  absl::StatusOr<Event> again =
      keys::DecodeChangelogRecord(key, keys::EncodeEventValue(*event));
  FUZZ_CHECK(again.ok(), "re-encoded event: %s",
             again.status().ToString().c_str());
  FUZZ_CHECK((SameRecord<muster::v1::Event>(*event, *again)),
             "the event does not round-trip");
}

void FuzzToken(absl::string_view key, absl::string_view value) {
  absl::StatusOr<muster::registry::Token> token =
      keys::DecodeTokenRecord(key, value);
  if (!token.ok()) return CheckRefusal(token.status());
  absl::StatusOr<std::string> encoded_key = keys::EncodeTokenKey(token->name);
  FUZZ_CHECK(encoded_key.ok() && *encoded_key == key,
             "the token key does not round-trip");
  absl::StatusOr<muster::registry::Token> again =
      keys::DecodeTokenRecord(key, keys::EncodeTokenValue(*token));
  FUZZ_CHECK(again.ok(), "re-encoded token: %s",
             again.status().ToString().c_str());
  muster::v1::StoredToken a;
  muster::v1::StoredToken b;
  muster::registry::ToProto(*token, &a);
  muster::registry::ToProto(*again, &b);
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(a, b),
             "the token does not round-trip");
}

void FuzzCounter(absl::string_view value) {
  absl::StatusOr<uint64_t> counter = keys::DecodeUint64(value);
  FUZZ_CHECK(counter.ok() == (value.size() == 8), "%zu bytes decoded: %d",
             value.size(), counter.ok());
  if (!counter.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(counter.status()),
               "want "
               "INVALID_ARGUMENT, got %s",
               counter.status().ToString().c_str());
    return;
  }
  FUZZ_CHECK(keys::EncodeUint64(*counter) == value,
             "the counter does not round-trip");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // libprotobuf logs every string field that is not UTF-8; the daemon
  // routes those lines through its rate-limited logger, here they are
  // noise.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t kind = data[0] % 5;
  absl::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  const size_t key_size = std::min<size_t>(data[1], rest.size());
  const absl::string_view key = rest.substr(0, key_size);
  const absl::string_view value = rest.substr(key_size);
  switch (kind) {
    case 0:
      FuzzRealm(key, value);
      break;
    case 1:
      FuzzInstance(key, value);
      break;
    case 2:
      FuzzChangelog(key, value);
      break;
    case 3:
      FuzzCounter(value);
      break;
    case 4:
      FuzzToken(key, value);
      break;
  }
  return 0;
}
