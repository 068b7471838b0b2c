#include "registry/registry.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "registry/validation.h"

namespace muster::registry {
namespace {

std::string RandomId() {
  // Ids only need to be unique within a service; 64 random bits are.
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen ABSL_PT_GUARDED_BY(mu) = new absl::BitGen();
  absl::MutexLock lock(&mu);
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(*gen));
}

absl::Status InstanceNotFound(const InstanceKey& key) {
  return absl::NotFoundError(
      absl::StrCat("instance \"", key.id, "\" not found in service \"",
                   key.service, "\" (realm \"", key.realm, "\")"));
}

absl::Status RealmNotFound(const std::string& realm) {
  return absl::NotFoundError(absl::StrCat("realm \"", realm, "\" not found"));
}

absl::Status StaleIncarnation(const Instance& current, uint64_t incarnation) {
  return absl::FailedPreconditionError(absl::StrCat(
      "instance \"", current.id, "\" of service \"", current.service,
      "\" (realm \"", current.realm, "\") is incarnation ",
      current.create_revision, ", not ", incarnation));
}

absl::Status ValidateKey(const InstanceKey& key) {
  RETURN_IF_ERROR(ValidateName(key.realm, "realm"));
  RETURN_IF_ERROR(ValidateName(key.service, "service"));
  return ValidateInstanceId(key.id, "id");
}

InstanceKey ToKey(const healthchecker::TargetKey& key) {
  return InstanceKey{key.realm, key.service, key.id};
}

healthchecker::Target ToTarget(const Instance& instance) {
  healthchecker::Target target;
  target.key =
      healthchecker::TargetKey{instance.realm, instance.service, instance.id};
  target.incarnation = instance.create_revision;
  target.address = instance.address;
  target.port = instance.port;
  target.check = instance.check;
  target.health = instance.health;
  target.admin_state = instance.admin_state;
  target.status_changed_at = instance.status_changed_at;
  return target;
}

Health InitialHealth(const CheckSpec& check) {
  return check.kind == CheckKind::kNone ? Health::kPassing : Health::kStarting;
}

}  // namespace

Registry::Registry(Options options, Store& store, Clock& clock,
                   Metrics& metrics)
    : options_(std::move(options)),
      clock_(clock),
      metrics_(metrics),
      hub_(store, index_, metrics, options_.watch),
      committer_(store, index_, hub_, clock, metrics,
                 Committer::Options{options_.changelog_retention, 1024}) {}

absl::StatusOr<std::unique_ptr<Registry>> Registry::Create(Options options,
                                                           Store& store,
                                                           Clock& clock,
                                                           Metrics& metrics) {
  if (options.changelog_retention == 0) {
    return absl::InvalidArgumentError(
        "changelog retention: must be at least 1 revision");
  }
  ASSIGN_OR_RETURN(StoredState state, store.Load());
  std::unique_ptr<Registry> registry(
      new Registry(std::move(options), store, clock, metrics));
  registry->index_.Load(std::move(state));
  registry->committer_.SetCommitHook(
      [r = registry.get()](const CommitBatch& batch) {
        r->OnCommitted(batch);
      });
  Registry* self = registry.get();
  registry->collector_id_ =
      metrics.AddCollector([self](MetricsCollectorOutput& out) {
        uint64_t revision = 0;
        for (const RealmCounts& counts : self->index_.Realms(&revision)) {
          for (Health health : {Health::kStarting, Health::kPassing,
                                Health::kWarning, Health::kCritical}) {
            out.Gauge("muster_instances",
                      "Registered instances by realm and health.",
                      {{"realm", counts.realm.name},
                       {"health", std::string(HealthName(health))}},
                      static_cast<double>(
                          counts.by_health[static_cast<int>(health)]));
          }
        }
        out.Gauge("muster_watchers_open", "Open watch streams.", {},
                  static_cast<double>(self->hub_.OpenCount()));
        out.Gauge("muster_watch_held_bytes",
                  "Bytes of events held for watchers: queued, and unsent in "
                  "their streams (the cut-off ones until their streams end).",
                  {}, static_cast<double>(self->hub_.HeldBytes()));
        out.Gauge("muster_changelog_oldest_revision",
                  "Oldest revision still in the change log.", {},
                  static_cast<double>(self->hub_.OldestRetainedRevision()));
      });
  return registry;
}

