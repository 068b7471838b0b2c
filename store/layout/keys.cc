#include "store/layout/keys.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "codec/model_proto.h"
#include "codec/token_proto.h"
#include "muster/v1/tokens.pb.h"
#include "muster/v1/types.pb.h"
#include "registry/validation.h"

namespace muster::registry::keys {
namespace {

constexpr char kSeparator = '\0';

void AppendBigEndian(uint64_t value, int bytes, std::string* out) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian(absl::string_view bytes) {
  uint64_t value = 0;
  for (char c : bytes) value = (value << 8) | static_cast<unsigned char>(c);
  return value;
}

absl::Status CheckKeyPart(absl::string_view what, absl::string_view part) {
  if (part.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("store key: ", what, " is empty"));
  }
  if (part.find(kSeparator) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store key: ", what, " \"", absl::CHexEscape(part), "\" holds NUL"));
  }
  return absl::OkStatus();
}

absl::Status Undecodable(absl::string_view what, absl::string_view key,
                         absl::string_view cause) {
  return absl::DataLossError(absl::StrCat(
      "cannot decode ", what, " \"", absl::CHexEscape(key), "\": ", cause));
}

// Parses `value` as a `Proto` and converts it with `from_proto`.
template <typename Proto, typename FromProto>
auto ParseRecord(absl::string_view what, absl::string_view key,
                 absl::string_view value, FromProto from_proto)
    -> decltype(from_proto(Proto())) {
  Proto proto;
  if (!proto.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Undecodable(what, key, "bad protobuf");
  }
  auto record = from_proto(proto);
  if (!record.ok()) return Undecodable(what, key, record.status().message());
  return record;
}

template <typename Proto, typename Model>
std::string Serialize(const Model& model) {
  Proto proto;
  ToProto(model, &proto);
  // Serializing a proto3 message into a string cannot fail.
  return proto.SerializeAsString();
}

}  // namespace

std::string EncodeUint64(uint64_t value) {
  std::string out;
  out.reserve(8);
  AppendBigEndian(value, 8, &out);
  return out;
}

absl::StatusOr<uint64_t> DecodeUint64(absl::string_view bytes) {
  if (bytes.size() != 8) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "store value: want an 8-byte integer, got %d bytes", bytes.size()));
  }
  return ReadBigEndian(bytes);
}

absl::StatusOr<std::string> EncodeRealmKey(absl::string_view realm) {
  absl::Status status = CheckKeyPart("realm", realm);
  if (!status.ok()) return status;
  return std::string(realm);
}

absl::StatusOr<std::string> EncodeInstanceKey(const InstanceKey& key) {
  for (const auto& [what, part] :
       {std::pair<absl::string_view, absl::string_view>{"realm", key.realm},
        {"service", key.service},
        {"id", key.id}}) {
    absl::Status status = CheckKeyPart(what, part);
    if (!status.ok()) return status;
  }
  return absl::StrCat(key.realm, absl::string_view(&kSeparator, 1), key.service,
                      absl::string_view(&kSeparator, 1), key.id);
}

absl::StatusOr<InstanceKey> DecodeInstanceKey(absl::string_view bytes) {
  const size_t first = bytes.find(kSeparator);
  const size_t second = first == absl::string_view::npos
                            ? absl::string_view::npos
                            : bytes.find(kSeparator, first + 1);
  const bool well_formed =
      second != absl::string_view::npos && first > 0 && second > first + 1 &&
      second + 1 < bytes.size() &&
      bytes.find(kSeparator, second + 1) == absl::string_view::npos;
  if (!well_formed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store key: malformed instance key \"", absl::CHexEscape(bytes), "\""));
  }
  InstanceKey key;
  key.realm = std::string(bytes.substr(0, first));
  key.service = std::string(bytes.substr(first + 1, second - first - 1));
  key.id = std::string(bytes.substr(second + 1));
  return key;
}

std::string InstanceRealmPrefix(absl::string_view realm) {
  return absl::StrCat(realm, absl::string_view(&kSeparator, 1));
}

std::string InstanceServicePrefix(absl::string_view realm,
                                  absl::string_view service) {
  return absl::StrCat(realm, absl::string_view(&kSeparator, 1), service,
                      absl::string_view(&kSeparator, 1));
}

absl::StatusOr<std::string> EncodeTokenKey(absl::string_view name) {
  absl::Status status = CheckKeyPart("token", name);
  if (!status.ok()) return status;
  return absl::StrCat(kTokenKeyPrefix, name);
}

std::string EncodeChangelogKey(uint64_t revision, uint32_t sequence) {
  std::string out;
  out.reserve(12);
  AppendBigEndian(revision, 8, &out);
  AppendBigEndian(sequence, 4, &out);
  return out;
}

