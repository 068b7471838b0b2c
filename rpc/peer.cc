#include "rpc/peer.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secret.h"
#include "rpc/grpc_status.h"

namespace muster::registry {
namespace {

bool SecretMatches(const grpc::CallbackServerContext& context,
                   const std::string& secret) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kPeerSecretMetadata);
  if (it == metadata.end() || secret.empty()) return false;
  return ConstantTimeEquals(
      absl::string_view(it->second.data(), it->second.size()), secret);
}

}  // namespace

PeerService::PeerService(Registry& registry, std::string secret,
                         Metrics& metrics)
    : registry_(registry),
      secret_(std::move(secret)),
      received_(metrics.GetCounter(
          "muster_peer_heartbeats_received_total",
          "Heartbeats other replicas forwarded to this one (it checks their "
          "instances).")),
      refused_(metrics.GetCounter(
          "muster_peer_calls_refused_total",
          "Calls to the peer service without the replicas' peer secret.")) {}

grpc::ServerUnaryReactor* PeerService::ForwardHeartbeats(
    grpc::CallbackServerContext* context,
    const muster::internal::v1::ForwardHeartbeatsRequest* request,
    muster::internal::v1::ForwardHeartbeatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!SecretMatches(*context, secret_)) {
    refused_.Increment();
    reactor->Finish(grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        "muster.internal.v1.Peer is for musterd replicas: missing or wrong "
        "peer secret"));
    return reactor;
  }
  uint32_t accepted = 0;
  for (const muster::internal::v1::ForwardedHeartbeat& heartbeat :
       request->heartbeats()) {
    const InstanceKey key{heartbeat.realm(), heartbeat.service(),
                          heartbeat.id()};
    if (registry_.instances()
            .AcceptForwardedHeartbeat(key, heartbeat.incarnation())
            .ok()) {
      ++accepted;
    }
  }
  received_.Increment(static_cast<uint64_t>(request->heartbeats_size()));
  response->set_accepted(accepted);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

HeartbeatForwarder::HeartbeatForwarder(Options options, Metrics& metrics)
    : options_(std::move(options)),
      sent_(metrics.GetCounter(
          "muster_peer_heartbeats_forwarded_total",
          "Heartbeats sent on to the replica that checks their instance.")),
      dropped_(metrics.GetCounter(
          "muster_peer_heartbeats_dropped_total",
          "Heartbeats that could not be forwarded (the owner did not "
          "answer).")) {
  thread_ = std::thread([this] { Loop(); });
}

HeartbeatForwarder::~HeartbeatForwarder() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void HeartbeatForwarder::Forward(const ReplicaInfo& owner,
                                 const InstanceKey& key, uint64_t incarnation) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  muster::internal::v1::ForwardHeartbeatsRequest& queue =
      queues_[owner.address];
  muster::internal::v1::ForwardedHeartbeat* heartbeat = queue.add_heartbeats();
  heartbeat->set_realm(key.realm);
  heartbeat->set_service(key.service);
  heartbeat->set_id(key.id);
  heartbeat->set_incarnation(incarnation);
  if (static_cast<size_t>(queue.heartbeats_size()) >= options_.max_batch)
    flush_now_ = true;
}

void HeartbeatForwarder::Loop() {
  for (;;) {
    std::map<std::string, muster::internal::v1::ForwardHeartbeatsRequest>
        batches;
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || flush_now_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), options_.interval);
      if (stopping_) return;
      flush_now_ = false;
      batches.swap(queues_);
    }
    for (auto& [address, batch] : batches) Send(address, batch);
  }
}

void HeartbeatForwarder::Send(
    const std::string& address,
    muster::internal::v1::ForwardHeartbeatsRequest& batch) {
  std::unique_ptr<muster::internal::v1::Peer::Stub>& stub = stubs_[address];
  if (stub == nullptr) {
    stub = muster::internal::v1::Peer::NewStub(
        grpc::CreateChannel(address, options_.credentials));
  }
  batch.set_from(options_.self_id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.call_timeout));
  context.AddMetadata(kPeerSecretMetadata, options_.secret);
  muster::internal::v1::ForwardHeartbeatsResponse response;
  const grpc::Status status =
      stub->ForwardHeartbeats(&context, batch, &response);
  const uint64_t count = static_cast<uint64_t>(batch.heartbeats_size());
  if (status.ok()) {
    sent_.Increment(count);
    return;
  }
  dropped_.Increment(count);
  const absl::Time now = absl::Now();
  if (now - last_error_log_ >= absl::Seconds(10)) {
    last_error_log_ = now;
    MUSTER_LOG(kWarning,
               "could not forward %d heartbeats to the replica at %s: %s",
               count, address, status.error_message());
  }
}

}  // namespace muster::registry
