#include "cli/flag_values.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/errors.h"

namespace muster::cli {

absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(
    const std::string& flag, const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos) {
    return UsageError(
        absl::StrCat(flag, ": want key=value, got \"", text, "\""));
  }
  if (eq == 0) {
    return UsageError(
        absl::StrCat(flag, ": empty key in \"", text, "\" (want key=value)"));
  }
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::string& flag, const std::vector<std::string>& texts) {
  std::map<std::string, std::string> out;
  for (const std::string& text : texts) {
    absl::StatusOr<std::pair<std::string, std::string>> kv =
        ParseKeyValue(flag, text);
    if (!kv.ok()) return kv.status();
    if (!out.insert(*std::move(kv)).second) {
      return UsageError(absl::StrCat(
          flag, ": key \"", text.substr(0, text.find('=')), "\" given twice"));
    }
  }
  return out;
}

absl::StatusOr<uint64_t> ParseUnsigned(const std::string& flag,
                                       const std::string& text, uint64_t min,
                                       uint64_t max) {
  uint64_t value = 0;
  bool digits_only = !text.empty() && text.size() <= 20 &&
                     text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || !absl::SimpleAtoi(text, &value) || value < min ||
      value > max) {
    return UsageError(absl::StrCat(flag, ": want an integer in ", min, "..",
                                   max, ", got \"", text, "\""));
  }
  return value;
}

absl::StatusOr<uint32_t> ParsePort(const std::string& flag,
                                   const std::string& text) {
  absl::StatusOr<uint64_t> port = ParseUnsigned(flag, text, 1, 65535);
  if (!port.ok()) return port.status();
  return static_cast<uint32_t>(*port);
}

absl::StatusOr<double> ParseShare(const std::string& flag,
                                  const std::string& text) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !(value > 0.0 && value <= 1.0)) {
    return UsageError(absl::StrCat(
        flag, ": want a fraction greater than 0 and at most 1, got \"", text,
        "\""));
  }
  return value;
}

absl::Status ValidateAddress(const std::string& flag, const std::string& text) {
  if (text.rfind("unix:", 0) == 0) {
    if (text.size() > 5) return absl::OkStatus();
    return UsageError(absl::StrCat(flag, ": empty unix socket path"));
  }
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return UsageError(absl::StrCat(flag, ": want host:port, got \"", text,
                                   "\" (e.g. 127.0.0.1:7400)"));
  }
  std::string host = text.substr(0, colon);
  if (host.front() == '[' ? host.back() != ']' || host.size() < 3
                          : host.find(':') != std::string::npos) {
    return UsageError(absl::StrCat(
        flag, ": want host:port or [ipv6]:port, got \"", text, "\""));
  }
  absl::StatusOr<uint32_t> port = ParsePort(flag, text.substr(colon + 1));
  return port.status();
}

absl::StatusOr<std::vector<std::string>> ParseAddresses(
    const std::string& flag, const std::string& text) {
  std::vector<std::string> addresses;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    std::string address(absl::StripAsciiWhitespace(part));
    if (address.empty()) {
      return UsageError(absl::StrCat(flag, ": an empty address in \"", text,
                                     "\" (e.g. 10.0.0.1:7400,10.0.0.2:7400)"));
    }
    absl::Status valid = ValidateAddress(flag, address);
    if (!valid.ok()) return valid;
    addresses.push_back(std::move(address));
  }
  return addresses;
}

}  // namespace muster::cli
