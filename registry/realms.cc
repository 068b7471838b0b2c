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
absl::Status AddRealm(Txn& txn, Realm realm, Realm& created) {
  if (txn.FindRealm(realm.name).has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat("realm \"", realm.name, "\" already exists"));
  }
  realm.created_at = txn.now();
  realm.create_revision = txn.revision();
  realm.modify_revision = txn.revision();
  created = realm;
  txn.PutRealm(std::move(realm));
  return absl::OkStatus();
}

// Update's write: the settings change, the identity and history stay.
absl::Status ChangeSettings(Txn& txn, const Realm& settings, Realm& updated) {
  std::optional<Realm> existing = txn.FindRealm(settings.name);
  if (!existing.has_value()) return RealmNotFound(settings.name);
  updated = *existing;
  updated.description = settings.description;
  updated.eviction_protection_share = settings.eviction_protection_share;
  updated.default_deregister_after = settings.default_deregister_after;
  updated.modify_revision = txn.revision();
  txn.PutRealm(updated);
  return absl::OkStatus();
}

// Delete's write. REQUIRES: the operation is exclusive.
absl::Status RemoveRealm(Txn& txn, const std::string& name, bool force,
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
                       absl::StrCat("realm \"", name, "\" deleted"));
  }
  txn.DeleteRealm(name);
  result.revision = txn.revision();
  result.deleted_instances = instances.size();
  return absl::OkStatus();
}

}  // namespace

Realms::Realms(const Index& index, Committer& committer)
    : index_(index), committer_(committer) {}

void Realms::Create(Realm realm, Callback<Realm> done) {
  if (absl::Status valid = ValidateRealmSettings(realm); !valid.ok()) {
    done(valid);
    return;
  }
  Submit<Realm>(
      committer_, CommitMode::kGrouped,
      [realm = std::move(realm)](Txn& txn, Realm& created) {
        return AddRealm(txn, realm, created);
      },
      [done = std::move(done)](absl::StatusOr<Realm> created) {
        if (created.ok()) {
          MUSTER_LOG(kInfo, "realm \"%s\" created at revision %d",
                     created->name, created->create_revision);
        }
        done(std::move(created));
      });
}

void Realms::Update(Realm realm, Callback<Realm> done) {
  if (absl::Status valid = ValidateRealmSettings(realm); !valid.ok()) {
    done(valid);
    return;
  }
  Submit<Realm>(
      committer_, CommitMode::kGrouped,
      [settings = std::move(realm)](Txn& txn, Realm& updated) {
        return ChangeSettings(txn, settings, updated);
      },
      [done = std::move(done)](absl::StatusOr<Realm> updated) {
        if (updated.ok()) {
          MUSTER_LOG(kInfo, "realm \"%s\" updated at revision %d",
                     updated->name, updated->modify_revision);
        }
        done(std::move(updated));
      });
}

void Realms::Delete(std::string name, bool force, Callback<DeleteResult> done) {
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
      [name, force](Txn& txn, DeleteResult& result) {
        return RemoveRealm(txn, name, force, result);
      },
      [done = std::move(done), name](absl::StatusOr<DeleteResult> result) {
        if (result.ok()) {
          MUSTER_LOG(kInfo,
                     "realm \"%s\" deleted at revision %d with %d instances",
                     name, result->revision, result->deleted_instances);
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

}  // namespace muster::registry
