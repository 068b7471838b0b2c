#include "registry/event_payload.h"

#include <utility>

namespace muster::registry {
namespace {

// The fields' sizes plus a fixed allowance for the numbers and enums: a
// weight for memory accounting, within a small factor of the wire size.
size_t Weigh(const Event& event) {
  size_t bytes = 32 + event.reason.size();
  const Instance* instance = event.instance.get();
  if (instance == nullptr) return bytes;
  bytes +=
      64 + instance->realm.size() + instance->service.size() +
      instance->id.size() + instance->address.size() + instance->zone.size() +
      instance->version.size() + instance->admin_reason.size() +
      instance->check_output.size() + instance->check.http_url.size() +
      instance->check.http_method.size() + instance->check.grpc_service.size();
  for (const auto& [name, value] : instance->check.http_headers)
    bytes += 4 + name.size() + value.size();
  for (const std::string& tag : instance->tags) bytes += 2 + tag.size();
  for (const auto& [key, value] : instance->metadata)
    bytes += 4 + key.size() + value.size();
  return bytes;
}

class ModelEncoder final : public EventEncoder {
 public:
  std::shared_ptr<const EventPayload> Encode(
      const Event& event) const override {
    return std::make_shared<ModelEventPayload>(event);
  }
};

}  // namespace

ModelEventPayload::ModelEventPayload(Event event)
    : event_(std::move(event)), bytes_(Weigh(event_)) {}

const EventEncoder& ModelEventEncoder() {
  static const ModelEncoder* const encoder = new ModelEncoder();
  return *encoder;
}

}  // namespace muster::registry