Registry::~Registry() {
  Stop();
  metrics_.RemoveCollector(collector_id_);
}

absl::Status Registry::Start() {
  committer_.Start();
  if (index_.FindRealm(kDefaultRealm).has_value()) return absl::OkStatus();
  absl::Notification created;
  absl::Status status;
  Realm realm;
  realm.name = kDefaultRealm;
  realm.description = "created by musterd";
  CreateRealm(realm, [&](absl::StatusOr<Realm> result) {
    if (!result.ok() && !absl::IsAlreadyExists(result.status()))
      status = result.status();
    created.Notify();
  });
  created.WaitForNotification();
  return status;
}

void Registry::Stop() {
  hub_.Shutdown();
  committer_.Stop();
}

void Registry::Register(std::string realm, Instance request,
                        Callback<RegisterResult> done) {
  if (realm.empty()) realm = kDefaultRealm;
  request.realm = realm;
  absl::Status valid = ValidateName(realm, "realm");
  if (valid.ok()) valid = ValidateRegistration(request);
  if (valid.ok() && options_.check_registration)
    valid = options_.check_registration(request);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  if (request.weight == 0) request.weight = 1;
  if (request.id.empty()) {
    request.id = options_.id_generator ? options_.id_generator() : RandomId();
  }
  auto result = std::make_shared<RegisterResult>();
  CommitOp op;
  op.prepare = [this, request = std::move(request),
                result](Txn& txn) mutable -> absl::Status {
    std::optional<Realm> realm = txn.FindRealm(request.realm);
    if (!realm.has_value()) {
      if (!options_.auto_create_realms) return RealmNotFound(request.realm);
      Realm created;
      created.name = request.realm;
      created.description = "created by the first registration";
      created.created_at = txn.now();
      created.create_revision = txn.revision();
      txn.PutRealm(created);
      realm = created;
      MUSTER_LOG(kInfo, "realm \"%s\" auto-created by a registration",
                 request.realm);
    }
    ASSIGN_OR_RETURN(
        request.check,
        ResolveCheckSpec(request.check, realm->default_deregister_after,
                         "instance.check"));
    std::shared_ptr<const Instance> existing = txn.FindInstance(request.Key());
    if (existing != nullptr) {
      if (existing->SameRegistration(request)) {
        result->instance = existing;
        result->revision = existing->modify_revision;
        return absl::OkStatus();
      }
      Instance updated = *existing;
      const bool check_changed = updated.check != request.check;
      updated.address = std::move(request.address);
      updated.port = request.port;
      updated.tags = std::move(request.tags);
      updated.metadata = std::move(request.metadata);
      updated.weight = request.weight;
      updated.zone = std::move(request.zone);
      updated.version = std::move(request.version);
      updated.check = std::move(request.check);
      if (check_changed) {
        // A new check has to earn its verdict again.
        updated.health = InitialHealth(updated.check);
        updated.status_changed_at = txn.now();
        updated.check_output.clear();
      }
      result->instance = txn.PutInstance(
          std::move(updated), EventCause::kUpdated,
          check_changed ? "re-registered with a new check" : "re-registered");
      result->revision = txn.revision();
      return absl::OkStatus();
    }
    Instance created = std::move(request);
    created.health = InitialHealth(created.check);
    created.admin_state = AdminState::kEnabled;
    created.admin_reason.clear();
    created.check_output.clear();
    created.registered_at = txn.now();
    created.status_changed_at = txn.now();
    created.create_revision = txn.revision();
    result->instance = txn.PutInstance(std::move(created),
                                       EventCause::kRegistered, "registered");
    result->created = true;
    result->revision = txn.revision();
    return absl::OkStatus();
  };
  op.done = [done = std::move(done), result](absl::Status status) {
    if (!status.ok()) {
      done(status);
    } else {
      done(std::move(*result));
    }
  };
  committer_.Submit(std::move(op));
}

