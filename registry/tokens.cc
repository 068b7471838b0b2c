#include "registry/tokens.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/secret.h"
#include "common/status_macros.h"
#include "registry/limits.h"
#include "registry/validation.h"

namespace muster::registry {
namespace {

constexpr char kTokenNamePattern[] = "[a-z0-9][a-z0-9._-]{0,62}";

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_sec, time, absl::UTCTimeZone());
}

absl::Status TokenNotFound(absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("token \"", name, "\" not found"));
}

bool IsTokenNameChar(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return !first && (c == '.' || c == '_' || c == '-');
}

absl::Status ValidateTokenName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("name: is required");
  bool valid = name.size() <= limits::kMaxTokenNameBytes;
  for (size_t i = 0; valid && i < name.size(); ++i) {
    valid = IsTokenNameChar(name[i], i == 0);
  }
  if (valid) return absl::OkStatus();
  // Quote only a short name made of printable characters.
  const bool showable =
      name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
      });
  return absl::InvalidArgumentError(absl::StrCat(
      "name: ", showable ? absl::StrCat("\"", name, "\"") : "value",
      " does not match ", kTokenNamePattern));
}

// Checks each name of `names` (field "<field>[i]") and returns them sorted
// and unique.
absl::StatusOr<std::vector<std::string>> SortedNames(
    std::vector<std::string> names, absl::string_view field, size_t max) {
  if (names.size() > max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d names; at most %d allowed", field, names.size(), max));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    RETURN_IF_ERROR(
        ValidateName(names[i], absl::StrFormat("%s[%d]", field, i)));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// The token `spec` describes, checked: every rule but expiry against the
// clock (the commit thread checks that against the commit time).
absl::StatusOr<Token> TokenFromSpec(Tokens::Spec spec) {
  RETURN_IF_ERROR(ValidateTokenName(spec.name));
  if (spec.role != TokenRole::kRead && spec.role != TokenRole::kWrite &&
      spec.role != TokenRole::kAdmin) {
    return absl::InvalidArgumentError("role: must be read, write or admin");
  }
  Token token;
  token.name = std::move(spec.name);
  token.role = spec.role;
  token.all_realms = spec.all_realms;
  if (spec.all_realms && !spec.realms.empty()) {
    return absl::InvalidArgumentError(
        "realms: must be empty when all_realms is set");
  }
  if (!spec.all_realms && spec.realms.empty()) {
    return absl::InvalidArgumentError(
        "realms: name at least one realm, or set all_realms");
  }
  ASSIGN_OR_RETURN(token.realms, SortedNames(std::move(spec.realms), "realms",
                                             limits::kMaxTokenRealms));
  if (!spec.services.empty() && spec.role != TokenRole::kWrite) {
    return absl::InvalidArgumentError(absl::StrCat(
        "services: only a write token may be limited to services; this one "
        "has role ",
        TokenRoleName(spec.role)));
  }
  ASSIGN_OR_RETURN(token.services,
                   SortedNames(std::move(spec.services), "services",
                               limits::kMaxTokenServices));
  token.expires_at = spec.expires_at;
  return token;
}

absl::Status ValidateChosenSecret(absl::string_view secret) {
  if (secret.size() < limits::kMinTokenSecretBytes ||
      secret.size() > limits::kMaxTokenSecretBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "secret: %d bytes; it must have %d to %d", secret.size(),
        limits::kMinTokenSecretBytes, limits::kMaxTokenSecretBytes));
  }
  for (size_t i = 0; i < secret.size(); ++i) {
    const auto c = static_cast<unsigned char>(secret[i]);
    if (c < 0x20 || c >= 0x7f) {
      // Never show the byte: it is part of a secret.
      return absl::InvalidArgumentError(absl::StrFormat(
          "secret: byte %d is not printable ASCII (0x20 to 0x7e)", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Tokens::Tokens(Committer& committer) : committer_(committer) {}

void Tokens::Create(Spec spec, std::string actor, Callback<Created> done) {
  absl::StatusOr<Token> token = TokenFromSpec(std::move(spec));
  if (!token.ok()) {
    done(token.status());
    return;
  }
  absl::StatusOr<std::string> secret = NewSecret();
  if (!secret.ok()) {
    done(secret.status());
    return;
  }
  token->created_by = std::move(actor);
  Add(*std::move(token), *std::move(secret), std::move(done));
}

void Tokens::CreateWithSecret(Spec spec, std::string secret, std::string actor,
                              Callback<Created> done) {
  absl::StatusOr<Token> token = TokenFromSpec(std::move(spec));
  if (!token.ok()) {
    done(token.status());
    return;
  }
  if (absl::Status valid = ValidateChosenSecret(secret); !valid.ok()) {
    done(valid);
    return;
  }
  token->created_by = std::move(actor);
  Add(*std::move(token), std::move(secret), std::move(done));
}

void Tokens::Add(Token token, std::string secret, Callback<Created> done) {
  token.secret_hash = SecretHash(secret);
  Submit<Created>(
      committer_, CommitMode::kGrouped,
      [this, token = std::move(token), secret = std::move(secret)](
          Txn& txn, Created& created) {
        if (token.expires_at.has_value() && *token.expires_at <= txn.now()) {
          return absl::InvalidArgumentError(
              absl::StrCat("expires_at: ", Rfc3339(*token.expires_at),
                           " is not in the future"));
        }
        if (Find(txn, token.name).has_value()) {
          return absl::AlreadyExistsError(absl::StrCat(
              "token \"", token.name,
              "\" already exists (names of revoked tokens stay taken)"));
        }
        if (HashTaken(txn, token.secret_hash)) {
          return absl::AlreadyExistsError(
              "secret: another token already has this secret");
        }
        created.token = token;
        created.token.created_at = txn.now();
        created.token.create_revision = txn.revision();
        created.token.modify_revision = txn.revision();
        created.secret = secret;
        created.revision = txn.revision();
        txn.PutToken(created.token);
        return absl::OkStatus();
      },
      [done = std::move(done)](absl::StatusOr<Created> created) {
        if (created.ok()) {
          MUSTER_LOG(kInfo,
                     "token \"%s\" (role %s) created by \"%s\" at revision %d",
                     created->token.name, TokenRoleName(created->token.role),
                     created->token.created_by, created->revision);
        }
        done(std::move(created));
      });
}

void Tokens::Revoke(std::string name, std::string actor,
                    Callback<uint64_t> done) {
  if (absl::Status valid = ValidateTokenName(name); !valid.ok()) {
    done(valid);
    return;
  }
  Submit<uint64_t>(
      committer_, CommitMode::kGrouped,
      [this, name, actor = std::move(actor)](Txn& txn, uint64_t& revision) {
        std::optional<Token> token = Find(txn, name);
        if (!token.has_value()) return TokenNotFound(name);
        if (token->revoked_at.has_value()) {
          // Already revoked: nothing to write; answer when it happened.
          revision = token->modify_revision;
          return absl::OkStatus();
        }
        token->revoked_at = txn.now();
        token->revoked_by = actor;
        revision = txn.revision();
        txn.PutToken(*std::move(token));
        return absl::OkStatus();
      },
      [done = std::move(done), name](absl::StatusOr<uint64_t> revision) {
        if (revision.ok()) {
          MUSTER_LOG(kInfo, "token \"%s\" revoked (revision %d)", name,
                     *revision);
        }
        done(std::move(revision));
      });
}

std::vector<Token> Tokens::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<Token> tokens;
  tokens.reserve(by_name_.size());
  for (const auto& [name, token] : by_name_) tokens.push_back(*token);
  return tokens;
}

size_t Tokens::CountLive(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return std::count_if(
      by_name_.begin(), by_name_.end(),
      [now](const auto& entry) { return entry.second->LiveAt(now); });
}

absl::StatusOr<std::shared_ptr<const Token>> Tokens::Authenticate(
    absl::string_view secret, absl::Time now) const {
  const std::string hash = SecretHash(secret);
  std::shared_ptr<const Token> token;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = by_hash_.find(hash); it != by_hash_.end()) token = it->second;
  }
  // The map found the token by its hash; the constant-time comparison
  // makes the final decision not depend on how much of the hash matched.
  if (token == nullptr || !ConstantTimeEquals(token->secret_hash, hash)) {
    return absl::UnauthenticatedError("unknown token");
  }
  if (token->revoked_at.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("token \"", token->name, "\" is revoked"));
  }
  if (token->expires_at.has_value() && now >= *token->expires_at) {
    return absl::UnauthenticatedError(
        absl::StrCat("token \"", token->name, "\" expired at ",
                     Rfc3339(*token->expires_at)));
  }
  return token;
}

