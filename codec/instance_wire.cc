#include "codec/instance_wire.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <cstring>
#include <utility>

#include "codec/model_proto.h"
#include "codec/read_responses.h"
#include "muster/v1/registry.pb.h"
#include "muster/v1/types.pb.h"

namespace muster::registry {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

// The tag of length-delimited field `number`.
constexpr uint32_t LengthDelimitedTag(int number) {
  return (static_cast<uint32_t>(number) << 3) |
         WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
}

constexpr uint32_t kInstancesTag = LengthDelimitedTag(
    muster::v1::ListInstancesResponse::kInstancesFieldNumber);
constexpr uint32_t kNextPageTokenTag = LengthDelimitedTag(
    muster::v1::ListInstancesResponse::kNextPageTokenFieldNumber);
constexpr uint32_t kRevisionTag =
    (static_cast<uint32_t>(
         muster::v1::ListInstancesResponse::kRevisionFieldNumber)
     << 3) |
    WireFormatLite::WIRETYPE_VARINT;

uint8_t* Bytes(char* out) { return reinterpret_cast<uint8_t*>(out); }
char* Chars(uint8_t* out) { return reinterpret_cast<char*>(out); }

// The tail of a ListInstancesResponse after its instances; proto3 leaves
// out the fields at their default, as the typed serialization does.
size_t TailSize(const InstancePage& page) {
  size_t size = 0;
  if (!page.next_page_token.empty()) {
    size += CodedOutputStream::VarintSize32(kNextPageTokenTag) +
            CodedOutputStream::VarintSize64(page.next_page_token.size()) +
            page.next_page_token.size();
  }
  if (page.revision != 0) {
    size += CodedOutputStream::VarintSize32(kRevisionTag) +
            CodedOutputStream::VarintSize64(page.revision);
  }
  return size;
}

char* WriteTail(const InstancePage& page, char* out) {
  uint8_t* p = Bytes(out);
  if (!page.next_page_token.empty()) {
    p = CodedOutputStream::WriteVarint32ToArray(kNextPageTokenTag, p);
    p = CodedOutputStream::WriteVarint64ToArray(page.next_page_token.size(), p);
    std::memcpy(p, page.next_page_token.data(), page.next_page_token.size());
    p += page.next_page_token.size();
  }
  if (page.revision != 0) {
    p = CodedOutputStream::WriteVarint32ToArray(kRevisionTag, p);
    p = CodedOutputStream::WriteVarint64ToArray(page.revision, p);
  }
  return Chars(p);
}

}  // namespace

InstanceWire::InstanceWire(const Instance& instance) {
  muster::v1::Instance message;
  ToProto(instance, &message);
  const size_t size = message.ByteSizeLong();
  const size_t header = CodedOutputStream::VarintSize32(kInstancesTag) +
                        CodedOutputStream::VarintSize64(size);
  bytes_ = std::make_unique<char[]>(header + size);
  uint8_t* p = Bytes(bytes_.get());
  p = CodedOutputStream::WriteVarint32ToArray(kInstancesTag, p);
  p = CodedOutputStream::WriteVarint64ToArray(size, p);
  message.SerializeWithCachedSizesToArray(p);
  // An instance is bounded far below 4 GiB (limits.h).
  size_ = static_cast<uint32_t>(header + size);
  header_ = static_cast<uint8_t>(header);
}

const InstanceWire& WireOf(const Instance& instance) {
  const Encoding* encoding = instance.encoding.get();
  if (encoding == nullptr) {
    encoding =
        instance.encoding.Install(std::make_unique<InstanceWire>(instance));
  }
  return static_cast<const InstanceWire&>(*encoding);
}

size_t ListInstancesSize(const InstancePage& page) {
  size_t size = TailSize(page);
  for (const auto& instance : page.instances)
    size += WireOf(*instance).entry().size();
  return size;
}

char* WriteListInstances(const InstancePage& page, char* out) {
  for (const auto& instance : page.instances) {
    const absl::string_view entry = WireOf(*instance).entry();
    std::memcpy(out, entry.data(), entry.size());
    out += entry.size();
  }
  return WriteTail(page, out);
}

std::string LiveInstanceFields(const healthchecker::HealthDetail& detail) {
  // FillHealthDetail's fields, but for health_detail.output: proto3 leaves
  // out an empty string, which would keep the stored check output where
  // FillHealthDetail clears it. It follows on its own, always written, and
  // the last occurrence of a string wins.
  muster::v1::Instance live;
  FillHealthDetail(detail, &live);
  live.mutable_health_detail()->clear_output();
  std::string out = live.SerializeAsString();

  const uint32_t output_tag =
      LengthDelimitedTag(muster::v1::HealthDetail::kOutputFieldNumber);
  const size_t output_field =
      CodedOutputStream::VarintSize32(output_tag) +
      CodedOutputStream::VarintSize64(detail.output.size()) +
      detail.output.size();
  const uint32_t detail_tag =
      LengthDelimitedTag(muster::v1::Instance::kHealthDetailFieldNumber);
  const size_t start = out.size();
  out.resize(start + CodedOutputStream::VarintSize32(detail_tag) +
             CodedOutputStream::VarintSize64(output_field) + output_field);
  uint8_t* p = Bytes(out.data() + start);
  p = CodedOutputStream::WriteVarint32ToArray(detail_tag, p);
  p = CodedOutputStream::WriteVarint64ToArray(output_field, p);
  p = CodedOutputStream::WriteVarint32ToArray(output_tag, p);
  p = CodedOutputStream::WriteVarint64ToArray(detail.output.size(), p);
  std::memcpy(p, detail.output.data(), detail.output.size());
  return out;
}

}  // namespace muster::registry
