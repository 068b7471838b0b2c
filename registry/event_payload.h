#pragma once

#include <cstddef>
#include <memory>

#include "registry/model.h"

namespace muster::registry {

// An event as a front end sends it: for the gRPC front end, the event's
// serialized message. The watch hub treats it as opaque: it counts its
// bytes against the watchers' memory limits and the message size bound,
// and shares one payload between every stream that sends the event.
class EventPayload {
 public:
  virtual ~EventPayload() = default;
  // What the payload weighs on the wire (and in memory), in bytes.
  virtual size_t bytes() const = 0;
};

// Turns events into one front end's payloads. A watch names its encoder
// (WatchSpec::encoder); a live event is encoded once per encoder and the
// payload is shared by every watcher using that encoder. Implementations
// are thread-safe and outlive the watchers that use them.
class EventEncoder {
 public:
  virtual ~EventEncoder() = default;
  virtual std::shared_ptr<const EventPayload> Encode(
      const Event& event) const = 0;
};

// The payload of the default encoder: the event itself, for in-process
// consumers, weighed by EncodedSizeBound.
class ModelEventPayload final : public EventPayload {
 public:
  explicit ModelEventPayload(Event event);
  const Event& event() const { return event_; }
  size_t bytes() const override { return bytes_; }

 private:
  Event event_;
  size_t bytes_;
};

// The encoder of watches whose spec names none.
const EventEncoder& ModelEventEncoder();

}  // namespace muster::registry
