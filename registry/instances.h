#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "checkapi/target_source.h"
#include "common/clock.h"
#include "registry/checker_bridge.h"
#include "registry/committer.h"
#include "registry/index.h"
#include "registry/model.h"
#include "registry/submit.h"

namespace muster::registry {

// Instances serves the instance API: Register (an idempotent upsert),
// Deregister, SetAdminState and Heartbeat, and the reads of instances and
// services. Every request is validated first (INVALID_ARGUMENT naming the
// field); an empty realm means "default". Mutations (and heartbeats that
// change health) complete through `done` on the commit thread after the
// synced write, or inline when the request is refused before queueing or
// writes nothing; reads are served from the index.
// Thread-safe; owned by Registry.
class Instances final {
 public:
  struct Options {
    // Register into a missing realm creates it instead of NOT_FOUND.
    bool auto_create_realms = false;
    // Extra registration rules; an error refuses the registration.
    std::function<absl::Status(const Instance&)> check_registration;
    // Generates ids for registrations that leave them empty; random when
    // not set.
    std::function<std::string()> id_generator;
  };
  struct RegisterResult {
    std::shared_ptr<const Instance> instance;
    bool created = false;
    uint64_t revision = 0;
  };

  // Borrows everything but `options`; all of it outlives this object.
  Instances(Options options, Index& index, Committer& committer,
            CheckerBridge& checker, Clock& clock);
  Instances(const Instances&) = delete;
  Instances& operator=(const Instances&) = delete;

  // Creates the instance, or updates it in place (same incarnation) when
  // its id is registered already; an identical registration writes
  // nothing. NOT_FOUND for a missing realm (unless auto_create_realms).
  // `actor` (who asks; see Event::actor) goes on the events written, and
  // on a realm auto-created.
  void Register(std::string realm, Instance request, std::string actor,
                Callback<RegisterResult> done);
  // Yields the revision of the delete. `incarnation` 0 matches any;
  // another one than the current is FAILED_PRECONDITION.
  void Deregister(InstanceKey key, uint64_t incarnation, std::string actor,
                  Callback<uint64_t> done);
  // Setting the current state and reason again writes nothing.
  void SetAdminState(InstanceKey key, AdminState state, std::string reason,
                     std::string actor,
                     Callback<std::shared_ptr<const Instance>> done);
  // Records the heartbeat in memory and tells the checker; yields the
  // instance as it is once the heartbeat is applied. When a checker is
  // subscribed and the heartbeat changes the health (a TTL instance
  // STARTING or CRITICAL becomes PASSING), that change is committed and
  // `done` runs after the synced write; otherwise nothing is written and
  // `done` runs inline. INVALID_ARGUMENT for a bad key or incarnation 0,
  // NOT_FOUND when missing, FAILED_PRECONDITION when `incarnation` is not
  // current, UNAVAILABLE when the change cannot be written.
  // The change a heartbeat commits carries `actor`.
  void Heartbeat(InstanceKey key, uint64_t incarnation, std::string actor,
                 Callback<std::shared_ptr<const Instance>> done);

  // A heartbeat another replica accepted and forwarded to this one, which
  // checks the instance: recorded and given to the checker if the
  // incarnation is current here too (NOT_FOUND / FAILED_PRECONDITION
  // otherwise). Never forwarded again, never written.
  absl::Status AcceptForwardedHeartbeat(const InstanceKey& key,
                                        uint64_t incarnation);
  absl::StatusOr<std::shared_ptr<const Instance>> Get(
      const InstanceKey& key) const;
  absl::StatusOr<InstancePage> List(const ListQuery& query) const;
  // A page of the realm's services in name order, and the revision it
  // was read at: at most `page_size` (0: as many as fit one reply, else
  // 1..limits::kMaxPageSize) and at most limits::kMaxReplyBytes, from
  // `page_token` (a previous page's next_page_token, or empty).
  // INVALID_ARGUMENT naming page_size or page_token; NOT_FOUND for a
  // missing realm.
  absl::StatusOr<ServicesPage> ListServices(
      const std::string& realm, uint32_t page_size,
      const std::string& page_token) const;
  // The checker's live view of the instance merged with the heartbeat
  // time, when known.
  healthchecker::HealthDetail HealthDetailOf(const Instance& instance) const;

 private:
  const Options options_;
  Index& index_;
  Committer& committer_;
  CheckerBridge& checker_;
  Clock& clock_;
};

// See Submit: the assigned revision in place of kPendingRevision.
void RebaseRevision(Instances::RegisterResult& result, uint64_t assigned);

}  // namespace muster::registry
