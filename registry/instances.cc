#include "registry/instances.h"

#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "registry/errors.h"
#include "registry/validation.h"

namespace muster::registry {
namespace {

using RegisterResult = Instances::RegisterResult;

// What a registration into a missing realm does.
enum class MissingRealm { kRefuse, kCreate };

std::string RandomId() {
  // Ids only need to be unique within a service; 64 random bits are.
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen ABSL_PT_GUARDED_BY(mu) = new absl::BitGen();
  absl::MutexLock lock(&mu);
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(*gen));
}

absl::Status ValidateKey(const InstanceKey& key) {
  RETURN_IF_ERROR(ValidateName(key.realm, "realm"));
  RETURN_IF_ERROR(ValidateName(key.service, "service"));
  return ValidateInstanceId(key.id, "id");
}

InstanceKey WithDefaultRealm(InstanceKey key) {
  if (key.realm.empty()) key.realm = kDefaultRealm;
  return key;
}

Health InitialHealth(const CheckSpec& check) {
  return check.kind == CheckKind::kNone ? Health::kPassing : Health::kStarting;
}

// The realm a registration goes into, created in `txn` when it is missing
// and `missing` allows it.
absl::StatusOr<Realm> RealmForRegistration(Txn& txn, const std::string& name,
                                           MissingRealm missing,
                                           const std::string& actor) {
  std::optional<Realm> realm = txn.FindRealm(name);
  if (realm.has_value()) return *realm;
  if (missing == MissingRealm::kRefuse) return RealmNotFound(name);
  Realm created;
  created.name = name;
  created.description = "created by the first registration";
  created.created_at = txn.now();
  created.create_revision = txn.revision();
  created.modified_by = actor;
  txn.PutRealm(created);
  MUSTER_LOG(kInfo, "realm \"%s\" auto-created by a registration", name);
  return created;
}

// A first registration: a new incarnation at this revision.
RegisterResult CreateInstance(Txn& txn, Instance request, std::string actor) {
  request.health = InitialHealth(request.check());
  request.admin_state = AdminState::kEnabled;
  request.set_admin_reason("");
  request.set_check_output("");
  request.registered_at = txn.now();
  request.status_changed_at = txn.now();
  request.create_revision = txn.revision();
  RegisterResult result;
  result.instance = txn.PutInstance(std::move(request), EventCause::kRegistered,
                                    "registered", std::move(actor));
  result.created = true;
  result.revision = txn.revision();
  return result;
}

// A re-registration with changes: the registered fields are replaced, the
// incarnation and admin state stay. A new check starts over from its
// initial health.
RegisterResult UpdateInstance(Txn& txn, const Instance& existing,
                              Instance request, std::string actor) {
  Instance updated = existing;
  const bool check_changed = updated.check() != request.check();
  updated.address = std::move(request.address);
  updated.port = request.port;
  updated.tags = std::move(request.tags);
  updated.metadata = std::move(request.metadata);
  updated.weight = request.weight;
  updated.zone = std::move(request.zone);
  updated.version = std::move(request.version);
  if (check_changed) {
    updated.set_check(request.check());
    // A new check has to earn its verdict again.
    updated.health = InitialHealth(updated.check());
    updated.status_changed_at = txn.now();
    updated.set_check_output("");
  }
  RegisterResult result;
  result.instance = txn.PutInstance(
      std::move(updated), EventCause::kUpdated,
      check_changed ? "re-registered with a new check" : "re-registered",
      std::move(actor));
  result.revision = txn.revision();
  return result;
}

// Register's write: resolves the check against the realm's defaults,
// then creates the instance, updates it, or leaves an identical one be.
absl::Status Upsert(Txn& txn, Instance request, MissingRealm missing,
                    const std::string& actor, RegisterResult& result) {
  ASSIGN_OR_RETURN(Realm realm,
                   RealmForRegistration(txn, request.realm, missing, actor));
  ASSIGN_OR_RETURN(
      CheckSpec check,
      ResolveCheckSpec(request.check(), realm.default_deregister_after,
                       "instance.check"));
  request.set_check(std::move(check));
  std::shared_ptr<const Instance> existing = txn.FindInstance(request.Key());
  if (existing == nullptr) {
    result = CreateInstance(txn, std::move(request), actor);
  } else if (existing->SameRegistration(request)) {
    result.instance = existing;
    result.revision = existing->modify_revision;
  } else {
    result = UpdateInstance(txn, *existing, std::move(request), actor);
  }
  return absl::OkStatus();
}

// Deregister's write: deletes the instance if `incarnation` (0: any) is
// current.
absl::Status Remove(Txn& txn, const InstanceKey& key, uint64_t incarnation,
                    const std::string& actor, uint64_t& revision) {
  std::shared_ptr<const Instance> existing = txn.FindInstance(key);
  if (existing == nullptr) return InstanceNotFound(key);
  if (incarnation != 0 && existing->create_revision != incarnation) {
    return StaleIncarnation(*existing, incarnation);
  }
  txn.DeleteInstance(existing, EventCause::kDeregistered, "deregistered",
                     actor);
  revision = txn.revision();
  return absl::OkStatus();
}

// SetAdminState's write; the same state and reason write nothing.
absl::Status ApplyAdminState(Txn& txn, const InstanceKey& key, AdminState state,
                             const std::string& reason,
                             const std::string& actor,
                             std::shared_ptr<const Instance>& result) {
  std::shared_ptr<const Instance> existing = txn.FindInstance(key);
  if (existing == nullptr) return InstanceNotFound(key);
  if (existing->admin_state == state && existing->admin_reason() == reason) {
    result = existing;
    return absl::OkStatus();
  }
  Instance updated = *existing;
  updated.admin_state = state;
  updated.set_admin_reason(reason);
  std::string why =
      absl::StrCat(state == AdminState::kDraining ? "drained" : "enabled",
                   reason.empty() ? "" : ": ", reason);
  result = txn.PutInstance(std::move(updated), EventCause::kAdminChanged,
                           std::move(why), actor);
  return absl::OkStatus();
}

// The checker's words for a heartbeat (healthchecker/health_checker.cc):
// the committed output reads the same whichever of the two commits it.
constexpr char kHeartbeatOutput[] = "ttl: heartbeat received";

// Whether a heartbeat changes the instance's health, by the checker's TTL
// rule: one heartbeat is decisive (healthy_threshold does not apply to
// TTL checks), so STARTING or CRITICAL becomes PASSING.
bool HeartbeatRevives(const Instance& instance) {
  return instance.check().kind == CheckKind::kTtl &&
         (instance.health == Health::kStarting ||
          instance.health == Health::kCritical);
}

// A reviving heartbeat's write: PASSING, unless the incarnation is gone or
// something committed since made the heartbeat change nothing.
absl::Status ApplyHeartbeat(Txn& txn, const InstanceKey& key,
                            uint64_t incarnation, const std::string& actor,
                            std::shared_ptr<const Instance>& result) {
  std::shared_ptr<const Instance> existing = txn.FindInstance(key);
  if (existing == nullptr) return InstanceNotFound(key);
  if (existing->create_revision != incarnation) {
    return StaleIncarnation(*existing, incarnation);
  }
  if (!HeartbeatRevives(*existing)) {
    result = existing;
    return absl::OkStatus();
  }
  Instance updated = *existing;
  updated.health = Health::kPassing;
  updated.status_changed_at = txn.now();
  updated.set_check_output(kHeartbeatOutput);
  // Worded as the checker's health reports are.
  std::string reason =
      absl::StrCat(HealthName(existing->health), " -> ",
                   HealthName(Health::kPassing), ": ", kHeartbeatOutput);
  result = txn.PutInstance(std::move(updated), EventCause::kHealthChanged,
                           std::move(reason), actor);
  return absl::OkStatus();
}

}  // namespace

