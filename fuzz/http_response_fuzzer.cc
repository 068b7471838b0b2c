// Fuzzes the HTTP probe's response handling (healthchecker/http_response.h):
// a status, and a body delivered in chunks the way libcurl's write
// callback delivers it, become a kept body, a verdict and a check output.
//
// Input: 4 bytes of status (big-endian; 0 is skipped: libcurl reports no
// status line as 0 and the prober never judges it), then chunks, each a
// length byte and that many bytes; a length byte with its top bit set
// repeats its bytes 64 times, so that small inputs reach the 4 KiB cap.
//
// Invariants: the body keeps exactly the first kMaxProbeBodyBytes bytes
// offered and reports truncation exactly when more was offered; the
// verdict follows the status (2xx success, 429 warning, else failure);
// the output starts "HTTP <status>", is valid UTF-8 without control
// characters but '\n' and '\t', fits kMaxProbeOutputBytes, is unchanged
// by a second SanitizeOutput (the prober applies it again) and by the
// registry's TruncateUtf8 to kMaxCheckOutputBytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "healthchecker/http_response.h"
#include "healthchecker/prober.h"
#include "registry/limits.h"
#include "registry/validation.h"

namespace {

using muster::healthchecker::HttpResponseOutcome;
using muster::healthchecker::kMaxProbeBodyBytes;
using muster::healthchecker::kMaxProbeOutputBytes;
using muster::healthchecker::ProbeBody;
using muster::healthchecker::ProbeOutcome;
using muster::healthchecker::ProbeResult;
using muster::healthchecker::SanitizeOutput;

// True when `text` is valid UTF-8 (no overlongs, surrogates or code
// points above U+10FFFF): an independent check of SanitizeOutput's.
bool ValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    const uint32_t min_code[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < min_code[length] || code > 0x10FFFF ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint32_t raw_status = (uint32_t{data[0]} << 24) |
                              (uint32_t{data[1]} << 16) |
                              (uint32_t{data[2]} << 8) | uint32_t{data[3]};
  if (raw_status == 0) return 0;
  const long status = static_cast<long>(raw_status);
  absl::string_view rest(reinterpret_cast<const char*>(data) + 4, size - 4);

  // Deliver the chunks as libcurl would: it stops at the first short take.
  ProbeBody body;
  std::string offered;
  bool short_take = false;
  while (!rest.empty() && !short_take) {
    const auto header = static_cast<unsigned char>(rest[0]);
    rest.remove_prefix(1);
    const size_t length = std::min<size_t>(header & 0x7F, rest.size());
    std::string chunk(rest.substr(0, length));
    rest.remove_prefix(length);
    if ((header & 0x80) != 0) {
      std::string repeated;
      for (int k = 0; k < 64; ++k) repeated += chunk;
      chunk = std::move(repeated);
    }
    const size_t room = kMaxProbeBodyBytes - body.bytes().size();
    const size_t taken = body.Append(chunk);
    FUZZ_CHECK(taken == std::min(chunk.size(), room),
               "took %zu of %zu bytes with %zu bytes of room", taken,
               chunk.size(), room);
    offered += chunk;
    short_take = taken < chunk.size();
  }
  FUZZ_CHECK(body.bytes().size() <= kMaxProbeBodyBytes, "body of %zu bytes",
             body.bytes().size());
  FUZZ_CHECK(
      absl::string_view(offered).substr(0, kMaxProbeBodyBytes) == body.bytes(),
      "the kept body is not the first bytes offered");
  FUZZ_CHECK(body.truncated() == (offered.size() > kMaxProbeBodyBytes),
             "truncated=%d after %zu bytes offered", body.truncated(),
             offered.size());

  const ProbeOutcome outcome = HttpResponseOutcome(status, body.bytes());
  const ProbeResult want = status >= 200 && status < 300 ? ProbeResult::kSuccess
                           : status == 429               ? ProbeResult::kWarning
                                           : ProbeResult::kFailure;
  FUZZ_CHECK(outcome.result == want, "status %ld judged %d", status,
             static_cast<int>(outcome.result));
  const std::string& output = outcome.output;
  const std::string status_line = absl::StrCat("HTTP ", status);
  FUZZ_CHECK(
      absl::string_view(output).substr(0, status_line.size()) == status_line,
      "output does not start with \"%s\"", status_line.c_str());
  FUZZ_CHECK(output.size() <= kMaxProbeOutputBytes, "output of %zu bytes",
             output.size());
  FUZZ_CHECK(ValidUtf8(output), "output is not valid UTF-8");
  for (char c : output) {
    const auto byte = static_cast<unsigned char>(c);
    FUZZ_CHECK(!((byte < 0x20 || byte == 0x7F) && c != '\n' && c != '\t'),
               "output holds control byte 0x%02x", byte);
  }
  if (!body.bytes().empty() && output.size() > status_line.size()) {
    FUZZ_CHECK(output[status_line.size()] == '\n',
               "no newline between the status line and the body");
  }
  // What reaches the registry: sanitized once more by the prober, capped
  // by the registry's UTF-8 truncation.
  FUZZ_CHECK(SanitizeOutput(output) == output,
             "SanitizeOutput is not idempotent");
  FUZZ_CHECK(
      muster::registry::TruncateUtf8(
          output, muster::registry::limits::kMaxCheckOutputBytes) == output,
      "the registry would cut a sanitized output");
  // A printable ASCII body that fits comes through unchanged.
  bool printable = true;
  for (char c : body.bytes()) printable &= c >= 0x20 && c < 0x7F;
  const std::string whole = body.bytes().empty()
                                ? status_line
                                : absl::StrCat(status_line, "\n", body.bytes());
  if (printable && whole.size() <= kMaxProbeOutputBytes) {
    FUZZ_CHECK(output == whole, "a printable body was altered");
  }
  return 0;
}
