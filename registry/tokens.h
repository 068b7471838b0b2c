#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "registry/committer.h"
#include "registry/model.h"
#include "registry/store.h"
#include "registry/submit.h"
#include "registry/token.h"

namespace muster::registry {

// Tokens is the registry's part for access tokens: created, revoked and
// listed through the committer like every other change (a commit bumps
// the revision and has no events), held in memory for Authenticate.
// Thread-safe; owned by Registry.
class Tokens final {
 public:
  struct Spec {
    std::string name;
    TokenRole role = TokenRole::kRead;
    bool all_realms = false;
    std::vector<std::string> realms;
    std::vector<std::string> services;
    std::optional<absl::Time> expires_at;
  };
  struct Created {
    Token token;
    // The only time the secret exists outside its holder.
    std::string secret;
    uint64_t revision = 0;
  };

  // Borrows `committer`, which outlives it.
  explicit Tokens(Committer& committer);
  Tokens(const Tokens&) = delete;
  Tokens& operator=(const Tokens&) = delete;

  // A new token with a fresh random secret. INVALID_ARGUMENT naming the
  // field (name, realms[i], services[i], expires_at in the past),
  // ALREADY_EXISTS for a taken name (revoked names stay taken).
  void Create(Spec spec, std::string actor, Callback<Created> done);
  // The same with a secret the operator chose (the bootstrap token file);
  // INVALID_ARGUMENT for a secret shorter than 32 bytes or with bytes
  // outside printable ASCII.
  void CreateWithSecret(Spec spec, std::string secret, std::string actor,
                        Callback<Created> done);
  // Marks the token revoked. NOT_FOUND for an unknown name; a token
  // already revoked answers OK and writes nothing.
  void Revoke(std::string name, std::string actor, Callback<uint64_t> done);

  // Every token, by name, revoked ones included.
  std::vector<Token> List() const;
  // Tokens that are neither revoked nor expired at `now`.
  size_t CountLive(absl::Time now) const;
  // The token holding `secret`. UNAUTHENTICATED saying "unknown",
  // "expired" or "revoked", never repeating the secret.
  absl::StatusOr<std::shared_ptr<const Token>> Authenticate(
      absl::string_view secret, absl::Time now) const;

  // The token named `name`, revoked or not; NOT_FOUND otherwise.
  absl::StatusOr<Token> Get(absl::string_view name) const;

 private:
  friend class Registry;

  // Registry: the stored tokens, before the committer starts.
  void Load(std::vector<Token> tokens);
  // Registry's commit hook: the batch's tokens are committed (on the
  // commit thread, before the batch's operations hear back).
  void Apply(const CommitBatch& batch);

  // Queues the creation of a validated `token` whose secret is `secret`.
  void Add(Token token, std::string secret, Callback<Created> done);
  // The token as the commit thread sees it: pending in `txn`, else
  // committed.
  std::optional<Token> Find(const Txn& txn, const std::string& name) const;
  bool HashTaken(const Txn& txn, const std::string& hash) const;
  void Put(std::shared_ptr<const Token> token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Committer& committer_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Token>, std::less<>> by_name_
      ABSL_GUARDED_BY(mu_);
  // By secret_hash: Authenticate's lookup.
  absl::flat_hash_map<std::string, std::shared_ptr<const Token>> by_hash_
      ABSL_GUARDED_BY(mu_);
};

// See Submit: the assigned revision in place of kPendingRevision.
void RebaseRevision(Tokens::Created& created, uint64_t assigned);

}  // namespace muster::registry
