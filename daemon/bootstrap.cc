#include "daemon/bootstrap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "common/secret.h"

namespace muster::registry {
namespace {

// A secret file is a few dozen bytes; anything longer is not one.
constexpr size_t kMaxSecretFileBytes = 4096;

absl::Status FileError(const std::string& file, const char* what, int error) {
  return absl::FailedPreconditionError(
      absl::StrCat("--bootstrap-token-file ", file, ": cannot ", what, ": ",
                   std::strerror(error)));
}

// The file's secret; nullopt when there is no file.
absl::StatusOr<std::optional<std::string>> ReadSecretFile(
    const std::string& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return FileError(file, "read it", errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
    MUSTER_LOG(kWarning,
               "bootstrap token file %s is readable by others (mode %o); "
               "chmod 600 it",
               file, st.st_mode & 0777);
  }
  std::string content(kMaxSecretFileBytes + 1, '\0');
  size_t used = 0;
  for (;;) {
    const ssize_t n = ::read(fd, content.data() + used, content.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return FileError(file, "read it", error);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
    if (used == content.size()) break;
  }
  ::close(fd);
  if (used > kMaxSecretFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--bootstrap-token-file ", file, ": longer than ", kMaxSecretFileBytes,
        " bytes; it must hold only the token's secret"));
  }
  content.resize(used);
  return std::optional<std::string>(
      std::string(absl::StripTrailingAsciiWhitespace(content)));
}

// Writes `secret` and a newline to a new file only its owner may read,
// synced with its directory.
absl::Status WriteSecretFile(const std::string& file,
                             const std::string& secret) {
  const int fd =
      ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return FileError(file, "create it", errno);
  const std::string content = secret + "\n";
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n =
        ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(file.c_str());
      return FileError(file, "write it", error);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    ::unlink(file.c_str());
    return FileError(file, "sync it", error);
  }
  ::close(fd);
  const size_t slash = file.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : file.substr(0, slash);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

bool IsLiveAdmin(const Token& token, absl::Time now) {
  return token.role == TokenRole::kAdmin && token.all_realms &&
         token.LiveAt(now);
}

// "bootstrap", else the first of "bootstrap-2", "bootstrap-3"... not
// taken (revoked names stay taken).
std::string FreeName(const std::vector<Token>& tokens) {
  for (int n = 1;; ++n) {
    const std::string name = n == 1 ? std::string(kBootstrapTokenName)
                                    : absl::StrCat(kBootstrapTokenName, "-", n);
    bool taken = false;
    for (const Token& token : tokens) taken = taken || token.name == name;
    if (!taken) return name;
  }
}

absl::StatusOr<Tokens::Created> CreateAdmin(Tokens& tokens,
                                            const std::vector<Token>& existing,
                                            std::string secret) {
  Tokens::Spec spec;
  spec.name = FreeName(existing);
  spec.role = TokenRole::kAdmin;
  spec.all_realms = true;
  absl::Notification done;
  absl::StatusOr<Tokens::Created> result;
  tokens.CreateWithSecret(std::move(spec), std::move(secret),
                          kBootstrapTokenName,
                          [&](absl::StatusOr<Tokens::Created> created) {
                            result = std::move(created);
                            done.Notify();
                          });
  done.WaitForNotification();
  return result;
}

absl::Status EnsureBootstrapTokenOnce(Tokens& tokens, absl::Time now,
                                      const std::string& file) {
  const std::vector<Token> existing = tokens.List();
  bool admin_lives = false;
  for (const Token& token : existing) {
    admin_lives = admin_lives || IsLiveAdmin(token, now);
  }
  absl::StatusOr<std::optional<std::string>> from_file = ReadSecretFile(file);
  if (!from_file.ok()) return from_file.status();

  if (from_file->has_value()) {
    const std::string hash = SecretHash(**from_file);
    for (const Token& token : existing) {
      if (token.secret_hash != hash) continue;
      if (token.LiveAt(now)) {
        MUSTER_LOG(kInfo, "auth on: bootstrap token file %s holds token \"%s\"",
                   file, token.name);
        return absl::OkStatus();
      }
      if (admin_lives) break;
      return absl::FailedPreconditionError(absl::StrCat(
          "--bootstrap-token-file ", file, ": holds the secret of token \"",
          token.name,
          "\", which is revoked or expired, and no live admin token of "
          "every realm is left; delete the file and restart to have a new "
          "one made"));
    }
    if (admin_lives) {
      MUSTER_LOG(kWarning,
                 "auth on: bootstrap token file %s holds no live token; left "
                 "as it is (an admin token of every realm exists)",
                 file);
      return absl::OkStatus();
    }
    absl::StatusOr<Tokens::Created> created =
        CreateAdmin(tokens, existing, **from_file);
    if (!created.ok()) {
      return absl::Status(created.status().code(),
                          absl::StrCat("--bootstrap-token-file ", file, ": ",
                                       created.status().message()));
    }
    MUSTER_LOG(kInfo,
               "auth on: created admin token \"%s\" (every realm) with the "
               "secret in %s",
               created->token.name, file);
    return absl::OkStatus();
  }

  if (admin_lives) {
    MUSTER_LOG(kInfo,
               "auth on: %d live tokens; no bootstrap token made (%s is "
               "absent)",
               tokens.CountLive(now), file);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> secret = NewSecret();
  if (!secret.ok()) return secret.status();
  // The file first: a crash before the commit leaves a file the next start
  // creates the token from, never a token whose secret nobody has.
  if (absl::Status written = WriteSecretFile(file, *secret); !written.ok()) {
    return written;
  }
  absl::StatusOr<Tokens::Created> created =
      CreateAdmin(tokens, existing, std::move(secret).value());
  if (!created.ok()) return created.status();
  MUSTER_LOG(kInfo,
             "auth on: created admin token \"%s\" (every realm); its secret "
             "is in %s (mode 0600); musterctl --token-file %s",
             created->token.name, file, file);
  return absl::OkStatus();
}

}  // namespace

absl::Status EnsureBootstrapToken(Tokens& tokens, absl::Time now,
                                  const std::string& file) {
  absl::Status ensured = EnsureBootstrapTokenOnce(tokens, now, file);
  if (absl::IsAlreadyExists(ensured)) {
    // Another replica sharing the store (--store etcd) made it first; the
    // token list now has it.
    ensured = EnsureBootstrapTokenOnce(tokens, now, file);
  }
  return ensured;
}

}  // namespace muster::registry
