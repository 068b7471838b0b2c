#include "registry/realms.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "registry/errors.h"
#include "registry/validation.h"

namespace muster::registry {
namespace {

// Create's write.
absl::Status AddRealm(Txn& txn, Realm realm, const std::string& actor,
                      Realm& created) {
  if (txn.FindRealm(realm.name).has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat("realm \"", realm.name, "\" already exists"));
  }
  realm.created_at = txn.now();
  realm.create_revision = txn.revision();
  realm.modify_revision = txn.revision();
  realm.modified_by = actor;
  created = realm;
  txn.PutRealm(std::move(realm));
  return absl::OkStatus();
}

// The settings `update` carries, as a Realm to validate: every field it
// leaves alone is at its default, which is always valid.
Realm ChangedFields(const Realms::SettingsUpdate& update) {
  Realm realm;
  realm.name = update.name;
  if (update.description.has_value()) realm.description = *update.description;
  if (update.eviction_protection_share.has_value()) {
    realm.eviction_protection_share = *update.eviction_protection_share;
  }
  if (update.default_deregister_after.has_value()) {
    realm.default_deregister_after = *update.default_deregister_after;
  }
  return realm;
}

// Update's write: the named settings change, the rest of the realm (its
// other settings, identity and history) stays.
absl::Status ChangeSettings(Txn& txn, const Realms::SettingsUpdate& update,
                            const std::string& actor, Realm& updated) {
  std::optional<Realm> existing = txn.FindRealm(update.name);
  if (!existing.has_value()) return RealmNotFound(update.name);
  updated = *existing;
  if (update.description.has_value()) {
    updated.description = *update.description;
  }
  if (update.eviction_protection_share.has_value()) {
    updated.eviction_protection_share = *update.eviction_protection_share;
  }
  if (update.default_deregister_after.has_value()) {
    updated.default_deregister_after = *update.default_deregister_after;
  }
  updated.modify_revision = txn.revision();
  updated.modified_by = actor;
  txn.PutRealm(updated);
  return absl::OkStatus();
}

// Delete's write. REQUIRES: the operation is exclusive.
absl::Status RemoveRealm(Txn& txn, const std::string& name, bool force,
                         const std::string& actor,
                         Realms::DeleteResult& result) {
  if (!txn.FindRealm(name).has_value()) return RealmNotFound(name);
  std::vector<std::shared_ptr<const Instance>> instances =
      txn.RealmInstances(name);
  if (!instances.empty() && !force) {
    return absl::FailedPreconditionError(
        absl::StrCat("realm \"", name, "\" still has ", instances.size(),
                     " instances; deregister them first or delete with force"));
  }
  for (auto& instance : instances) {
    txn.DeleteInstance(std::move(instance), EventCause::kRealmDeleted,
                       absl::StrCat("realm \"", name, "\" deleted"), actor);
  }
  txn.DeleteRealm(name);
  result.revision = txn.revision();
  result.deleted_instances = instances.size();
  return absl::OkStatus();
}

}  // namespace

Realms::Realms(const Index& index, Committer& committer)
    : index_(index), committer_(committer) {}

void Realms::Create(Realm realm, std::string actor, Callback<Realm> done) {
  if (absl::Status valid = ValidateRealmSettings(realm); !valid.ok()) {
    done(valid);
    return;
  }
  Submit<Realm>(
      committer_, CommitMode::kGrouped,
      [realm = std::move(realm), actor = std::move(actor)](Txn& txn,
                                                           Realm& created) {
        return AddRealm(txn, realm, actor, created);
      },
      [done = std::move(done)](absl::StatusOr<Realm> created) {
        if (created.ok()) {
          MUSTER_LOG(kInfo, "realm \"%s\" created at revision %d by %s",
                     created->name, created->create_revision,
                     created->modified_by);
        }
        done(std::move(created));
      });
}

void Realms::Update(SettingsUpdate update, std::string actor,
                    Callback<Realm> done) {
  // Each setting's rule stands alone, so checking the changed ones
  // against defaults for the rest checks the merged result too.
  if (absl::Status valid = ValidateRealmSettings(ChangedFields(update));
      !valid.ok()) {
    done(valid);
    return;
  }
  if (update.ChangesNothing()) {
    // Nothing to write: a commit would only move modify_revision.
    done(Get(update.name));
    return;
  }
  Submit<Realm>(
      committer_, CommitMode::kGrouped,
      [update = std::move(update), actor = std::move(actor)](Txn& txn,
                                                             Realm& updated) {
        return ChangeSettings(txn, update, actor, updated);
      },
      [done = std::move(done)](absl::StatusOr<Realm> updated) {
        if (updated.ok()) {
          MUSTER_LOG(kInfo, "realm \"%s\" updated at revision %d by %s",
                     updated->name, updated->modify_revision,
                     updated->modified_by);
        }
        done(std::move(updated));
      });
}

void Realms::Delete(std::string name, bool force, std::string actor,
                    Callback<DeleteResult> done) {
  if (absl::Status valid = ValidateName(name, "name"); !valid.ok()) {
    done(valid);
    return;
  }
  if (name == kDefaultRealm) {
    done(absl::FailedPreconditionError(
        "realm \"default\" always exists and cannot be deleted"));
    return;
  }
  Submit<DeleteResult>(
      committer_, CommitMode::kExclusive,
      [name, force, actor](Txn& txn, DeleteResult& result) {
        return RemoveRealm(txn, name, force, actor, result);
      },
      [done = std::move(done), name,
       actor](absl::StatusOr<DeleteResult> result) {
        if (result.ok()) {
          MUSTER_LOG(kInfo,
                     "realm \"%s\" deleted at revision %d with %d instances "
                     "by %s",
                     name, result->revision, result->deleted_instances, actor);
        }
        done(std::move(result));
      });
}

absl::StatusOr<Realm> Realms::Get(const std::string& name) const {
  RETURN_IF_ERROR(ValidateName(name, "name"));
  std::optional<Realm> realm = index_.FindRealm(name);
  if (!realm.has_value()) return RealmNotFound(name);
  return *realm;
}

Realms::Listing Realms::List() const {
  Listing listing;
  listing.realms = index_.Realms(&listing.revision);
  return listing;
}

void RebaseRevision(Realms::DeleteResult& result, uint64_t assigned) {
  RebaseRevision(result.revision, assigned);
}

}  // namespace muster::registry