absl::StatusOr<ChangelogPosition> DecodeChangelogKey(absl::string_view bytes) {
  if (bytes.size() != 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("store key: malformed change-log key \"",
                     absl::CHexEscape(bytes), "\""));
  }
  ChangelogPosition position;
  position.revision = ReadBigEndian(bytes.substr(0, 8));
  position.sequence = static_cast<uint32_t>(ReadBigEndian(bytes.substr(8)));
  return position;
}

std::string EncodeRealmValue(const Realm& realm) {
  return Serialize<muster::v1::Realm>(realm);
}

std::string EncodeInstanceValue(const Instance& instance) {
  return Serialize<muster::v1::Instance>(instance);
}

std::string EncodeEventValue(const Event& event) {
  return Serialize<muster::v1::Event>(event);
}

std::string EncodeTokenValue(const Token& token) {
  return Serialize<muster::v1::StoredToken>(token);
}

absl::StatusOr<Realm> DecodeRealmRecord(absl::string_view key,
                                        absl::string_view value) {
  absl::StatusOr<Realm> realm = ParseRecord<muster::v1::Realm>(
      "realm", key, value,
      [](const auto& proto) { return RealmFromProto(proto, "realm"); });
  if (realm.ok() && realm->name != key) {
    return Undecodable("realm", key, "name does not match key");
  }
  // Settings out of range are written only by corruption; loaded, they
  // would make every registration into the realm fail with INTERNAL
  // (ResolveCheckSpec requires valid settings).
  if (realm.ok()) {
    if (absl::Status valid = ValidateRealmSettings(*realm); !valid.ok()) {
      return Undecodable("realm", key, valid.message());
    }
  }
  return realm;
}

absl::StatusOr<Instance> DecodeInstanceRecord(absl::string_view key,
                                              absl::string_view value) {
  absl::StatusOr<InstanceKey> instance_key = DecodeInstanceKey(key);
  if (!instance_key.ok()) {
    return Undecodable("instance", key, instance_key.status().message());
  }
  absl::StatusOr<Instance> instance = ParseRecord<muster::v1::Instance>(
      "instance", key, value,
      [](const auto& proto) { return InstanceFromProto(proto, "instance"); });
  if (instance.ok() && !(instance->Key() == *instance_key)) {
    return Undecodable("instance", key, "realm/service/id do not match key");
  }
  return instance;
}

absl::StatusOr<Event> DecodeChangelogRecord(absl::string_view key,
                                            absl::string_view value) {
  absl::StatusOr<ChangelogPosition> position = DecodeChangelogKey(key);
  if (!position.ok()) {
    return Undecodable("change-log entry", key, position.status().message());
  }
  absl::StatusOr<Event> event = ParseRecord<muster::v1::Event>(
      "change-log entry", key, value,
      [](const auto& proto) { return EventFromProto(proto, "event"); });
  if (event.ok() && event->revision != position->revision) {
    return Undecodable("change-log entry", key, "revision does not match key");
  }
  return event;
}

absl::StatusOr<Token> DecodeTokenRecord(absl::string_view key,
                                        absl::string_view value) {
  if (!absl::StartsWith(key, kTokenKeyPrefix) ||
      key.size() == sizeof(kTokenKeyPrefix) - 1) {
    return Undecodable("token", key, "not a token key");
  }
  absl::StatusOr<Token> token = ParseRecord<muster::v1::StoredToken>(
      "token", key, value,
      [](const auto& proto) { return TokenFromProto(proto, "stored_token"); });
  if (!token.ok()) return token;
  if (token->name != key.substr(sizeof(kTokenKeyPrefix) - 1)) {
    return Undecodable("token", key, "name does not match key");
  }
  const std::string& hash = token->secret_hash;
  const bool hex =
      hash.size() == 64 && std::all_of(hash.begin(), hash.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      });
  if (!hex) return Undecodable("token", key, "malformed secret hash");
  return token;
}

absl::Status CheckCommitBatch(const CommitBatch& batch,
                              uint64_t store_revision) {
  if (batch.revision <= store_revision) {
    return absl::InternalError(
        absl::StrFormat("commit revision %d is not above the store revision %d",
                        batch.revision, store_revision));
  }
  uint64_t previous = store_revision + 1;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const Event& event = batch.events[i];
    if (event.instance == nullptr) {
      return absl::InternalError(absl::StrFormat(
          "commit revision %d: event %d has no instance", batch.revision, i));
    }
    if (event.revision < previous || event.revision > batch.revision) {
      return absl::InternalError(absl::StrFormat(
          "commit revision %d: event %d has revision %d, want %d..%d",
          batch.revision, i, event.revision, previous, batch.revision));
    }
    previous = event.revision;
  }
  return absl::OkStatus();
}

}  // namespace muster::registry::keys