void Registry::Deregister(InstanceKey key, uint64_t incarnation,
                          Callback<uint64_t> done) {
  if (key.realm.empty()) key.realm = kDefaultRealm;
  if (absl::Status valid = ValidateKey(key); !valid.ok()) {
    done(valid);
    return;
  }
  auto revision = std::make_shared<uint64_t>(0);
  CommitOp op;
  op.prepare = [key, incarnation, revision](Txn& txn) -> absl::Status {
    std::shared_ptr<const Instance> existing = txn.FindInstance(key);
    if (existing == nullptr) return InstanceNotFound(key);
    if (incarnation != 0 && existing->create_revision != incarnation) {
      return StaleIncarnation(*existing, incarnation);
    }
    txn.DeleteInstance(existing, EventCause::kDeregistered, "deregistered");
    *revision = txn.revision();
    return absl::OkStatus();
  };
  op.done = [done = std::move(done), revision](absl::Status status) {
    if (!status.ok()) {
      done(status);
    } else {
      done(*revision);
    }
  };
  committer_.Submit(std::move(op));
}

void Registry::SetAdminState(InstanceKey key, AdminState state,
                             std::string reason,
                             Callback<std::shared_ptr<const Instance>> done) {
  if (key.realm.empty()) key.realm = kDefaultRealm;
  absl::Status valid = ValidateKey(key);
  if (valid.ok()) valid = ValidateReason(reason, "reason");
  if (!valid.ok()) {
    done(valid);
    return;
  }
  auto result = std::make_shared<std::shared_ptr<const Instance>>();
  CommitOp op;
  op.prepare = [key, state, reason = std::move(reason),
                result](Txn& txn) -> absl::Status {
    std::shared_ptr<const Instance> existing = txn.FindInstance(key);
    if (existing == nullptr) return InstanceNotFound(key);
    if (existing->admin_state == state && existing->admin_reason == reason) {
      *result = existing;
      return absl::OkStatus();
    }
    Instance updated = *existing;
    updated.admin_state = state;
    updated.admin_reason = reason;
    std::string why =
        absl::StrCat(state == AdminState::kDraining ? "drained" : "enabled",
                     reason.empty() ? "" : ": ", reason);
    *result = txn.PutInstance(std::move(updated), EventCause::kAdminChanged,
                              std::move(why));
    return absl::OkStatus();
  };
  op.done = [done = std::move(done), result](absl::Status status) {
    if (!status.ok()) {
      done(status);
    } else {
      done(*result);
    }
  };
  committer_.Submit(std::move(op));
}

absl::StatusOr<std::shared_ptr<const Instance>> Registry::Heartbeat(
    const InstanceKey& key_in, uint64_t incarnation) {
  InstanceKey key = key_in;
  if (key.realm.empty()) key.realm = kDefaultRealm;
  RETURN_IF_ERROR(ValidateKey(key));
  if (incarnation == 0) {
    return absl::InvalidArgumentError(
        "incarnation: required; use the create_revision returned by Register");
  }
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(std::shared_ptr<const Instance> instance,
                   index_.Heartbeat(key, incarnation, now));
  healthchecker::TargetKey target{key.realm, key.service, key.id};
  for (healthchecker::TargetListener* listener : Listeners()) {
    listener->OnHeartbeat(target, incarnation, now);
  }
  return instance;
}

void Registry::CreateRealm(Realm realm, Callback<Realm> done) {
  if (absl::Status valid = ValidateRealmSettings(realm); !valid.ok()) {
    done(valid);
    return;
  }
  auto result = std::make_shared<Realm>();
  CommitOp op;
  op.prepare = [realm = std::move(realm),
                result](Txn& txn) mutable -> absl::Status {
    if (txn.FindRealm(realm.name).has_value()) {
      return absl::AlreadyExistsError(
          absl::StrCat("realm \"", realm.name, "\" already exists"));
    }
    realm.created_at = txn.now();
    realm.create_revision = txn.revision();
    realm.modify_revision = txn.revision();
    *result = realm;
    txn.PutRealm(std::move(realm));
    return absl::OkStatus();
  };
  op.done = [done = std::move(done), result](absl::Status status) {
    if (!status.ok()) {
      done(status);
      return;
    }
    MUSTER_LOG(kInfo, "realm \"%s\" created at revision %d", result->name,
               result->create_revision);
    done(*result);
  };
  committer_.Submit(std::move(op));
}

