#include "registry/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "registry/limits.h"
#include "registry/realm_service.h"

namespace muster::registry {

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const Options& options,
                                                      Registry& registry,
                                                      Metrics& metrics) {
  std::unique_ptr<Server> server(new Server());
  server->registry_ = &registry;
  server->registry_service_ =
      std::make_unique<RegistryService>(registry, metrics, options.facts);
  server->realm_service_ = std::make_unique<RealmService>(registry, metrics);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Without this a second daemon on a taken port "succeeds" silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(limits::kMaxGrpcMessageBytes);
  builder.SetMaxSendMessageSize(limits::kMaxGrpcMessageBytes);
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(server->registry_service_.get());
  builder.RegisterService(server->realm_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "grpc listen ", options.listen,
        ": cannot bind (address in use, not local, or malformed host:port)"));
  }
  grpc::HealthCheckServiceInterface* health =
      server->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus("muster.v1.Registry", true);
  health->SetServingStatus("muster.v1.Realms", true);
  return server;
}

void Server::Stop(absl::Duration grace) {
  if (stopped_ || server_ == nullptr) return;
  stopped_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  // Watch streams never end by themselves; end them so Shutdown only waits
  // for unary calls.
  registry_->watch_hub().Shutdown();
  server_->Shutdown(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
  server_->Wait();
}

Server::~Server() { Stop(); }

}  // namespace muster::registry
