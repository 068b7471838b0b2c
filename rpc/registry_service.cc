#include "rpc/registry_service.h"

#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "codec/model_proto.h"
#include "rpc/grpc_status.h"
#include "rpc/watch_reactor.h"

namespace muster::registry {
namespace {

enum Method : size_t {
  kRegister,
  kDeregister,
  kHeartbeat,
  kSetAdminState,
  kGetInstance,
  kListInstances,
  kListServices,
  kWatch,
  kListEvents,
  kGetServerInfo,
  kPing,
};

std::vector<std::string> MethodNames() {
  return {"Register",    "Deregister",    "Heartbeat",    "SetAdminState",
          "GetInstance", "ListInstances", "ListServices", "Watch",
          "ListEvents",  "GetServerInfo", "Ping"};
}

// The WatchRequest in a raw Watch call.
absl::StatusOr<WatchSpec> WatchSpecFrom(const grpc::ByteBuffer* raw) {
  grpc::ByteBuffer copy(*raw);  // shares the slices
  muster::v1::WatchRequest request;
  const grpc::Status parsed =
      grpc::SerializationTraits<muster::v1::WatchRequest>::Deserialize(
          &copy, &request);
  if (!parsed.ok()) {
    // Word for word what rpc/parse_errors.cc says for the unary methods.
    return absl::InvalidArgumentError(absl::StrCat(
        "the request body is not a valid ",
        muster::v1::WatchRequest::descriptor()->full_name(), " message"));
  }
  // The registry validates the names and maps an empty realm to "default".
  WatchSpec spec;
  spec.realm = request.realm();
  spec.service = request.service();
  spec.from_revision = request.from_revision();
  spec.progress_notify = request.progress_notify();
  return spec;
}

void FillDetail(const healthchecker::HealthDetail& detail,
                muster::v1::Instance* proto) {
  muster::v1::HealthDetail* out = proto->mutable_health_detail();
  out->set_output(detail.output);
  if (detail.last_checked_at.has_value()) {
    TimeToProto(*detail.last_checked_at, out->mutable_last_checked_at());
  }
  out->set_consecutive_successes(detail.consecutive_successes);
  out->set_consecutive_failures(detail.consecutive_failures);
  if (detail.evict_at.has_value())
    TimeToProto(*detail.evict_at, out->mutable_evict_at());
  out->set_eviction_paused(detail.eviction_paused);
  if (detail.last_heartbeat_at.has_value()) {
    TimeToProto(*detail.last_heartbeat_at, proto->mutable_last_heartbeat_at());
  }
}

}  // namespace

RegistryService::RegistryService(Registry& registry, Metrics& metrics,
                                 Auth& auth, ServerFacts facts,
                                 absl::Duration watch_progress_interval)
    : registry_(registry),
      auth_(auth),
      auth_methods_(auth, "muster.v1.Registry", MethodNames()),
      facts_(std::move(facts)),
      watch_progress_interval_(watch_progress_interval),
      rpc_metrics_(metrics, "muster.v1.Registry", MethodNames()) {
  SetMessageAllocatorFor_Register(&register_allocator_);
  SetMessageAllocatorFor_Deregister(&deregister_allocator_);
  SetMessageAllocatorFor_Heartbeat(&heartbeat_allocator_);
  SetMessageAllocatorFor_SetAdminState(&set_admin_state_allocator_);
  SetMessageAllocatorFor_GetInstance(&get_instance_allocator_);
  SetMessageAllocatorFor_ListInstances(&list_instances_allocator_);
  SetMessageAllocatorFor_ListServices(&list_services_allocator_);
  SetMessageAllocatorFor_ListEvents(&list_events_allocator_);
  SetMessageAllocatorFor_GetServerInfo(&get_server_info_allocator_);
  SetMessageAllocatorFor_Ping(&ping_allocator_);
}

grpc::ServerUnaryReactor* RegistryService::Finish(
    grpc::CallbackServerContext* context, size_t method,
    const absl::Status& status) {
  return rpc_metrics_.Finish(context, method, status);
}

namespace {

// The longest a read waits for its min_revision.
constexpr absl::Duration kMaxRevisionWait = absl::Seconds(10);

}  // namespace

grpc::ServerUnaryReactor* RegistryService::Read(
    grpc::CallbackServerContext* context, size_t method, uint64_t min_revision,
    std::function<absl::Status()> read) {
  if (std::optional<absl::Duration> stale = registry_.Staleness()) {
    const int64_t ms = *stale == absl::InfiniteDuration()
                           ? -1
                           : absl::ToInt64Milliseconds(*stale);
    context->AddInitialMetadata("muster-staleness-ms", absl::StrCat(ms));
  }
  if (min_revision == 0) return Finish(context, method, read());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Time deadline = absl::Now() + kMaxRevisionWait;
  const absl::Time call_deadline = absl::FromChrono(context->deadline());
  if (call_deadline < deadline) deadline = call_deadline;
  registry_.WhenApplied(
      min_revision, deadline,
      [this, reactor, method, read = std::move(read)](absl::Status reached) {
        const absl::Status status = reached.ok() ? read() : reached;
        rpc_metrics_.Count(method, status);
        reactor->Finish(ToGrpcStatus(status));
      });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::Register(
    grpc::CallbackServerContext* context,
    const muster::v1::RegisterRequest* request,
    muster::v1::RegisterResponse* response) {
  MUSTER_AUTHORIZE(kRegister, TokenRole::kWrite, request->realm(),
                   request->instance().service());
  absl::StatusOr<Instance> instance = RegistrationFromProto(*request);
  if (!instance.ok()) return Finish(context, kRegister, instance.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.instances().Register(
      request->realm(), std::move(instance).value(),
      Auth::Actor(*context, caller),
      [this, reactor,
       response](absl::StatusOr<Instances::RegisterResult> result) {
        if (result.ok()) {
          ToProto(*result->instance, response->mutable_instance());
          response->set_created(result->created);
          response->set_revision(result->revision);
        }
        rpc_metrics_.Count(kRegister, result.status());
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::Deregister(
    grpc::CallbackServerContext* context,
    const muster::v1::DeregisterRequest* request,
    muster::v1::DeregisterResponse* response) {
  MUSTER_AUTHORIZE(kDeregister, TokenRole::kWrite, request->realm(),
                   request->service());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.instances().Deregister(
      InstanceKey{request->realm(), request->service(), request->id()},
      request->incarnation(), Auth::Actor(*context, caller),
      [this, reactor, response](absl::StatusOr<uint64_t> revision) {
        if (revision.ok()) response->set_revision(*revision);
        rpc_metrics_.Count(kDeregister, revision.status());
        reactor->Finish(ToGrpcStatus(revision.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::Heartbeat(
    grpc::CallbackServerContext* context,
    const muster::v1::HeartbeatRequest* request,
    muster::v1::HeartbeatResponse* response) {
  MUSTER_AUTHORIZE(kHeartbeat, TokenRole::kWrite, request->realm(),
                   request->service());
  // Finishes inline, or from the commit thread when the heartbeat commits
  // a change of health.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.instances().Heartbeat(
      InstanceKey{request->realm(), request->service(), request->id()},
      request->incarnation(), Auth::Actor(*context, caller),
      [this, reactor,
       response](absl::StatusOr<std::shared_ptr<const Instance>> instance) {
        if (instance.ok()) {
          response->set_health(HealthToProto((*instance)->health));
          response->set_admin_state(
              AdminStateToProto((*instance)->admin_state));
        }
        rpc_metrics_.Count(kHeartbeat, instance.status());
        reactor->Finish(ToGrpcStatus(instance.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::SetAdminState(
    grpc::CallbackServerContext* context,
    const muster::v1::SetAdminStateRequest* request,
    muster::v1::Instance* response) {
  MUSTER_AUTHORIZE(kSetAdminState, TokenRole::kWrite, request->realm(),
                   request->service());
  if (request->admin_state() != muster::v1::ADMIN_STATE_ENABLED &&
      request->admin_state() != muster::v1::ADMIN_STATE_DRAINING) {
    return Finish(
        context, kSetAdminState,
        absl::InvalidArgumentError("admin_state: must be ENABLED or DRAINING"));
  }
  AdminState state = request->admin_state() == muster::v1::ADMIN_STATE_DRAINING
                         ? AdminState::kDraining
                         : AdminState::kEnabled;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  registry_.instances().SetAdminState(
      InstanceKey{request->realm(), request->service(), request->id()}, state,
      request->reason(), Auth::Actor(*context, caller),
      [this, reactor,
       response](absl::StatusOr<std::shared_ptr<const Instance>> instance) {
        if (instance.ok()) ToProto(**instance, response);
        rpc_metrics_.Count(kSetAdminState, instance.status());
        reactor->Finish(ToGrpcStatus(instance.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* RegistryService::GetInstance(
    grpc::CallbackServerContext* context,
    const muster::v1::GetInstanceRequest* request,
    muster::v1::Instance* response) {
  MUSTER_AUTHORIZE(kGetInstance, TokenRole::kRead, request->realm(), "");
  return Read(context, kGetInstance, request->min_revision(),
              [this, request, response] {
                absl::StatusOr<std::shared_ptr<const Instance>> instance =
                    registry_.instances().Get(InstanceKey{
                        request->realm(), request->service(), request->id()});
                if (instance.ok()) {
                  ToProto(**instance, response);
                  FillDetail(registry_.instances().HealthDetailOf(**instance),
                             response);
                }
                return instance.status();
              });
}

grpc::ServerUnaryReactor* RegistryService::ListInstances(
    grpc::CallbackServerContext* context,
    const muster::v1::ListInstancesRequest* request,
    muster::v1::ListInstancesResponse* response) {
  MUSTER_AUTHORIZE(kListInstances, TokenRole::kRead, request->realm(), "");
  ListQuery query;
  query.realm = request->realm();
  query.service = request->service();
  query.routable_only = request->routable_only();
  query.tags.assign(request->tags().begin(), request->tags().end());
  for (const auto& [key, value] : request->metadata())
    query.metadata.emplace_back(key, value);
  std::sort(query.metadata.begin(), query.metadata.end());
  query.zone = request->zone();
  query.page_size = request->page_size();
  query.page_token = request->page_token();
  return Read(context, kListInstances, request->min_revision(),
              [this, query = std::move(query), response] {
                absl::StatusOr<InstancePage> page =
                    registry_.instances().List(query);
                if (page.ok()) {
                  response->mutable_instances()->Reserve(
                      static_cast<int>(page->instances.size()));
                  for (const auto& instance : page->instances)
                    ToProto(*instance, response->add_instances());
                  response->set_next_page_token(page->next_page_token);
                  response->set_revision(page->revision);
                }
                return page.status();
              });
}

grpc::ServerUnaryReactor* RegistryService::ListServices(
    grpc::CallbackServerContext* context,
    const muster::v1::ListServicesRequest* request,
    muster::v1::ListServicesResponse* response) {
  MUSTER_AUTHORIZE(kListServices, TokenRole::kRead, request->realm(), "");
  return Read(
      context, kListServices, request->min_revision(),
      [this, request, response] {
        absl::StatusOr<ServicesPage> page = registry_.instances().ListServices(
            request->realm(), request->page_size(), request->page_token());
        if (page.ok()) {
          response->mutable_services()->Reserve(
              static_cast<int>(page->services.size()));
          for (const ServiceCounts& counts : page->services) {
            muster::v1::ServiceSummary* summary = response->add_services();
            summary->set_name(counts.name);
            summary->set_instance_count(counts.instances);
            summary->set_routable_count(counts.routable);
          }
          response->set_revision(page->revision);
          response->set_next_page_token(page->next_page_token);
        }
        return page.status();
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* RegistryService::Watch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw) {
  absl::StatusOr<WatchSpec> spec = WatchSpecFrom(raw);
  // Held by the stream until it is destroyed: one of the caller's
  // --max-watchers-per-client.
  std::shared_ptr<WatcherLimiter::Lease> lease;
  if (spec.ok()) {
    Caller caller;
    absl::Status allowed =
        auth_.Check(*context, auth_methods_, kWatch, TokenRole::kRead,
                    spec->realm, "", &caller);
    if (allowed.ok()) {
      absl::StatusOr<std::unique_ptr<WatcherLimiter::Lease>> acquired =
          auth_.AcquireWatcher(*context, auth_methods_, kWatch, caller);
      if (acquired.ok()) {
        lease = std::move(acquired).value();
      } else {
        allowed = acquired.status();
      }
    }
    if (!allowed.ok()) spec = allowed;
  }
  return new WatchReactor(registry_.change_log(), watch_pump_, context,
                          std::move(spec), watch_progress_interval_,
                          [this, lease](const absl::Status& status) {
                            rpc_metrics_.Count(kWatch, status);
                          });
}

grpc::ServerUnaryReactor* RegistryService::ListEvents(
    grpc::CallbackServerContext* context,
    const muster::v1::ListEventsRequest* request,
    muster::v1::ListEventsResponse* response) {
  MUSTER_AUTHORIZE(kListEvents, TokenRole::kRead, request->realm(), "");
  ChangeLog::EventsQuery query;
  query.filter =
      InstanceKey{request->realm(), request->service(), request->id()};
  query.from_revision = request->from_revision();
  query.from_event_index = request->from_event_index();
  query.limit = request->limit();
  return Read(context, kListEvents, 0, [this, query, response] {
    absl::StatusOr<ChangeLog::EventsPage> page =
        registry_.change_log().ListEvents(query);
    if (page.ok()) {
      response->mutable_events()->Reserve(
          static_cast<int>(page->events.size()));
      for (const Event& event : page->events)
        ToProto(event, response->add_events());
      response->set_next_revision(page->next_revision);
      response->set_next_event_index(page->next_event_index);
      response->set_oldest_retained_revision(page->oldest_retained_revision);
      response->set_revision(page->revision);
    }
    return page.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::GetServerInfo(
    grpc::CallbackServerContext* context,
    const muster::v1::GetServerInfoRequest* /*request*/,
    muster::v1::ServerInfo* response) {
  MUSTER_AUTHORIZE_ANY_REALM(kGetServerInfo, TokenRole::kRead);
  response->set_version(facts_.version);
  TimeToProto(facts_.started_at, response->mutable_started_at());
  const ChangeLog::Stats stats = registry_.change_log().GetStats();
  response->set_revision(stats.revision);
  response->set_oldest_retained_revision(stats.oldest_retained_revision);
  response->set_instance_count(stats.instances);
  response->set_realm_count(stats.realms);
  if (!caller.SeesAll()) {
    // Only the realms the token may read are counted.
    uint64_t realms = 0;
    uint64_t instances = 0;
    for (const RealmCounts& counts : registry_.realms().List().realms) {
      if (!caller.Sees(counts.realm.name)) continue;
      ++realms;
      instances += counts.instances;
    }
    response->set_instance_count(instances);
    response->set_realm_count(realms);
  }
  response->set_open_watchers(stats.watchers);
  response->set_health_checker_enabled(facts_.health_checker_enabled);
  // Where the data lives is for operators: admins of every realm.
  if (caller.token == nullptr ||
      (caller.token->all_realms && caller.token->role == TokenRole::kAdmin)) {
    response->set_data_dir(facts_.data_dir);
  }
  muster::v1::Replication* replication = response->mutable_replication();
  if (Replication* store = registry_.replication(); store == nullptr) {
    replication->set_store("rocksdb");
  } else {
    const ReplicationStatus status = store->GetStatus();
    replication->set_store(status.backend);
    replication->set_replica_id(status.self_id);
    replication->set_member(status.member);
    if (std::optional<absl::Duration> stale = registry_.Staleness();
        stale.has_value() && *stale != absl::InfiniteDuration()) {
      replication->mutable_staleness()->set_seconds(
          absl::ToInt64Seconds(*stale));
      replication->mutable_staleness()->set_nanos(static_cast<int32_t>(
          absl::ToInt64Nanoseconds(*stale % absl::Seconds(1))));
    } else {
      // Never confirmed current: as stale as can be said.
      replication->mutable_staleness()->set_seconds(315576000000);
    }
    for (const ReplicaInfo& replica : status.replicas) {
      muster::v1::Replica* out = replication->add_replicas();
      out->set_id(replica.id);
      out->set_address(replica.address);
    }
    // Where etcd is: for operators, as the data dir.
    if (caller.token == nullptr ||
        (caller.token->all_realms && caller.token->role == TokenRole::kAdmin)) {
      replication->set_etcd_endpoint(status.endpoint);
      for (const std::string& endpoint : status.endpoints)
        replication->add_etcd_endpoints(endpoint);
    }
  }
  return Read(context, kGetServerInfo, 0, [] { return absl::OkStatus(); });
}

grpc::ServerUnaryReactor* RegistryService::Ping(
    grpc::CallbackServerContext* context,
    const muster::v1::PingRequest* /*request*/,
    muster::v1::PingResponse* /*response*/) {
  return Finish(context, kPing, absl::OkStatus());
}

}  // namespace muster::registry
