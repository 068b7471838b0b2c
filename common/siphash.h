#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace muster {

// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit PRF, used
// to authenticate tokens muster hands out (page tokens) so that a forged
// or altered one is recognised. Not for secrets that must stay hidden.
struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

uint64_t SipHash24(const SipKey& key, absl::string_view data);

}  // namespace muster
