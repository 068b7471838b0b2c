#include "rpc/registry_service.h"

#include <google/protobuf/arena.h>
#include <grpc/slice.h>
#include <grpcpp/support/slice.h>

#include <cassert>
#include <cstring>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "codec/instance_wire.h"
#include "codec/model_proto.h"
#include "rpc/grpc_status.h"
#include "rpc/parse_errors.h"
#include "rpc/watch_reactor.h"

namespace muster::registry {
namespace {

enum Method : size_t {
  kRegister,
  kDeregister,
  kHeartbeat,
  kHeartbeatStream,
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
  return {"Register",      "Deregister",  "Heartbeat",     "HeartbeatStream",
          "SetAdminState", "GetInstance", "ListInstances", "ListServices",
          "Watch",         "ListEvents",  "GetServerInfo", "Ping"};
}

// The WatchRequest in a raw Watch call.
absl::StatusOr<WatchSpec> WatchSpecFrom(const grpc::ByteBuffer* raw) {
  grpc::ByteBuffer copy(*raw);  // shares the slices
  muster::v1::WatchRequest request;
  const grpc::Status parsed =
      grpc::SerializationTraits<muster::v1::WatchRequest>::Deserialize(
          &copy, &request);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(RequestBodyInvalid(
        muster::v1::WatchRequest::descriptor()->full_name()));
  }
  // The registry validates the names and maps an empty realm to "default".
  WatchSpec spec;
  spec.realm = request.realm();
  spec.service = request.service();
  spec.from_revision = request.from_revision();
  spec.progress_notify = request.progress_notify();
  return spec;
}

constexpr char kHeartbeatsHelp[] =
    "Heartbeats received, by unary Heartbeat calls or on HeartbeatStream "
    "calls.";

// The request of a raw unary call, on a protobuf arena that starts in the
// object (most requests fit in it), as the typed methods' requests are on
// ArenaMessageAllocator's. Lives while the handler runs: reads that wait
// for a revision copy what they need.
template <typename Request>
class RawRequest {
 public:
  RawRequest() : arena_(Options(initial_block_)) {
    request_ = google::protobuf::Arena::CreateMessage<Request>(&arena_);
  }
  RawRequest(const RawRequest&) = delete;
  RawRequest& operator=(const RawRequest&) = delete;

  // Parses the call's request as gRPC's typed path does; INVALID_ARGUMENT
  // worded as rpc/parse_errors.cc words it for the typed methods.
  absl::Status Parse(const grpc::ByteBuffer& raw) {
    bool parsed = true;
    if (raw.Valid()) {
      grpc::Slice slice;
      parsed = (raw.TrySingleSlice(&slice).ok() ||
                raw.DumpToSingleSlice(&slice).ok()) &&
               request_->ParseFromArray(slice.begin(),
                                        static_cast<int>(slice.size()));
    }
    if (parsed) return absl::OkStatus();
    return absl::InvalidArgumentError(
        RequestBodyInvalid(Request::descriptor()->full_name()));
  }
  const Request& operator*() const { return *request_; }
  const Request* operator->() const { return request_; }

 private:
  static google::protobuf::ArenaOptions Options(char* initial_block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = initial_block;
    options.initial_block_size = kInitialBlockBytes;
    return options;
  }

