// SipHash-2-4 against the reference vectors of the paper's appendix and
// the reference implementation (key 00..0f, message 00..len-1).

#include "common/siphash.h"

#include <catch2/catch.hpp>
#include <string>

namespace muster {
namespace {

SipKey ReferenceKey() {
  // Bytes 00..0f, little-endian words.
  return SipKey{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
}

std::string Sequence(size_t length) {
  std::string out;
  for (size_t i = 0; i < length; ++i) out.push_back(static_cast<char>(i));
  return out;
}

TEST_CASE("siphash-2-4 matches the reference vectors", "[siphash]") {
  CHECK(SipHash24(ReferenceKey(), "") == 0x726fdb47dd0e0e31ULL);
  CHECK(SipHash24(ReferenceKey(), Sequence(1)) == 0x74f839c593dc67fdULL);
  CHECK(SipHash24(ReferenceKey(), Sequence(7)) == 0xab0200f58b01d137ULL);
  CHECK(SipHash24(ReferenceKey(), Sequence(8)) == 0x93f5f5799a932462ULL);
  // The paper's example: a 15-byte message.
  CHECK(SipHash24(ReferenceKey(), Sequence(15)) == 0xa129ca6149be45e5ULL);
  CHECK(SipHash24(ReferenceKey(), Sequence(63)) == 0x958a324ceb064572ULL);
}

TEST_CASE("siphash depends on the key and every byte", "[siphash]") {
  const std::string message = "realm/service/id";
  const uint64_t base = SipHash24(ReferenceKey(), message);
  SipKey other = ReferenceKey();
  other.k1 ^= 1;
  CHECK(SipHash24(other, message) != base);
  for (size_t i = 0; i < message.size(); ++i) {
    std::string changed = message;
    changed[i] ^= 0x01;
    CHECK(SipHash24(ReferenceKey(), changed) != base);
  }
}

}  // namespace
}  // namespace muster