void Registry::UpdateRealm(Realm realm, Callback<Realm> done) {
  if (absl::Status valid = ValidateRealmSettings(realm); !valid.ok()) {
    done(valid);
    return;
  }
  auto result = std::make_shared<Realm>();
  CommitOp op;
  op.prepare = [realm = std::move(realm), result](Txn& txn) -> absl::Status {
    std::optional<Realm> existing = txn.FindRealm(realm.name);
    if (!existing.has_value()) return RealmNotFound(realm.name);
    Realm updated = *existing;
    updated.description = realm.description;
    updated.eviction_protection_share = realm.eviction_protection_share;
    updated.default_deregister_after = realm.default_deregister_after;
    updated.modify_revision = txn.revision();
    *result = updated;
    txn.PutRealm(std::move(updated));
    return absl::OkStatus();
  };
  op.done = [done = std::move(done), result](absl::Status status) {
    if (!status.ok()) {
      done(status);
      return;
    }
    MUSTER_LOG(kInfo, "realm \"%s\" updated at revision %d", result->name,
               result->modify_revision);
    done(*result);
  };
  committer_.Submit(std::move(op));
}

void Registry::DeleteRealm(std::string name, bool force,
                           Callback<DeleteRealmResult> done) {
  if (absl::Status valid = ValidateName(name, "name"); !valid.ok()) {
    done(valid);
    return;
  }
  if (name == kDefaultRealm) {
    done(absl::FailedPreconditionError(
        "realm \"default\" always exists and cannot be deleted"));
    return;
  }
  auto result = std::make_shared<DeleteRealmResult>();
  CommitOp op;
  op.exclusive = true;
  op.prepare = [name, force, result](Txn& txn) -> absl::Status {
    if (!txn.FindRealm(name).has_value()) return RealmNotFound(name);
    std::vector<std::shared_ptr<const Instance>> instances =
        txn.RealmInstances(name);
    if (!instances.empty() && !force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "realm \"", name, "\" still has ", instances.size(),
          " instances; deregister them first or delete with force"));
    }
    for (auto& instance : instances) {
      txn.DeleteInstance(std::move(instance), EventCause::kRealmDeleted,
                         absl::StrCat("realm \"", name, "\" deleted"));
    }
    txn.DeleteRealm(name);
    result->revision = txn.revision();
    result->deleted_instances = instances.size();
    return absl::OkStatus();
  };
  op.done = [done = std::move(done), result, name](absl::Status status) {
    if (!status.ok()) {
      done(status);
      return;
    }
    MUSTER_LOG(kInfo, "realm \"%s\" deleted at revision %d with %d instances",
               name, result->revision, result->deleted_instances);
    done(*result);
  };
  committer_.Submit(std::move(op));
}

absl::StatusOr<std::shared_ptr<const Instance>> Registry::GetInstance(
    const InstanceKey& key_in) const {
  InstanceKey key = key_in;
  if (key.realm.empty()) key.realm = kDefaultRealm;
  RETURN_IF_ERROR(ValidateKey(key));
  std::shared_ptr<const Instance> instance = index_.FindInstance(key);
  if (instance != nullptr) return instance;
  if (!index_.FindRealm(key.realm).has_value()) return RealmNotFound(key.realm);
  return InstanceNotFound(key);
}

absl::StatusOr<InstancePage> Registry::ListInstances(
    const ListQuery& query_in) const {
  ListQuery query = query_in;
  if (query.realm.empty()) query.realm = kDefaultRealm;
  RETURN_IF_ERROR(ValidateListQuery(query));
  return index_.List(query);
}

