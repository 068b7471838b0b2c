#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "registry/event_payload.h"
#include "registry/watch_hub.h"

namespace muster::registry {

// A watch event as the gRPC front end sends it: the bytes of one
// `events` entry of a muster.v1.WatchResponse (field tag, length, the
// serialized muster.v1.Event). Built once per event and shared, without a
// copy, by every stream that sends it.
class WireEvent final : public EventPayload {
 public:
  explicit WireEvent(std::string entry) : entry_(std::move(entry)) {}
  const std::string& entry() const { return entry_; }
  size_t bytes() const override { return entry_.size(); }

 private:
  std::string entry_;
};

// The gRPC front end's event encoder; its payloads are WireEvents.
const EventEncoder& WireEventEncoder();

// The muster.v1.WatchResponse for `batch`, whose payloads come from
// WireEventEncoder(): kind and revision are encoded here, and each event
// is a slice pointing at its shared WireEvent (the slice keeps it alive).
// Protobuf accepts a message's fields in any order, so a client parses
// the concatenation as the one response.
grpc::ByteBuffer EncodeWatchResponse(const WatchBatch& batch);

}  // namespace muster::registry
