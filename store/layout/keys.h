#pragma once

// The on-disk layout of the RocksDB store, format version 1.
//
// Column families (RocksDbStore opens them in this order):
//   "default"    meta keys, each value an 8-byte big-endian uint64:
//                  "meta/format_version"            kFormatVersion
//                  "meta/revision"                  last committed revision
//                  "meta/oldest_retained_revision"  change-log watermark
//                and the access tokens:
//                  "token/" + token name  serialized muster.v1.StoredToken
//                (a data dir from before tokens has none: it loads as is)
//   "realms"     key: realm name
//                value: serialized muster.v1.Realm
//   "instances"  key: realm \0 service \0 id (names never contain NUL),
//                so keys sort by realm, service, id and a realm or a
//                realm+service is a prefix scan
//                value: serialized muster.v1.Instance
//   "changelog"  key: 8-byte big-endian revision + 4-byte big-endian
//                sequence of the event within its revision, so keys sort
//                in commit order
//                value: serialized muster.v1.Event
//
// Any change to this layout bumps kFormatVersion. Proto fields and enum
// values are never renumbered (see types.proto).
//
// Everything here is a pure function; thread-safe.

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "registry/model.h"
#include "registry/store.h"

namespace muster::registry::keys {

inline constexpr uint64_t kFormatVersion = 1;

inline constexpr char kDefaultColumnFamily[] = "default";
inline constexpr char kRealmsColumnFamily[] = "realms";
inline constexpr char kInstancesColumnFamily[] = "instances";
inline constexpr char kChangelogColumnFamily[] = "changelog";

// Every column family of the format. Caution: RocksDbStore indexes its
// handles by position here; append only.
inline constexpr std::array<const char*, 4> kColumnFamilies = {
    kDefaultColumnFamily, kRealmsColumnFamily, kInstancesColumnFamily,
    kChangelogColumnFamily};

// Meta keys, in the default column family.
inline constexpr char kFormatVersionKey[] = "meta/format_version";
inline constexpr char kRevisionKey[] = "meta/revision";
inline constexpr char kOldestRetainedKey[] = "meta/oldest_retained_revision";
// Token records, in the default column family: kTokenKeyPrefix + name.
inline constexpr char kTokenKeyPrefix[] = "token/";

// 8-byte big-endian: byte order equals numeric order.
std::string EncodeUint64(uint64_t value);
// INVALID_ARGUMENT unless `bytes` is exactly 8 bytes.
absl::StatusOr<uint64_t> DecodeUint64(absl::string_view bytes);

// The realm's key. INVALID_ARGUMENT when the name is empty or holds NUL.
absl::StatusOr<std::string> EncodeRealmKey(absl::string_view realm);

// realm \0 service \0 id. INVALID_ARGUMENT when a part is empty or
// holds NUL.
absl::StatusOr<std::string> EncodeInstanceKey(const InstanceKey& key);
// INVALID_ARGUMENT unless `bytes` is three non-empty parts joined by NUL.
absl::StatusOr<InstanceKey> DecodeInstanceKey(absl::string_view bytes);
// The prefix shared by every instance key of `realm` ("realm\0").
std::string InstanceRealmPrefix(absl::string_view realm);
// The prefix shared by every instance key of realm+service.
std::string InstanceServicePrefix(absl::string_view realm,
                                  absl::string_view service);

// kTokenKeyPrefix + name. INVALID_ARGUMENT when the name is empty or
// holds NUL.
absl::StatusOr<std::string> EncodeTokenKey(absl::string_view name);

// A change-log entry's position: its revision and its index among the
// events of that revision.
struct ChangelogPosition {
  uint64_t revision = 0;
  uint32_t sequence = 0;
};

// 12 bytes: big-endian revision, big-endian sequence.
std::string EncodeChangelogKey(uint64_t revision, uint32_t sequence);
// INVALID_ARGUMENT unless `bytes` is exactly 12 bytes.
absl::StatusOr<ChangelogPosition> DecodeChangelogKey(absl::string_view bytes);

// Record values: serialized muster.v1 protos (Realm, Instance, Event,
// StoredToken).
std::string EncodeRealmValue(const Realm& realm);
std::string EncodeInstanceValue(const Instance& instance);
std::string EncodeEventValue(const Event& event);
// Serialized muster.v1.StoredToken: the token and its secret's hash.
std::string EncodeTokenValue(const Token& token);

// Decode one stored record. DATA_LOSS naming the key when the key or the
// value is malformed, holds an unknown enum value, or does not match the
// key (name, realm/service/id, revision); for a realm also when its
// settings break ValidateRealmSettings.
absl::StatusOr<Realm> DecodeRealmRecord(absl::string_view key,
                                        absl::string_view value);
absl::StatusOr<Instance> DecodeInstanceRecord(absl::string_view key,
                                              absl::string_view value);
absl::StatusOr<Event> DecodeChangelogRecord(absl::string_view key,
                                            absl::string_view value);
// Also DATA_LOSS when the secret hash is not 64 lowercase hex digits.
absl::StatusOr<Token> DecodeTokenRecord(absl::string_view key,
                                        absl::string_view value);

// The CommitBatch contract, checked by every Store before it writes:
// INTERNAL unless batch.revision > `store_revision` and every event has
// an instance and a revision in (store_revision, batch.revision], in
// non-decreasing order. (Key parts are checked by the Encode functions.)
absl::Status CheckCommitBatch(const CommitBatch& batch,
                              uint64_t store_revision);

}  // namespace muster::registry::keys
