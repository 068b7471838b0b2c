#include "cli/token_source.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/errors.h"

namespace muster::cli {
namespace {

// A token file holds one secret; anything bigger is the wrong file.
constexpr std::streamsize kMaxTokenFileBytes = 4096;

absl::StatusOr<std::string> ReadTokenFile(const std::string& source,
                                          const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return UsageError(absl::StrCat(source, ": cannot read \"", path,
                                   "\": ", std::strerror(errno)));
  }
  std::string content(kMaxTokenFileBytes + 1, '\0');
  in.read(content.data(), kMaxTokenFileBytes + 1);
  if (in.bad()) {
    return UsageError(absl::StrCat(source, ": cannot read \"", path, "\""));
  }
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > static_cast<size_t>(kMaxTokenFileBytes)) {
    return UsageError(absl::StrCat(source, ": \"", path,
                                   "\" is longer than a token (4096 bytes)"));
  }
  std::string secret(absl::StripAsciiWhitespace(content));
  if (secret.empty()) {
    return UsageError(absl::StrCat(source, ": \"", path, "\" is empty"));
  }
  return secret;
}

}  // namespace

absl::StatusOr<std::string> ResolveToken(const TokenSource& flags,
                                         const GetEnv& getenv) {
  if (!flags.token.empty() && !flags.token_file.empty()) {
    return UsageError("--token and --token-file: give one of them");
  }
  if (!flags.token.empty()) return flags.token;
  if (!flags.token_file.empty()) {
    return ReadTokenFile("--token-file", flags.token_file);
  }
  const char* token = getenv("MUSTER_TOKEN");
  if (token != nullptr && *token != '\0') return std::string(token);
  const char* file = getenv("MUSTER_TOKEN_FILE");
  if (file != nullptr && *file != '\0') {
    return ReadTokenFile("MUSTER_TOKEN_FILE", file);
  }
  return std::string();
}

}  // namespace muster::cli