Instances::Instances(Options options, Index& index, Committer& committer,
                     CheckerBridge& checker, Clock& clock)
    : options_(std::move(options)),
      index_(index),
      committer_(committer),
      checker_(checker),
      clock_(clock) {}

void Instances::Register(std::string realm, Instance request, std::string actor,
                         Callback<RegisterResult> done) {
  request.realm = realm.empty() ? kDefaultRealm : std::move(realm);
  absl::Status valid = ValidateName(request.realm, "realm");
  if (valid.ok()) valid = ValidateRegistration(request);
  if (valid.ok() && options_.check_registration)
    valid = options_.check_registration(request);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  NormalizeRegistration(request);
  if (request.weight == 0) request.weight = 1;
  if (request.id.empty()) {
    request.id = options_.id_generator ? options_.id_generator() : RandomId();
  }
  const MissingRealm missing = options_.auto_create_realms
                                   ? MissingRealm::kCreate
                                   : MissingRealm::kRefuse;
  Submit<RegisterResult>(
      committer_, CommitMode::kGroupedReply,
      // A replicated store may prepare it again (see Committer): then the
      // request is copied; a local store prepares it once, and it moves.
      [request = std::move(request), missing, actor = std::move(actor)](
          Txn& txn, RegisterResult& result) mutable {
        if (txn.may_prepare_again()) {
          return Upsert(txn, request, missing, actor, result);
        }
        return Upsert(txn, std::move(request), missing, actor, result);
      },
      std::move(done));
}

void Instances::Deregister(InstanceKey key, uint64_t incarnation,
                           std::string actor, Callback<uint64_t> done) {
  key = WithDefaultRealm(std::move(key));
  if (absl::Status valid = ValidateKey(key); !valid.ok()) {
    done(valid);
    return;
  }
  Submit<uint64_t>(
      committer_, CommitMode::kGrouped,
      [key = std::move(key), incarnation, actor = std::move(actor)](
          Txn& txn, uint64_t& revision) {
        return Remove(txn, key, incarnation, actor, revision);
      },
      std::move(done));
}

