#include "store/memory/memory_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "store/layout/keys.h"

namespace muster::registry {

absl::StatusOr<StoredState> MemoryStore::Load() {
  absl::MutexLock lock(&mu_);
  StoredState state;
  state.revision = revision_;
  state.oldest_retained_revision = oldest_retained_;
  for (const auto& [key, realm] : realms_) state.realms.push_back(realm);
  for (const auto& [key, instance] : instances_) {
    state.instances.push_back(std::make_shared<const Instance>(instance));
  }
  ASSIGN_OR_RETURN(state.tokens, DecodeTokens());
  return state;
}

absl::Status MemoryStore::Commit(const CommitBatch& batch) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(keys::CheckCommitBatch(batch, revision_));
  // Encode every key first, so a bad one leaves the store untouched.
  std::vector<std::string> delete_realms;
  std::vector<std::string> delete_instances;
  std::vector<std::string> put_realms;
  std::vector<std::string> put_instances;
  std::vector<std::string> put_tokens;
  for (const std::string& name : batch.delete_realms) {
    ASSIGN_OR_RETURN(std::string key, keys::EncodeRealmKey(name));
    delete_realms.push_back(std::move(key));
  }
  for (const InstanceKey& instance_key : batch.delete_instances) {
    ASSIGN_OR_RETURN(std::string key, keys::EncodeInstanceKey(instance_key));
    delete_instances.push_back(std::move(key));
  }
  for (const Realm& realm : batch.put_realms) {
    ASSIGN_OR_RETURN(std::string key, keys::EncodeRealmKey(realm.name));
    put_realms.push_back(std::move(key));
  }
  for (const Instance& instance : batch.put_instances) {
    ASSIGN_OR_RETURN(std::string key, keys::EncodeInstanceKey(instance.Key()));
    put_instances.push_back(std::move(key));
  }
  for (const Token& token : batch.put_tokens) {
    ASSIGN_OR_RETURN(std::string key, keys::EncodeTokenKey(token.name));
    put_tokens.push_back(std::move(key));
  }
  if (fail_commits_) {
    return absl::UnavailableError("memory store: injected commit failure");
  }

  for (const std::string& key : delete_realms) realms_.erase(key);
  for (const std::string& key : delete_instances) instances_.erase(key);
  for (size_t i = 0; i < put_realms.size(); ++i) {
    realms_.insert_or_assign(put_realms[i], batch.put_realms[i]);
  }
  for (size_t i = 0; i < put_instances.size(); ++i) {
    instances_.insert_or_assign(put_instances[i], batch.put_instances[i]);
  }
  for (size_t i = 0; i < put_tokens.size(); ++i) {
    tokens_.insert_or_assign(put_tokens[i],
                             keys::EncodeTokenValue(batch.put_tokens[i]));
  }
  changelog_.insert(changelog_.end(), batch.events.begin(), batch.events.end());
  revision_ = batch.revision;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Event>> MemoryStore::ReadChangeLog(uint64_t from,
                                                              uint64_t to,
                                                              size_t limit) {
  absl::MutexLock lock(&mu_);
  if (from < oldest_retained_) {
    return absl::OutOfRangeError(absl::StrFormat(
        "revision %d is compacted: the oldest retained revision is %d", from,
        oldest_retained_));
  }
  std::vector<Event> events;
  auto it = std::lower_bound(changelog_.begin(), changelog_.end(), from,
                             [](const Event& event, uint64_t revision) {
                               return event.revision < revision;
                             });
  for (; it != changelog_.end() && it->revision <= to; ++it) {
    // Past the limit, finish the last revision only.
    if (events.size() >= limit &&
        (events.empty() || it->revision != events.back().revision)) {
      break;
    }
    events.push_back(*it);
  }
  return events;
}

absl::Status MemoryStore::Compact(uint64_t oldest_to_keep) {
  absl::MutexLock lock(&mu_);
  const uint64_t target = std::min(oldest_to_keep, revision_ + 1);
  if (target <= oldest_retained_) return absl::OkStatus();
  while (!changelog_.empty() && changelog_.front().revision < target) {
    changelog_.pop_front();
  }
  oldest_retained_ = target;
  return absl::OkStatus();
}

uint64_t MemoryStore::OldestRetainedRevision() const {
  absl::MutexLock lock(&mu_);
  return oldest_retained_;
}

absl::StatusOr<std::vector<Realm>> MemoryStore::LoadRealms() {
  absl::MutexLock lock(&mu_);
  std::vector<Realm> realms;
  for (const auto& [key, realm] : realms_) realms.push_back(realm);
  return realms;
}

absl::StatusOr<std::vector<Token>> MemoryStore::LoadTokens() {
  absl::MutexLock lock(&mu_);
  return DecodeTokens();
}

absl::StatusOr<std::vector<Token>> MemoryStore::DecodeTokens() const {
  std::vector<Token> tokens;
  for (const auto& [key, value] : tokens_) {
    ASSIGN_OR_RETURN(Token token, keys::DecodeTokenRecord(key, value));
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::map<std::string, std::string> MemoryStore::TEST_TokenRecords() const {
  absl::MutexLock lock(&mu_);
  return tokens_;
}

bool MemoryStore::Writable() const {
  absl::MutexLock lock(&mu_);
  return !fail_commits_;
}

absl::StatusOr<uint64_t> MemoryStore::Reopen() {
  absl::MutexLock lock(&mu_);
  if (fail_commits_) {
    return absl::UnavailableError("memory store: injected commit failure");
  }
  return revision_;
}

void MemoryStore::TEST_FailCommits(bool fail) {
  absl::MutexLock lock(&mu_);
  fail_commits_ = fail;
}

}  // namespace muster::registry
