#pragma once

#include <atomic>
#include <memory>

namespace muster::registry {

// A front end's encoding of one immutable value (an Instance version),
// opaque to the registry: musterd's gRPC front end keeps the serialized
// muster.v1.Instance here (codec/instance_wire.h). Deleted through this
// base.
class Encoding {
 public:
  virtual ~Encoding() = default;
};

// EncodingSlot holds at most one Encoding of the value it is a member of:
// set once, on first read, and freed with the value. Thread-safe for the
// const members (get, Install) once the value is shared immutably, as the
// index's `shared_ptr<const Instance>` are; a value is never changed after
// it was encoded.
//
// Not part of the value: a copy (or a moved-to value) is another version
// and starts empty, and assigning to a value empties its slot. One front
// end owns the slot in a process (musterd: the gRPC front end); a second
// encoding would need a second slot.
//
// Costs 8 bytes per value while empty; encodings are only made for values
// someone reads.
class EncodingSlot final {
 public:
  EncodingSlot() = default;
  EncodingSlot(const EncodingSlot& /*other*/) noexcept {}
  EncodingSlot& operator=(const EncodingSlot& other) noexcept {
    if (this != &other) Reset();
    return *this;
  }
  ~EncodingSlot() { Reset(); }

  // The encoding installed, or null.
  const Encoding* get() const {
    return encoding_.load(std::memory_order_acquire);
  }

  // Installs `encoding` unless one is there already; returns the one the
  // slot holds (this one, or the one a concurrent reader installed first,
  // `encoding` then being freed). REQUIRES: encoding != nullptr, made from
  // the value as it is now.
  const Encoding* Install(std::unique_ptr<const Encoding> encoding) const {
    const Encoding* expected = nullptr;
    if (encoding_.compare_exchange_strong(expected, encoding.get(),
                                          std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
      return encoding.release();
    }
    return expected;
  }

 private:
  void Reset() noexcept {
    delete encoding_.exchange(nullptr, std::memory_order_acq_rel);
  }

  mutable std::atomic<const Encoding*> encoding_{nullptr};
};

}  // namespace muster::registry