absl::StatusOr<Token> Tokens::Get(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return TokenNotFound(name);
  return *it->second;
}

void Tokens::Load(std::vector<Token> tokens) {
  absl::MutexLock lock(&mu_);
  for (Token& token : tokens) {
    Put(std::make_shared<const Token>(std::move(token)));
  }
}

void Tokens::Apply(const CommitBatch& batch) {
  if (batch.put_tokens.empty()) return;
  absl::MutexLock lock(&mu_);
  for (const Token& token : batch.put_tokens) {
    Put(std::make_shared<const Token>(token));
  }
}

void Tokens::Put(std::shared_ptr<const Token> token) {
  if (auto it = by_name_.find(token->name); it != by_name_.end()) {
    by_hash_.erase(it->second->secret_hash);
  }
  by_hash_[token->secret_hash] = token;
  by_name_[token->name] = std::move(token);
}

std::optional<Token> Tokens::Find(const Txn& txn,
                                  const std::string& name) const {
  if (std::optional<Token> pending = txn.FindPendingToken(name)) {
    return pending;
  }
  absl::MutexLock lock(&mu_);
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return *it->second;
}

bool Tokens::HashTaken(const Txn& txn, const std::string& hash) const {
  if (txn.PendingTokenHasHash(hash)) return true;
  absl::MutexLock lock(&mu_);
  return by_hash_.contains(hash);
}

void RebaseRevision(Tokens::Created& created, uint64_t assigned) {
  RebaseRevision(created.token, assigned);
  RebaseRevision(created.revision, assigned);
}

}  // namespace muster::registry