void Instances::SetAdminState(InstanceKey key, AdminState state,
                              std::string reason, std::string actor,
                              Callback<std::shared_ptr<const Instance>> done) {
  key = WithDefaultRealm(std::move(key));
  absl::Status valid = ValidateKey(key);
  if (valid.ok()) valid = ValidateReason(reason, "reason");
  if (!valid.ok()) {
    done(valid);
    return;
  }
  Submit<std::shared_ptr<const Instance>>(
      committer_, CommitMode::kGrouped,
      [key = std::move(key), state, reason = std::move(reason),
       actor = std::move(actor)](Txn& txn,
                                 std::shared_ptr<const Instance>& result) {
        return ApplyAdminState(txn, key, state, reason, actor, result);
      },
      std::move(done));
}

void Instances::Heartbeat(InstanceKey key, uint64_t incarnation,
                          std::string actor,
                          Callback<std::shared_ptr<const Instance>> done) {
  key = WithDefaultRealm(std::move(key));
  if (absl::Status valid = ValidateKey(key); !valid.ok()) {
    done(valid);
    return;
  }
  if (incarnation == 0) {
    done(absl::InvalidArgumentError(
        "incarnation: required; use the create_revision returned by "
        "Register"));
    return;
  }
  const absl::Time now = clock_.Now();
  absl::StatusOr<std::shared_ptr<const Instance>> instance =
      index_.Heartbeat(key, incarnation, now);
  if (!instance.ok()) {
    done(std::move(instance));
    return;
  }
  checker_.NotifyHeartbeat(key, incarnation, now);
  // Without a checker nothing judges health (it stays as committed), so a
  // heartbeat changes nothing either.
  if (!HeartbeatRevives(**instance) || !checker_.HasListeners()) {
    done(std::move(instance));
    return;
  }
  // The heartbeat changes the health: answer only once that change is
  // synced, so that the reply and every read after it agree. The checker,
  // told first, has queued its own report of PASSING already; this write
  // comes after it and makes the change only if that report did not (so
  // the change is committed once, whoever writes it).
  Submit<std::shared_ptr<const Instance>>(
      committer_, CommitMode::kGrouped,
      [key = std::move(key), incarnation, actor = std::move(actor)](
          Txn& txn, std::shared_ptr<const Instance>& result) {
        return ApplyHeartbeat(txn, key, incarnation, actor, result);
      },
      std::move(done));
}

absl::Status Instances::AcceptForwardedHeartbeat(const InstanceKey& key,
                                                 uint64_t incarnation) {
  const absl::Time now = clock_.Now();
  RETURN_IF_ERROR(index_.Heartbeat(key, incarnation, now).status());
  checker_.DeliverHeartbeat(key, incarnation, now);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Instance>> Instances::Get(
    const InstanceKey& key_in) const {
  const InstanceKey key = WithDefaultRealm(key_in);
  RETURN_IF_ERROR(ValidateKey(key));
  std::shared_ptr<const Instance> instance = index_.FindInstance(key);
  if (instance != nullptr) return instance;
  if (!index_.FindRealm(key.realm).has_value()) return RealmNotFound(key.realm);
  return InstanceNotFound(key);
}

absl::StatusOr<InstancePage> Instances::List(const ListQuery& query_in) const {
  ListQuery query = query_in;
  if (query.realm.empty()) query.realm = kDefaultRealm;
  RETURN_IF_ERROR(ValidateListQuery(query));
  return index_.List(query);
}

absl::StatusOr<ServicesPage> Instances::ListServices(
    const std::string& realm_in, uint32_t page_size,
    const std::string& page_token) const {
  const std::string realm = realm_in.empty() ? kDefaultRealm : realm_in;
  RETURN_IF_ERROR(ValidateName(realm, "realm"));
  RETURN_IF_ERROR(ValidatePageSize(page_size, "page_size"));
  return index_.ServicesPaged(realm, page_size, page_token);
}

healthchecker::HealthDetail Instances::HealthDetailOf(
    const Instance& instance) const {
  healthchecker::HealthDetail detail =
      checker_.LiveDetail(instance).value_or(healthchecker::HealthDetail{});
  if (detail.output.empty()) detail.output = instance.check_output();
  if (!detail.last_heartbeat_at.has_value()) {
    detail.last_heartbeat_at = index_.LastHeartbeat(instance.Key());
  }
  return detail;
}

void RebaseRevision(Instances::RegisterResult& result, uint64_t assigned) {
  RebaseRevision(result.instance, assigned);
  RebaseRevision(result.revision, assigned);
}

}  // namespace muster::registry
