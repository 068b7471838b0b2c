#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "checkapi/check_spec.h"
#include "registry/encoding_slot.h"

namespace muster::registry {

inline constexpr char kDefaultRealm[] = "default";

// Identifies an instance: realm + service + id.
struct InstanceKey {
  std::string realm;
  std::string service;
  std::string id;

  friend bool operator==(const InstanceKey& a, const InstanceKey& b) {
    return a.realm == b.realm && a.service == b.service && a.id == b.id;
  }
  friend bool operator<(const InstanceKey& a, const InstanceKey& b) {
    return std::tie(a.realm, a.service, a.id) <
           std::tie(b.realm, b.service, b.id);
  }
  // "realm/service/id", for messages.
  std::string ToString() const;
};

// One registered instance, as stored. Value type; not thread-safe (a
// const Instance may be read and copied from many threads at once, and
// readers of a shared const Instance fill `encoding`).
//
// Memory: a daemon holds a million of these, so the layout is compact.
// What most instances leave empty (the check spec, the admin reason and
// the checker's output) lives out of line behind accessors, in one block
// shared between copies until one of them changes it (copy on write): an
// instance without a check carries a null pointer, and an instance's
// versions (the index's, the events') share one block.
struct Instance {
  std::string realm;
  std::string service;
  std::string id;
  std::string address;
  std::string zone;
  std::string version;
  // Sorted, unique.
  std::vector<std::string> tags;
  // Sorted by key, unique keys.
  std::vector<std::pair<std::string, std::string>> metadata;
  absl::Time registered_at = absl::UnixEpoch();
  absl::Time status_changed_at = absl::UnixEpoch();
  // create_revision is also the incarnation.
  uint64_t create_revision = 0;
  uint64_t modify_revision = 0;
  uint32_t port = 0;
  uint32_t weight = 1;
  Health health = Health::kStarting;
  AdminState admin_state = AdminState::kEnabled;

  // How the instance is checked (kind kNone: not at all).
  const CheckSpec& check() const;
  // Changing it copies the shared block first when another copy holds it.
  CheckSpec* mutable_check();
  void set_check(CheckSpec check);
  const std::string& admin_reason() const;
  void set_admin_reason(std::string reason);
  // The checker's output when the health last changed (<= 4 KiB).
  const std::string& check_output() const;
  void set_check_output(std::string output);

  // Not part of the value: the front end's encoding of this version, made
  // on first read and freed with it (registry/encoding_slot.h). A copy
  // starts empty.
  EncodingSlot encoding;

  InstanceKey Key() const { return InstanceKey{realm, service, id}; }
  bool Routable() const { return IsRoutable(admin_state, health); }
  // True when the fields a client registers (address ... check) are equal.
  bool SameRegistration(const Instance& other) const;

 private:
  // The out-of-line fields, with the count of instances holding them.
  struct Rare {
    CheckSpec check;
    std::string admin_reason;
    std::string check_output;
    std::atomic<uint32_t> holders{1};
  };
  // A counted pointer to a Rare block: 8 bytes where a shared_ptr takes
  // 16, in every instance. Null: all empty (a default CheckSpec, no
  // reason, no output).
  class RarePtr {
   public:
    RarePtr() = default;
    RarePtr(const RarePtr& other);
    RarePtr(RarePtr&& other) noexcept;
    RarePtr& operator=(const RarePtr& other);
    RarePtr& operator=(RarePtr&& other) noexcept;
    ~RarePtr() { Reset(nullptr); }
    Rare* get() const { return rare_; }
    // Takes ownership of `rare` (which has holders == 1).
    void Reset(Rare* rare);

   private:
    Rare* rare_ = nullptr;
  };
  Rare& MutableRare();
  // Drops the block when a change left it all empty again.
  void DropRareIfEmpty();

  RarePtr rare_;
};

// A realm and its settings. Value type.
struct Realm {
  std::string name;
  std::string description;
  // 0 means the daemon default.
  double eviction_protection_share = 0;
  // Zero means the daemon default.
  absl::Duration default_deregister_after = absl::ZeroDuration();
  absl::Time created_at = absl::UnixEpoch();
  uint64_t create_revision = 0;
  uint64_t modify_revision = 0;
  // Who made the last create or update (see Event::actor).
  std::string modified_by;
};

// Values match muster.v1.Event enums and are stored on disk.
enum class EventType : uint8_t { kPut = 1, kDelete = 2 };
enum class EventCause : uint8_t {
  kRegistered = 1,
  kUpdated = 2,
  kHealthChanged = 3,
  kAdminChanged = 4,
  kDeregistered = 5,
  kEvicted = 6,
  kRealmDeleted = 7,
  kSnapshot = 8,
};

// One change of one instance. `instance` is the state after a PUT, the
// last state before a DELETE. Immutable once built; shared between the
// index, the watch hub and watchers.
struct Event {
  uint64_t revision = 0;
  EventType type = EventType::kPut;
  EventCause cause = EventCause::kRegistered;
  std::shared_ptr<const Instance> instance;
  std::string reason;
  absl::Time time = absl::UnixEpoch();
  // Who made the change (muster.v1.Event.actor); kCheckerActor for the
  // health checker's verdicts and evictions.
  std::string actor;
};

// The actor of the health checker's changes.
inline constexpr absl::string_view kCheckerActor = "health-checker";
// The actor of what the daemon does on its own (the "default" realm).
inline constexpr absl::string_view kDaemonActor = "musterd";

absl::string_view EventCauseName(EventCause cause);

// An upper bound of the bytes the instance (the event) takes once
// encoded for a client, in any front end's wire format we have: every
// string with a field header, every map entry, plus a fixed allowance for
// the numbers, enums and timestamps. Replies that carry many records
// stop at limits::kMaxReplyBytes by this measure.
size_t EncodedSizeBound(const Instance& instance);
size_t EncodedSizeBound(const Event& event);

// A ListInstances request, as the registry sees it.
struct ListQuery {
  std::string realm;
  // Empty: every service of the realm.
  std::string service;
  bool routable_only = false;
  // All of these tags.
  std::vector<std::string> tags;
  // Each of these key=value pairs.
  std::vector<std::pair<std::string, std::string>> metadata;
  // Empty: any zone.
  std::string zone;
  // 0 means the default page size.
  uint32_t page_size = 0;
  // Opaque, from a previous page.
  std::string page_token;
};

}  // namespace muster::registry