  static constexpr size_t kInitialBlockBytes = 1024;
  alignas(8) char initial_block_[kInitialBlockBytes];
  // Declared after the block it starts in.
  google::protobuf::Arena arena_;
  Request* request_;
};

// Makes `*response` one slice of `size` bytes, filled by `write(char*)`,
// which returns the end of what it wrote.
template <typename Write>
void SetRawResponse(size_t size, Write write, grpc::ByteBuffer* response) {
  grpc_slice slice = grpc_slice_malloc(size);
  char* const start = reinterpret_cast<char*>(GRPC_SLICE_START_PTR(slice));
  [[maybe_unused]] char* const end = write(start);
  assert(end == start + size);
  grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
  grpc::ByteBuffer buffer(&owned, 1);
  response->Swap(&buffer);
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
      rpc_metrics_(metrics, "muster.v1.Registry", MethodNames()),
      unary_heartbeats_(metrics.GetCounter(
          "muster_heartbeats_total", kHeartbeatsHelp, {{"via", "unary"}})),
      stream_heartbeats_(metrics.GetCounter(
          "muster_heartbeats_total", kHeartbeatsHelp, {{"via", "stream"}})),
      heartbeat_streams_(metrics) {
  SetMessageAllocatorFor_Register(&register_allocator_);
  SetMessageAllocatorFor_Deregister(&deregister_allocator_);
  SetMessageAllocatorFor_Heartbeat(&heartbeat_allocator_);
  SetMessageAllocatorFor_SetAdminState(&set_admin_state_allocator_);
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

template <typename ReadFn>
grpc::ServerUnaryReactor* RegistryService::Read(
    grpc::CallbackServerContext* context, size_t method, uint64_t min_revision,
    ReadFn read) {
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
  unary_heartbeats_.Increment();
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

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
RegistryService::HeartbeatStream(grpc::CallbackServerContext* context) {
  HeartbeatStreamReactor::Env env;
  env.instances = &registry_.instances();
  env.auth = &auth_;
  env.methods = &auth_methods_;
  env.method = kHeartbeatStream;
  env.streams = &heartbeat_streams_;
  env.heartbeats = &stream_heartbeats_;
  env.on_finish = [this](const absl::Status& status) {
    rpc_metrics_.Count(kHeartbeatStream, status);
  };
  return new HeartbeatStreamReactor(context, std::move(env));
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
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* response) {
  RawRequest<muster::v1::GetInstanceRequest> request;
  if (absl::Status parsed = request.Parse(*raw); !parsed.ok())
    return Finish(context, kGetInstance, parsed);
  MUSTER_AUTHORIZE(kGetInstance, TokenRole::kRead, request->realm(), "");
  // The stored instance's cached bytes, then the checker's live state:
  // parses as ToProto + FillHealthDetail (codec/instance_wire.h).
  return Read(
      context, kGetInstance, request->min_revision(),
      [this,
       key = InstanceKey{request->realm(), request->service(), request->id()},
       response] {
        absl::StatusOr<std::shared_ptr<const Instance>> instance =
            registry_.instances().Get(key);
        if (!instance.ok()) return instance.status();
        const absl::string_view stored = WireOf(**instance).message();
        const std::string live = LiveInstanceFields(
            registry_.instances().HealthDetailOf(**instance));
        SetRawResponse(
            stored.size() + live.size(),
            [&](char* out) {
              std::memcpy(out, stored.data(), stored.size());
              std::memcpy(out + stored.size(), live.data(), live.size());
              return out + stored.size() + live.size();
            },
            response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* RegistryService::ListInstances(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw,
    grpc::ByteBuffer* response) {
  RawRequest<muster::v1::ListInstancesRequest> request;
  if (absl::Status parsed = request.Parse(*raw); !parsed.ok())
    return Finish(context, kListInstances, parsed);
  MUSTER_AUTHORIZE(kListInstances, TokenRole::kRead, request->realm(), "");
  // Each instance's `instances` entry is encoded once per instance version
  // and copied into the reply's one slice (codec/instance_wire.h).
  return Read(context, kListInstances, request->min_revision(),
              [this, query = ListQueryFromProto(*request), response] {
                absl::StatusOr<InstancePage> page =
                    registry_.instances().List(query);
                if (!page.ok()) return page.status();
                SetRawResponse(
                    ListInstancesSize(*page),
                    [&](char* out) { return WriteListInstances(*page, out); },
                    response);
                return absl::OkStatus();
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
        if (page.ok()) ToProto(*page, response);
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
  ChangeLog::EventsQuery query = EventsQueryFromProto(*request);
  return Read(context, kListEvents, 0, [this, query, response] {
    absl::StatusOr<ChangeLog::EventsPage> page =
        registry_.change_log().ListEvents(query);
    if (page.ok()) ToProto(*page, response);
    return page.status();
  });
}

grpc::ServerUnaryReactor* RegistryService::GetServerInfo(
    grpc::CallbackServerContext* context,
    const muster::v1::GetServerInfoRequest* /*request*/,
    muster::v1::ServerInfo* response) {
  MUSTER_AUTHORIZE_ANY_REALM(kGetServerInfo, TokenRole::kRead);
  FillServerInfo(registry_, facts_, caller.token.get(), response);
  return Read(context, kGetServerInfo, 0, [] { return absl::OkStatus(); });
}

grpc::ServerUnaryReactor* RegistryService::Ping(
    grpc::CallbackServerContext* context,
    const muster::v1::PingRequest* /*request*/,
    muster::v1::PingResponse* /*response*/) {
  return Finish(context, kPing, absl::OkStatus());
}

}  // namespace muster::registry
