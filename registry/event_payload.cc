#include "registry/event_payload.h"

#include <utility>

namespace muster::registry {
namespace {

class ModelEncoder final : public EventEncoder {
 public:
  std::shared_ptr<const EventPayload> Encode(
      const Event& event) const override {
    return std::make_shared<ModelEventPayload>(event);
  }
};

}  // namespace

ModelEventPayload::ModelEventPayload(Event event)
    : event_(std::move(event)), bytes_(EncodedSizeBound(event_)) {}

const EventEncoder& ModelEventEncoder() {
  static const ModelEncoder* const encoder = new ModelEncoder();
  return *encoder;
}

}  // namespace muster::registry
