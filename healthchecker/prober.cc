#include "healthchecker/prober.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace muster::healthchecker {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0.
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) {
    return static_cast<unsigned char>(text[k]);
  };
  const unsigned char lead = byte(i);
  size_t length = 0;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) length = 2;
  if (lead >= 0xE0 && lead <= 0xEF) length = 3;
  if (lead >= 0xF0 && lead <= 0xF4) length = 4;
  if (length == 0 || i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  // Reject overlong forms, surrogates and code points above U+10FFFF.
  const unsigned char second = byte(i + 1);
  if (lead == 0xE0 && second < 0xA0) return 0;
  if (lead == 0xED && second > 0x9F) return 0;
  if (lead == 0xF0 && second < 0x90) return 0;
  if (lead == 0xF4 && second > 0x8F) return 0;
  return length;
}

}  // namespace

absl::string_view ProbeResultName(ProbeResult result) {
  switch (result) {
    case ProbeResult::kSuccess:
      return "success";
    case ProbeResult::kWarning:
      return "warning";
    case ProbeResult::kFailure:
      return "failure";
  }
  return "unknown";
}

std::string SanitizeOutput(absl::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxProbeOutputBytes));
  size_t i = 0;
  while (i < text.size()) {
    size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      if (out.size() + 1 > kMaxProbeOutputBytes) break;
      out.push_back('?');
      ++i;
      continue;
    }
    if (out.size() + length > kMaxProbeOutputBytes) break;
    const char c = text[i];
    if (length == 1 && (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) &&
        c != '\n' && c != '\t') {
      out.push_back(' ');
    } else {
      out.append(text.data() + i, length);
    }
    i += length;
  }
  return out;
}

std::string TimeoutOutput(absl::Duration timeout) {
  return absl::StrCat("timeout after ", absl::FormatDuration(timeout));
}

std::string ErrnoOutput(absl::string_view what, int error_number) {
  char buffer[256];
  // GNU strerror_r returns the message, not necessarily in `buffer`.
  const char* message = strerror_r(error_number, buffer, sizeof(buffer));
  return absl::StrCat(what, ": ", absl::AsciiStrToLower(message));
}

absl::StatusOr<std::string> ReadCaFile(const std::string& path) {
  // A CA bundle is small; the cap only keeps a wrong path (a device, a
  // huge log) from being read whole.
  constexpr size_t kMaxCaFileBytes = 16 << 20;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read \"", path,
                     "\": ", absl::AsciiStrToLower(strerror(errno))));
  }
  std::string pem;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    pem.append(buffer, static_cast<size_t>(in.gcount()));
    if (pem.size() > kMaxCaFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", path, "\" is larger than 16 MiB"));
    }
  }
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read \"", path, "\""));
  }
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", path,
        "\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
  }
  return pem;
}

std::string TlsOutput(absl::string_view reason) {
  return SanitizeOutput(absl::StrCat("TLS: ", reason));
}

}  // namespace muster::healthchecker
