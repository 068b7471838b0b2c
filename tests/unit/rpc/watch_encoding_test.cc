// The Watch stream's wire encoding: a response assembled from shared
// WireEvents parses as the muster.v1.WatchResponse built the ordinary
// way, whatever the kind and the events' sizes, and the byte buffer keeps
// every payload alive until gRPC is done with it.

#include "rpc/watch_encoding.h"

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "codec/model_proto.h"
#include "muster/v1/registry.pb.h"
#include "registry/model.h"
#include "registry/watch_hub.h"

namespace muster::registry {
namespace {

// An event whose instance carries one metadata value of `value_bytes`.
Event MakeEvent(uint64_t revision, const std::string& id, size_t value_bytes,
                EventCause cause = EventCause::kRegistered) {
  Instance instance;
  instance.realm = "default";
  instance.service = "web";
  instance.id = id;
  instance.address = "10.0.0.7";
  instance.port = 8080;
  instance.tags = {"blue", "canary"};
  instance.metadata = {{"blob", std::string(value_bytes, 'v')},
                       {"team", "search"}};
  instance.zone = "eu-1a";
  instance.version = "1.4.2";
  instance.health = Health::kPassing;
  instance.registered_at = absl::FromUnixSeconds(1800000000);
  instance.status_changed_at = absl::FromUnixMillis(1800000000123);
  instance.create_revision = revision > 1 ? revision - 1 : revision;
  instance.modify_revision = revision;
  Event event;
  event.revision = revision;
  event.type = EventType::kPut;
  event.cause = cause;
  event.instance = std::make_shared<const Instance>(std::move(instance));
  event.reason = "because " + id;
  event.time = absl::FromUnixMillis(1800000000456 + revision);
  return event;
}

// An event of a few dozen bytes once serialized.
Event MakeTinyEvent(uint64_t revision, const std::string& id) {
  Instance instance;
  instance.realm = "default";
  instance.service = "web";
  instance.id = id;
  instance.modify_revision = revision;
  Event event;
  event.revision = revision;
  event.type = EventType::kDelete;
  event.cause = EventCause::kDeregistered;
  event.instance = std::make_shared<const Instance>(std::move(instance));
  return event;
}

size_t VarintBytes(uint64_t value) {
  size_t bytes = 1;
  for (; value >= 0x80; value >>= 7) ++bytes;
  return bytes;
}

// A batch as the hub hands it out, encoded by WireEventEncoder().
WatchBatch MakeBatch(WatchBatch::Kind kind, uint64_t revision,
                     std::vector<Event> events) {
  WatchBatch batch;
  batch.kind = kind;
  batch.revision = revision;
  for (Event& event : events) {
    batch.payloads.push_back(WireEventEncoder().Encode(event));
    batch.bytes += batch.payloads.back()->bytes();
    batch.events.push_back(std::move(event));
  }
  return batch;
}

// The response built the ordinary way.
muster::v1::WatchResponse Expected(muster::v1::WatchResponse::Kind kind,
                                   const WatchBatch& batch) {
  muster::v1::WatchResponse response;
  response.set_kind(kind);
  response.set_revision(batch.revision);
  for (const Event& event : batch.events) ToProto(event, response.add_events());
  return response;
}

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  const grpc::Status dumped = buffer.Dump(&slices);
  INFO(dumped.error_message());
  REQUIRE(dumped.ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

// Encodes `batch`, parses the bytes back and compares with `expected`.
void CheckRoundTrip(const WatchBatch& batch,
                    const muster::v1::WatchResponse& expected) {
  const grpc::ByteBuffer buffer = EncodeWatchResponse(batch);
  const std::string bytes = Bytes(buffer);
  CHECK(buffer.Length() == bytes.size());
  muster::v1::WatchResponse parsed;
  REQUIRE(parsed.ParseFromString(bytes));
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  INFO(difference);
  CHECK(differencer.Compare(expected, parsed));
  // Nothing but the fields: same size as the ordinary serialization.
  CHECK(bytes.size() == expected.ByteSizeLong());
}

const WireEvent& Wire(const WatchBatch& batch, size_t i) {
  const auto* wire = dynamic_cast<const WireEvent*>(batch.payloads[i].get());
  REQUIRE(wire != nullptr);
  return *wire;
}

}  // namespace

TEST_CASE("watch encoding: a SNAPSHOT message parses as the ordinary one",
          "[watch_encoding]") {
  WatchBatch batch =
      MakeBatch(WatchBatch::Kind::kSnapshot, 42,
                {MakeEvent(40, "a", 10, EventCause::kSnapshot),
                 MakeEvent(41, "b", 0, EventCause::kSnapshot),
                 MakeEvent(42, "c", 100, EventCause::kSnapshot)});
  CheckRoundTrip(batch, Expected(muster::v1::WatchResponse::SNAPSHOT, batch));
}

TEST_CASE(
    "watch encoding: SNAPSHOT_END without events carries only kind and "
    "revision",
    "[watch_encoding]") {
  WatchBatch batch = MakeBatch(WatchBatch::Kind::kSnapshotEnd, 7, {});
  const muster::v1::WatchResponse expected =
      Expected(muster::v1::WatchResponse::SNAPSHOT_END, batch);
  CHECK(expected.events().empty());
  CheckRoundTrip(batch, expected);

  // Revision 0 (an empty store) is still a valid message.
  batch.revision = 0;
  CheckRoundTrip(batch,
                 Expected(muster::v1::WatchResponse::SNAPSHOT_END, batch));
}

TEST_CASE(
    "watch encoding: an EVENTS message of small and big events parses as "
    "the ordinary one",
    "[watch_encoding]") {
  // Entry lengths needing one, two and three varint bytes (< 128, < 16 KiB,
  // >= 16 KiB), in between and at the end.
  WatchBatch batch = MakeBatch(
      WatchBatch::Kind::kEvents, 106,
      {MakeTinyEvent(100, "tiny"), MakeEvent(101, "kib4", 4 * 1024),
       MakeTinyEvent(102, "tiny2"), MakeEvent(103, "small", 1),
       MakeEvent(104, "kib9", 9 * 1024), MakeEvent(105, "kib20", 20 * 1024),
       MakeEvent(106, "kib70", 70 * 1024)});
  CheckRoundTrip(batch, Expected(muster::v1::WatchResponse::EVENTS, batch));

  std::vector<size_t> header_bytes;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    INFO("event " << i);
    const WireEvent& wire = Wire(batch, i);
    CHECK(wire.bytes() == wire.entry().size());
    muster::v1::Event event;
    ToProto(batch.events[i], &event);
    const std::string serialized = event.SerializeAsString();
    REQUIRE(wire.entry().size() > serialized.size());
    // Field 2, length-delimited; then the length; then the event.
    CHECK(static_cast<unsigned char>(wire.entry()[0]) == 0x12);
    const size_t header = wire.entry().size() - serialized.size();
    CHECK(header == 1 + VarintBytes(serialized.size()));
    // The rest is the event (maps serialize in no fixed order: compare
    // messages, not bytes).
    muster::v1::Event carried;
    REQUIRE(carried.ParseFromString(wire.entry().substr(header)));
    CHECK(google::protobuf::util::MessageDifferencer::Equals(carried, event));
    header_bytes.push_back(header);
  }
  // The tag plus a length of one, two or three bytes.
  CHECK(header_bytes == std::vector<size_t>{2, 3, 2, header_bytes[3], 3, 4, 4});