absl::StatusOr<std::vector<ServiceCounts>> Registry::ListServices(
    const std::string& realm_in, uint64_t* revision) const {
  std::string realm = realm_in.empty() ? kDefaultRealm : realm_in;
  RETURN_IF_ERROR(ValidateName(realm, "realm"));
  return index_.Services(realm, revision);
}

absl::StatusOr<Realm> Registry::GetRealm(const std::string& name) const {
  RETURN_IF_ERROR(ValidateName(name, "name"));
  std::optional<Realm> realm = index_.FindRealm(name);
  if (!realm.has_value()) return RealmNotFound(name);
  return *realm;
}

absl::StatusOr<Registry::EventsPage> Registry::ListEvents(
    const InstanceKey& filter_in, uint64_t from, uint32_t limit) {
  InstanceKey filter = filter_in;
  if (filter.realm.empty()) filter.realm = kDefaultRealm;
  RETURN_IF_ERROR(ValidateName(filter.realm, "realm"));
  if (!filter.service.empty())
    RETURN_IF_ERROR(ValidateName(filter.service, "service"));
  if (!filter.id.empty()) RETURN_IF_ERROR(ValidateInstanceId(filter.id, "id"));
  if (limit > limits::kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limit: ", limit, " is more than the maximum ", limits::kMaxPageSize));
  }
  if (limit == 0) limit = limits::kDefaultPageSize;
  if (!index_.FindRealm(filter.realm).has_value())
    return RealmNotFound(filter.realm);

  EventsPage page;
  page.revision = index_.revision();
  page.oldest_retained_revision = hub_.OldestRetainedRevision();
  uint64_t next = std::max(from, page.oldest_retained_revision);
  // Bound the scan per call; the caller continues from next_revision.
  constexpr size_t kMaxScanned = 50000;
  size_t scanned = 0;
  while (next <= page.revision && page.events.size() < limit &&
         scanned < kMaxScanned) {
    ASSIGN_OR_RETURN(std::vector<Event> chunk,
                     hub_.ReadRange(next, page.revision, 1000));
    if (chunk.empty()) {
      next = page.revision + 1;
      break;
    }
    scanned += chunk.size();
    for (Event& event : chunk) {
      const Instance& instance = *event.instance;
      if (instance.realm != filter.realm) continue;
      if (!filter.service.empty() && instance.service != filter.service)
        continue;
      if (!filter.id.empty() && instance.id != filter.id) continue;
      page.events.push_back(std::move(event));
    }
    next = chunk.back().revision + 1;
    if (page.events.size() > limit) {
      // Stop at a revision boundary after `limit` events.
      uint64_t last = page.events[limit - 1].revision;
      while (page.events.size() > limit &&
             page.events.back().revision != last) {
        page.events.pop_back();
      }
      next = last + 1;
    }
  }
  page.next_revision = next <= page.revision ? next : 0;
  return page;
}

healthchecker::HealthDetail Registry::HealthDetailOf(
    const Instance& instance) const {
  healthchecker::HealthDetail detail;
  const healthchecker::HealthDetailProvider* provider = detail_provider_.load();
  if (provider != nullptr) {
    std::optional<healthchecker::HealthDetail> live = provider->Detail(
        healthchecker::TargetKey{instance.realm, instance.service, instance.id},
        instance.create_revision);
    if (live.has_value()) detail = std::move(*live);
  }
  if (detail.output.empty()) detail.output = instance.check_output;
  if (!detail.last_heartbeat_at.has_value()) {
    detail.last_heartbeat_at = index_.LastHeartbeat(instance.Key());
  }
  return detail;
}

std::vector<healthchecker::TargetListener*> Registry::Listeners() const {
  absl::MutexLock lock(&listeners_mu_);
  return listeners_;
}

void Registry::RunOnCommitThread(std::function<void()> fn) {
  absl::Notification finished;
  CommitOp op;
  op.exclusive = true;
  op.done = [&fn, &finished](absl::Status) {
    fn();
    finished.Notify();
  };
  committer_.Submit(std::move(op));
  finished.WaitForNotification();
}

