#pragma once

// The gRPC front end's lookups served as bytes. An instance version is
// serialized as a muster.v1.Instance once, on its first read, and kept in
// the instance's EncodingSlot (registry/encoding_slot.h) until the
// version is freed; ListInstances and GetInstance replies are then
// assembled from those bytes, never re-serialized per request:
//
//   ListInstancesResponse = for each instance: the `instances` entry
//                           (tag, length, cached Instance bytes),
//                           then next_page_token and revision;
//   GetInstance's Instance = the cached Instance bytes, then the live
//                           check state (LiveInstanceFields).
//
// Protobuf parses a message field repeated at the top level by merging
// the occurrences, so each reply parses exactly as the typed conversion
// (codec/read_responses.h) of the same data.
//
// Memory: every instance carries an 8-byte slot; only instances someone
// reads are encoded, each costing its encoded size (about 100 bytes for a
// small instance) plus about 50 bytes in two allocations, freed with the
// instance version. A realm listed whole is encoded whole.
//
// Thread-safe: an instance read through a shared const pointer (the
// index's) may be encoded by several readers at once; one encoding wins.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "checkapi/target_source.h"
#include "registry/encoding_slot.h"
#include "registry/index.h"
#include "registry/model.h"

namespace muster::registry {

// One instance version's serialized muster.v1.Instance, preceded by the
// header of a ListInstancesResponse `instances` entry. Immutable.
class InstanceWire final : public Encoding {
 public:
  explicit InstanceWire(const Instance& instance);
  InstanceWire(const InstanceWire&) = delete;
  InstanceWire& operator=(const InstanceWire&) = delete;

  // Field 1 of ListInstancesResponse (tag, length) and the message.
  absl::string_view entry() const {
    return absl::string_view(bytes_.get(), size_);
  }
  // The serialized muster.v1.Instance alone.
  absl::string_view message() const { return entry().substr(header_); }

 private:
  std::unique_ptr<char[]> bytes_;
  uint32_t size_ = 0;
  uint8_t header_ = 0;
};

// The wire form of `instance`, made on the first call and kept in
// instance.encoding. REQUIRES: `instance` is not changed any more (it is
// shared const) and nothing else installs encodings in its slot.
const InstanceWire& WireOf(const Instance& instance);

// The serialized muster.v1.ListInstancesResponse of `page`:
// ListInstancesSize(page) bytes, written at `out` by WriteListInstances,
// which returns the end. Encodes the instances not encoded yet.
size_t ListInstancesSize(const InstancePage& page);
char* WriteListInstances(const InstancePage& page, char* out);

// The fields GetInstance adds to the stored instance (health_detail's live
// counters and output, last_heartbeat_at), serialized as a muster.v1.Instance
// to append after WireOf(instance).message(): the result parses as the
// typed ToProto + FillHealthDetail.
std::string LiveInstanceFields(const healthchecker::HealthDetail& detail);

}  // namespace muster::registry
