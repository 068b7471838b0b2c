#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "registry/store.h"
#include "store/memory/memory_store.h"

namespace muster::testing {

// A Store that forwards every call to a MemoryStore of its own. Tests
// derive from it and override the calls they observe or break.
// Thread-safe as far as the overrides are.
class ForwardingStore : public registry::Store {
 public:
  registry::MemoryStore& inner() { return inner_; }

  absl::StatusOr<registry::StoredState> Load() override {
    return inner_.Load();
  }
  absl::Status Commit(const registry::CommitBatch& batch) override {
    return inner_.Commit(batch);
  }
  absl::StatusOr<std::vector<registry::Event>> ReadChangeLog(
      uint64_t from, uint64_t to, size_t limit) override {
    return inner_.ReadChangeLog(from, to, limit);
  }
  absl::Status Compact(uint64_t oldest_to_keep) override {
    return inner_.Compact(oldest_to_keep);
  }
  uint64_t OldestRetainedRevision() const override {
    return inner_.OldestRetainedRevision();
  }
  absl::StatusOr<std::vector<registry::Realm>> LoadRealms() override {
    return inner_.LoadRealms();
  }
  absl::StatusOr<std::vector<registry::Token>> LoadTokens() override {
    return inner_.LoadTokens();
  }
  bool Writable() const override { return inner_.Writable(); }
  absl::StatusOr<uint64_t> Reopen() override { return inner_.Reopen(); }

 protected:
  registry::MemoryStore inner_;
};

}  // namespace muster::testing