void Registry::Subscribe(healthchecker::TargetListener* listener) {
  // On the commit thread nothing commits meanwhile, so the listener sees
  // the whole current state and then every later change.
  RunOnCommitThread([this, listener] {
    {
      absl::MutexLock lock(&listeners_mu_);
      listeners_.push_back(listener);
    }
    uint64_t revision = 0;
    for (const auto& instance : index_.AllInstances(&revision)) {
      listener->OnTargetUpsert(ToTarget(*instance));
    }
  });
}

void Registry::Unsubscribe(healthchecker::TargetListener* listener) {
  RunOnCommitThread([this, listener] {
    absl::MutexLock lock(&listeners_mu_);
    listeners_.erase(
        std::remove(listeners_.begin(), listeners_.end(), listener),
        listeners_.end());
  });
}

std::optional<double> Registry::EvictionProtectionShare(
    const std::string& realm) const {
  std::optional<Realm> found = index_.FindRealm(realm);
  if (!found.has_value() || found->eviction_protection_share <= 0)
    return std::nullopt;
  return found->eviction_protection_share;
}

void Registry::ReportHealth(const healthchecker::TargetKey& target,
                            uint64_t incarnation, Health health,
                            std::string output,
                            std::function<void(absl::Status)> done) {
  InstanceKey key = ToKey(target);
  CommitOp op;
  op.prepare = [key, incarnation, health,
                output = TruncateUtf8(output, limits::kMaxCheckOutputBytes)](
                   Txn& txn) -> absl::Status {
    std::shared_ptr<const Instance> existing = txn.FindInstance(key);
    if (existing == nullptr) return InstanceNotFound(key);
    if (existing->create_revision != incarnation)
      return StaleIncarnation(*existing, incarnation);
    if (existing->health == health) return absl::OkStatus();
    Instance updated = *existing;
    std::string reason =
        absl::StrCat(HealthName(existing->health), " -> ", HealthName(health),
                     output.empty() ? "" : ": ", output);
    updated.health = health;
    updated.status_changed_at = txn.now();
    updated.check_output = output;
    txn.PutInstance(std::move(updated), EventCause::kHealthChanged,
                    TruncateUtf8(reason, limits::kMaxCheckOutputBytes));
    return absl::OkStatus();
  };
  op.done = std::move(done);
  committer_.Submit(std::move(op));
}

void Registry::Evict(const healthchecker::TargetKey& target,
                     uint64_t incarnation, std::string reason,
                     std::function<void(absl::Status)> done) {
  InstanceKey key = ToKey(target);
  CommitOp op;
  op.prepare = [key, incarnation,
                reason = TruncateUtf8(reason, limits::kMaxCheckOutputBytes)](
                   Txn& txn) -> absl::Status {
    std::shared_ptr<const Instance> existing = txn.FindInstance(key);
    if (existing == nullptr) return InstanceNotFound(key);
    if (existing->create_revision != incarnation)
      return StaleIncarnation(*existing, incarnation);
    if (existing->admin_state == AdminState::kDraining) {
      return absl::FailedPreconditionError(absl::StrCat(
          "instance ", key.ToString(), " is draining and is never evicted"));
    }
    txn.DeleteInstance(existing, EventCause::kEvicted, reason);
    return absl::OkStatus();
  };
  op.done = [done = std::move(done), key, reason](absl::Status status) {
    if (status.ok())
      MUSTER_LOG(kInfo, "instance %s %s", key.ToString(), reason);
    if (done) done(status);
  };
  committer_.Submit(std::move(op));
}

void Registry::OnCommitted(const CommitBatch& batch) {
  std::vector<healthchecker::TargetListener*> listeners = Listeners();
  if (listeners.empty()) return;
  for (const Event& event : batch.events) {
    for (healthchecker::TargetListener* listener : listeners) {
      if (event.type == EventType::kPut) {
        listener->OnTargetUpsert(ToTarget(*event.instance));
      } else {
        listener->OnTargetRemoved(
            healthchecker::TargetKey{event.instance->realm,
                                     event.instance->service,
                                     event.instance->id},
            event.instance->create_revision);
      }
    }
  }
}

}  // namespace muster::registry
