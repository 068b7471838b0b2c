#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/siphash.h"
#include "registry/model.h"
#include "registry/store.h"

namespace muster::registry {

// Per-service counts.
struct ServiceCounts {
  std::string name;
  uint64_t instances = 0;
  uint64_t routable = 0;
};

// A page of ListServices.
struct ServicesPage {
  std::vector<ServiceCounts> services;
  std::string next_page_token;
  uint64_t revision = 0;
};

// Per-realm counts.
struct RealmCounts {
  Realm realm;
  uint64_t instances = 0;
  uint64_t routable = 0;
  uint64_t services = 0;
  // Instances by health, indexed by static_cast<int>(Health) (0 unused).
  uint64_t by_health[5] = {0, 0, 0, 0, 0};
};

// A page of ListInstances.
struct InstancePage {
  std::vector<std::shared_ptr<const Instance>> instances;
  std::string next_page_token;
  uint64_t revision = 0;
};

// Index is the in-memory copy of the committed state; every read is
// served from here. Only the committer mutates it (Load, Apply); reads
// run concurrently under a reader lock and copy shared pointers out.
// Thread-safe.
class Index final {
 public:
  Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // Replaces the contents with `state` (start-up).
  void Load(StoredState state);
  // Applies a committed batch (puts, deletes, revision).
  void Apply(const CommitBatch& batch);

  uint64_t revision() const;
  std::shared_ptr<const Instance> FindInstance(const InstanceKey& key) const;
  std::optional<Realm> FindRealm(const std::string& name) const;
  // Every instance of a realm (for a forced delete), in key order.
  std::vector<std::shared_ptr<const Instance>> RealmInstances(
      const std::string& realm) const;
  // The instances of a realm (one service when `service` is not empty) and
  // the revision they were read at, atomically. NOT_FOUND for a missing realm.
  absl::StatusOr<std::vector<std::shared_ptr<const Instance>>> Snapshot(
      const std::string& realm, const std::string& service,
      uint64_t* revision) const;
  // Every instance, in key order, and the revision read.
  std::vector<std::shared_ptr<const Instance>> AllInstances(
      uint64_t* revision) const;

  // REQUIRES: the query is valid. NOT_FOUND for a missing realm;
  // INVALID_ARGUMENT for a page token this index did not return for this
  // query (tokens carry a SipHash of the query and the position, keyed
  // anew at each start). A page ends at page_size instances or at
  // limits::kMaxReplyBytes (EncodedSizeBound), with at least one.
  absl::StatusOr<InstancePage> List(const ListQuery& query) const;
  // NOT_FOUND for a missing realm.
  absl::StatusOr<std::vector<ServiceCounts>> Services(const std::string& realm,
                                                      uint64_t* revision) const;
  // The services of a realm in name order, a page at a time: up to
  // `page_size` (0: no count limit) and limits::kMaxReplyBytes. Page
  // tokens are verified as List's are. NOT_FOUND for a missing realm.
  absl::StatusOr<ServicesPage> ServicesPaged(
      const std::string& realm, uint32_t page_size,
      const std::string& page_token) const;
  std::vector<RealmCounts> Realms(uint64_t* revision) const;
  uint64_t InstanceCount() const;

  // Records a heartbeat for `key` if `incarnation` is current. NOT_FOUND
  // when missing, FAILED_PRECONDITION when the incarnation differs.
  absl::StatusOr<std::shared_ptr<const Instance>> Heartbeat(
      const InstanceKey& key, uint64_t incarnation, absl::Time at);
  // Last accepted heartbeat of the instance's current incarnation.
  std::optional<absl::Time> LastHeartbeat(const InstanceKey& key) const;

 private:
  // One instance in its service. The instance's own id is the key (no
  // second copy of it), so the set is ordered by instance->id; `instance`
  // is replaced only by an instance of the same id. B-tree nodes hold
  // entries by value, a few dozen bytes each, where a std::map node with
  // its own key string took about a hundred.
  struct Entry {
    explicit Entry(std::shared_ptr<const Instance> instance)
        : instance(std::move(instance)) {}
    // B-tree nodes move their values; they do so only under the writer
    // lock, when no heartbeat writes concurrently.
    Entry(Entry&& other) noexcept
        : instance(std::move(other.instance)),
          last_heartbeat_ns(
              other.last_heartbeat_ns.load(std::memory_order_relaxed)) {}
    Entry& operator=(Entry&& other) noexcept {
      instance = std::move(other.instance);
      last_heartbeat_ns.store(
          other.last_heartbeat_ns.load(std::memory_order_relaxed),
          std::memory_order_relaxed);
      return *this;
    }
    const std::string& id() const { return instance->id; }

    // Set elements are const; the id (the key) never changes, the rest
    // may, under the writer lock.
    mutable std::shared_ptr<const Instance> instance;
    // Unix nanoseconds of the last heartbeat; 0 for none. Written under
    // the reader lock, hence atomic.
    mutable std::atomic<int64_t> last_heartbeat_ns{0};
  };
  // Orders entries by id; looks up by any string (transparent).
  struct ById {
    using is_transparent = void;
    static absl::string_view Id(const Entry& entry) { return entry.id(); }
    static absl::string_view Id(absl::string_view id) { return id; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Id(a) < Id(b);
    }
  };
  using Entries = absl::btree_set<Entry, ById>;
  struct Service {
    Entries instances;
    uint64_t routable = 0;
  };
  struct RealmState {
    Realm realm;
    std::map<std::string, Service> services;
    uint64_t instances = 0;
    uint64_t routable = 0;
    uint64_t by_health[5] = {0, 0, 0, 0, 0};
  };

  std::string EncodeToken(absl::string_view scope,
                          absl::string_view position) const;
  absl::StatusOr<std::string> DecodeToken(absl::string_view scope,
                                          absl::string_view token) const;

  void PutLocked(std::shared_ptr<const Instance> instance)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `service` is `realm`'s entry for the instance's service.
  void PutInServiceLocked(RealmState& realm, Service& service,
                          std::shared_ptr<const Instance> instance)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteLocked(const InstanceKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Entry* FindLocked(const InstanceKey& key) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const SipKey token_key_;

  mutable absl::Mutex mu_;
  std::map<std::string, RealmState> realms_ ABSL_GUARDED_BY(mu_);
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t instance_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace muster::registry
