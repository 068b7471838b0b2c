#pragma once

#include <string>

#include "absl/time/time.h"
#include "codec/read_responses.h"
#include "common/metrics.h"
#include "muster/v1/registry.grpc.pb.h"
#include "registry/registry.h"
#include "rpc/arena_allocator.h"
#include "rpc/auth.h"
#include "rpc/heartbeat_stream.h"
#include "rpc/rpc_metrics.h"
#include "rpc/watch_pump.h"

namespace muster::registry {

namespace registry_service_internal {
using V1 = muster::v1::Registry;
// muster.v1.Registry's CallbackService with GetInstance, ListInstances,
// Watch and HeartbeatStream raw. A raw layer takes the place of the typed
// WithCallbackMethod_X instead of being stacked on CallbackService, where
// its X would hide the typed one (clang's -Woverloaded-virtual). Lists
// every method of the service, in the generated order: a method added to
// the proto is added here.
using Base = V1::WithCallbackMethod_Register<V1::WithCallbackMethod_Deregister<
    V1::WithCallbackMethod_Heartbeat<V1::WithRawCallbackMethod_HeartbeatStream<
        V1::WithCallbackMethod_SetAdminState<
            V1::WithRawCallbackMethod_GetInstance<
                V1::WithRawCallbackMethod_ListInstances<
                    V1::WithCallbackMethod_ListServices<
                        V1::WithRawCallbackMethod_Watch<
                            V1::WithCallbackMethod_ListEvents<
                                V1::WithCallbackMethod_GetServerInfo<
                                    V1::WithCallbackMethod_Ping<
                                        V1::Service>>>>>>>>>>>>;
}  // namespace registry_service_internal

// RegistryService adapts muster.v1.Registry (callback API) to the
// registry's parts: proto <-> model and absl::Status -> grpc::Status,
// nothing else. Reads finish inline; mutations finish from the commit
// thread after the synced write. Every method but Ping first asks `auth`
// whether the caller may make it (rpc/auth.h). Thread-safe.
class RegistryService final : public registry_service_internal::Base {
 public:
  // `watch_progress_interval`: how long a Watch that asked for progress
  // stays silent before a PROGRESS message (see WatchReactor).
  RegistryService(Registry& registry, Metrics& metrics, Auth& auth,
                  ServerFacts facts, absl::Duration watch_progress_interval);

  // After the server is shut down: waits until the work the watch streams
  // left queued has run (it still refers to the registry).
  void DrainWatchStreams() { watch_pump_.Drain(); }
  // Before the server is shut down: ends the HeartbeatStream calls with
  // UNAVAILABLE (they never end by themselves) and refuses new ones.
  void EndHeartbeatStreams() { heartbeat_streams_.EndAll(); }

  grpc::ServerUnaryReactor* Register(
      grpc::CallbackServerContext* context,
      const muster::v1::RegisterRequest* request,
      muster::v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* Deregister(
      grpc::CallbackServerContext* context,
      const muster::v1::DeregisterRequest* request,
      muster::v1::DeregisterResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(
      grpc::CallbackServerContext* context,
      const muster::v1::HeartbeatRequest* request,
      muster::v1::HeartbeatResponse* response) override;
  // Heartbeats of many instances on one stream (HeartbeatStreamReactor);
  // raw, to tell a malformed message from the end of the stream.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* HeartbeatStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* SetAdminState(
      grpc::CallbackServerContext* context,
      const muster::v1::SetAdminStateRequest* request,
      muster::v1::Instance* response) override;
  // Raw: the replies are assembled from each instance's bytes, encoded
  // once per instance version (codec/instance_wire.h). The requests are
  // parsed here, refused as rpc/parse_errors.h words it.
  grpc::ServerUnaryReactor* GetInstance(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListInstances(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListServices(
      grpc::CallbackServerContext* context,
      const muster::v1::ListServicesRequest* request,
      muster::v1::ListServicesResponse* response) override;
  // Raw: the responses are assembled from shared event payloads.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* ListEvents(
      grpc::CallbackServerContext* context,
      const muster::v1::ListEventsRequest* request,
      muster::v1::ListEventsResponse* response) override;
  grpc::ServerUnaryReactor* GetServerInfo(
      grpc::CallbackServerContext* context,
      const muster::v1::GetServerInfoRequest* request,
      muster::v1::ServerInfo* response) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context,
                                 const muster::v1::PingRequest* request,
                                 muster::v1::PingResponse* response) override;

 private:
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                   size_t method, const absl::Status& status);
  // A read: runs `read` (which fills the response and returns its status)
  // once this replica has applied `min_revision` (0: at once, without
  // wrapping `read` in a std::function), and finishes the call. With a
  // replicated store the reply carries the initial metadata
  // muster-staleness-ms (see Registry::Staleness). `ReadFn` is a copyable
  // absl::Status(). Defined in the .cc, where every call is.
  template <typename ReadFn>
  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* context,
                                 size_t method, uint64_t min_revision,
                                 ReadFn read);

  template <typename Request, typename Response>
  using Allocator = ArenaMessageAllocator<Request, Response>;

  Registry& registry_;
  Auth& auth_;
  const Auth::Methods auth_methods_;
  // Builds and writes watch messages off gRPC's callback threads. Declared
  // early: destroyed after everything else, once every stream is done.
  WatchPump watch_pump_;
  const ServerFacts facts_;
  const absl::Duration watch_progress_interval_;
  RpcMetrics rpc_metrics_;
  // muster_heartbeats_total{via="unary"|"stream"}: heartbeats received.
  Counter& unary_heartbeats_;
  Counter& stream_heartbeats_;
  HeartbeatStreams heartbeat_streams_;
  // Per unary method; they must outlive the server, like the service.
  Allocator<muster::v1::RegisterRequest, muster::v1::RegisterResponse>
      register_allocator_;
  Allocator<muster::v1::DeregisterRequest, muster::v1::DeregisterResponse>
      deregister_allocator_;
  Allocator<muster::v1::HeartbeatRequest, muster::v1::HeartbeatResponse>
      heartbeat_allocator_;
  Allocator<muster::v1::SetAdminStateRequest, muster::v1::Instance>
      set_admin_state_allocator_;
  Allocator<muster::v1::ListServicesRequest, muster::v1::ListServicesResponse>
      list_services_allocator_;
  Allocator<muster::v1::ListEventsRequest, muster::v1::ListEventsResponse>
      list_events_allocator_;
  Allocator<muster::v1::GetServerInfoRequest, muster::v1::ServerInfo>
      get_server_info_allocator_;
  Allocator<muster::v1::PingRequest, muster::v1::PingResponse> ping_allocator_;
};

}  // namespace muster::registry