  // One event alone, big, with the largest revision a client may see.
  WatchBatch single =
      MakeBatch(WatchBatch::Kind::kEvents, UINT64_MAX - 1,
                {MakeEvent(UINT64_MAX - 1, "big", 16 * 1024 - 200)});
  CheckRoundTrip(single, Expected(muster::v1::WatchResponse::EVENTS, single));
}

TEST_CASE(
    "watch encoding: one payload serves several messages and stays alive "
    "while a byte buffer holds it",
    "[watch_encoding]") {
  std::shared_ptr<const EventPayload> payload =
      WireEventEncoder().Encode(MakeEvent(9, "shared", 3000));
  const std::weak_ptr<const EventPayload> weak = payload;

  std::optional<grpc::ByteBuffer> first;
  std::optional<grpc::ByteBuffer> second;
  {
    WatchBatch batch;
    batch.kind = WatchBatch::Kind::kEvents;
    batch.revision = 9;
    batch.events.push_back(MakeEvent(9, "shared", 3000));
    batch.payloads.push_back(payload);
    batch.bytes = payload->bytes();
    first.emplace(EncodeWatchResponse(batch));
    second.emplace(EncodeWatchResponse(batch));
    CHECK(Bytes(*first) == Bytes(*second));
  }
  // The caller lets go of every reference of its own.
  const std::string entry = dynamic_cast<const WireEvent&>(*payload).entry();
  payload.reset();
  CHECK_FALSE(weak.expired());
  // The bytes still read back intact from the kept payload.
  const std::string bytes = Bytes(*first);
  CHECK(bytes.size() > entry.size());
  CHECK(bytes.substr(bytes.size() - entry.size()) == entry);
  muster::v1::WatchResponse parsed;
  REQUIRE(parsed.ParseFromString(bytes));
  REQUIRE(parsed.events_size() == 1);
  CHECK(parsed.events(0).instance().id() == "shared");

  first.reset();
  CHECK_FALSE(weak.expired());  // the second buffer still holds it
  second.reset();
  CHECK(weak.expired());
}

TEST_CASE("watch encoding: a copied byte buffer shares the payload too",
          "[watch_encoding]") {
  std::shared_ptr<const EventPayload> payload =
      WireEventEncoder().Encode(MakeEvent(3, "copied", 10));
  const std::weak_ptr<const EventPayload> weak = payload;
  WatchBatch batch;
  batch.kind = WatchBatch::Kind::kEvents;
  batch.revision = 3;
  batch.events.push_back(MakeEvent(3, "copied", 10));
  batch.payloads.push_back(std::move(payload));
  auto buffer = std::make_unique<grpc::ByteBuffer>(EncodeWatchResponse(batch));
  batch.payloads.clear();
  CHECK_FALSE(weak.expired());
  auto copy = std::make_unique<grpc::ByteBuffer>(*buffer);
  buffer.reset();
  CHECK_FALSE(weak.expired());
  CHECK(Bytes(*copy).size() ==
        Expected(muster::v1::WatchResponse::EVENTS, batch).ByteSizeLong());
  copy.reset();
  CHECK(weak.expired());
}

}  // namespace muster::registry
