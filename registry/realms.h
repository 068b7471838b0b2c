#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "registry/committer.h"
#include "registry/index.h"
#include "registry/model.h"
#include "registry/submit.h"

namespace muster::registry {

// Realms serves the realm API: create, update, delete (with or without
// its instances), get, and the listing with counts. Requests are
// validated first (INVALID_ARGUMENT naming the field). Mutations complete
// through `done` on the commit thread after the synced write, or inline
// when refused before queueing; reads are served from the index.
// Thread-safe; owned by Registry.
class Realms final {
 public:
  struct DeleteResult {
    uint64_t revision = 0;
    uint64_t deleted_instances = 0;
  };
  // A change of some of a realm's settings. A field with a value is set
  // to it (its default value resets it); a field without one is left as
  // it is.
  struct SettingsUpdate {
    std::string name;
    std::optional<std::string> description;
    std::optional<double> eviction_protection_share;
    std::optional<absl::Duration> default_deregister_after;

    bool ChangesNothing() const {
      return !description.has_value() &&
             !eviction_protection_share.has_value() &&
             !default_deregister_after.has_value();
    }
  };
  // Every realm with its counts, read at `revision`.
  struct Listing {
    std::vector<RealmCounts> realms;
    uint64_t revision = 0;
  };

  // Borrows `index` and `committer`, which outlive it.
  Realms(const Index& index, Committer& committer);
  Realms(const Realms&) = delete;
  Realms& operator=(const Realms&) = delete;

  // ALREADY_EXISTS when the name is taken.
  // `actor` (who asks; see Event::actor) is recorded as the realm's
  // modified_by, on the events of a forced delete, and in the log line.
  void Create(Realm realm, std::string actor, Callback<Realm> done);
  // Sets the settings that `update` carries, in one commit; the others
  // keep their values. An update that carries none writes nothing and
  // answers the realm as it is (inline). NOT_FOUND for a missing realm.
  void Update(SettingsUpdate update, std::string actor, Callback<Realm> done);
  // FAILED_PRECONDITION for "default", and for a realm with instances
  // unless `force`, which deletes them too (cause REALM_DELETED).
  void Delete(std::string name, bool force, std::string actor,
              Callback<DeleteResult> done);

  absl::StatusOr<Realm> Get(const std::string& name) const;
  Listing List() const;

 private:
  const Index& index_;
  Committer& committer_;
};

// See Submit: the assigned revision in place of kPendingRevision.
void RebaseRevision(Realms::DeleteResult& result, uint64_t assigned);

}  // namespace muster::registry
