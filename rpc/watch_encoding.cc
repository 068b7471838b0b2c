#include "rpc/watch_encoding.h"

#include <grpcpp/support/slice.h>

#include <utility>

#include "codec/model_proto.h"
#include "muster/v1/registry.pb.h"

namespace muster::registry {
namespace {

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

class WireEncoder final : public EventEncoder {
 public:
  std::shared_ptr<const EventPayload> Encode(
      const Event& event) const override {
    muster::v1::Event message;
    ToProto(event, &message);
    const size_t size = message.ByteSizeLong();
    std::string entry;
    entry.reserve(size + 12);
    // Field `events`, wire type 2 (length-delimited).
    AppendVarint(
        (static_cast<uint64_t>(muster::v1::WatchResponse::kEventsFieldNumber)
         << 3) |
            2,
        &entry);
    AppendVarint(size, &entry);
    const size_t header = entry.size();
    entry.resize(header + size);
    message.SerializeWithCachedSizesToArray(
        reinterpret_cast<uint8_t*>(entry.data() + header));
    return std::make_shared<WireEvent>(std::move(entry));
  }
};

muster::v1::WatchResponse::Kind KindToProto(WatchBatch::Kind kind) {
  switch (kind) {
    case WatchBatch::Kind::kSnapshot:
      return muster::v1::WatchResponse::SNAPSHOT;
    case WatchBatch::Kind::kSnapshotEnd:
      return muster::v1::WatchResponse::SNAPSHOT_END;
    case WatchBatch::Kind::kEvents:
      return muster::v1::WatchResponse::EVENTS;
    case WatchBatch::Kind::kProgress:
      return muster::v1::WatchResponse::PROGRESS;
  }
  return muster::v1::WatchResponse::KIND_UNSPECIFIED;
}

// Releases the reference a slice held on its payload.
void Unref(void* payload) {
  delete static_cast<std::shared_ptr<const EventPayload>*>(payload);
}

}  // namespace

const EventEncoder& WireEventEncoder() {
  static const WireEncoder* const encoder = new WireEncoder();
  return *encoder;
}

grpc::ByteBuffer EncodeWatchResponse(const WatchBatch& batch) {
  muster::v1::WatchResponse head;
  head.set_kind(KindToProto(batch.kind));
  head.set_revision(batch.revision);
  const std::string head_bytes = head.SerializeAsString();

  std::vector<grpc::Slice> slices;
  slices.reserve(1 + batch.payloads.size());
  slices.emplace_back(head_bytes.data(), head_bytes.size());  // copied
  for (const std::shared_ptr<const EventPayload>& payload : batch.payloads) {
    const auto& wire = static_cast<const WireEvent&>(*payload);
    // gRPC only reads the bytes; its C API takes them as non-const.
    slices.emplace_back(const_cast<char*>(wire.entry().data()),
                        wire.entry().size(), &Unref,
                        new std::shared_ptr<const EventPayload>(payload));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

}  // namespace muster::registry
