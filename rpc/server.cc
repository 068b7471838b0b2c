#include "rpc/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "registry/limits.h"
#include "rpc/parse_errors.h"
#include "rpc/realm_service.h"
#include "rpc/tcp_listener.h"
#include "rpc/token_service.h"

namespace muster::registry {
namespace {

// Server keepalive: a peer that vanished without a FIN (a crashed host, a
// dropped NAT entry) while it holds a call is found within minutes instead
// of the kernel's two hours.
constexpr int kKeepaliveTimeMs = 5 * 60 * 1000;
constexpr int kKeepaliveTimeoutMs = 20 * 1000;

int ClampMs(absl::Duration d) {
  if (d >= absl::Milliseconds(INT_MAX)) return INT_MAX;
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

std::string DialTarget(const std::string& listen, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  return absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpListener>> Server::Bind(
    const Options& options, Metrics& metrics) {
  TcpListener::Options listener_options;
  listener_options.listen = options.listen;
  listener_options.name = options.listen_name;
  listener_options.fd_reserve = options.fd_reserve;
  // Connections stuck in the handshake hold their memory until it times
  // out; trim until they are gone.
  listener_options.trim_window = options.handshake_timeout;
  listener_options.trimmer = options.trimmer;
  return TcpListener::Create(listener_options, *options.clock, metrics);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const Options& options, Registry& registry, Metrics& metrics,
    std::unique_ptr<TcpListener> listener) {
  if (options.watch_progress_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "watch progress interval: must be positive");
  }
  std::unique_ptr<Server> server(new Server());
  server->registry_ = &registry;
  server->auth_ = std::make_unique<Auth>(
      options.auth,
      [&registry](absl::string_view secret, absl::Time now) {
        return registry.tokens().Authenticate(secret, now);
      },
      *options.clock, metrics);
  server->registry_service_ = std::make_unique<RegistryService>(
      registry, metrics, *server->auth_, options.facts,
      options.watch_progress_interval);
  server->realm_service_ =
      std::make_unique<RealmService>(registry, metrics, *server->auth_);
  server->token_service_ =
      std::make_unique<TokenService>(registry, metrics, *server->auth_);

  if (listener == nullptr) {
    absl::StatusOr<std::unique_ptr<TcpListener>> bound = Bind(options, metrics);
    if (!bound.ok()) return bound.status();
    listener = std::move(*bound);
  }
  server->listener_ = std::move(listener);
  server->port_ = server->listener_->port();
  server->target_ = DialTarget(options.listen, server->port_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(limits::kMaxGrpcMessageBytes);
  builder.SetMaxSendMessageSize(limits::kMaxGrpcMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             ClampMs(options.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ClampMs(options.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             kKeepaliveTimeoutMs);
  // Keepalive pings on a quiet watch stream carry no data; without this
  // gRPC stops sending them after two.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Transport limits: a client cannot open streams without bound, make
  // gRPC hold unbounded memory, or flood pings.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(std::min<uint32_t>(
                                 options.max_concurrent_streams, INT_MAX)));
  grpc::ResourceQuota quota("muster-grpc");
  quota.Resize(static_cast<size_t>(options.memory_limit_bytes));
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      ClampMs(options.min_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES,
                             static_cast<int>(options.max_ping_strikes));
  // An idle client's keepalive pings at or above the minimum interval are
  // fine (max_connection_idle still closes the connection).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC's own listener stops for good after one failed accept (EMFILE);
  // the TcpListener accepts instead and hands connections over here.
  server->acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
      MakeServerCredentials(options.tls));
  // An unparseable request body is INVALID_ARGUMENT, not UNIMPLEMENTED.
  builder.experimental().SetInterceptorCreators(
      ParseErrorInterceptors({muster::v1::Registry::service_full_name(),
                              muster::v1::Realms::service_full_name(),
                              muster::v1::Tokens::service_full_name()}));
  builder.RegisterService(server->registry_service_.get());
  builder.RegisterService(server->realm_service_.get());
  builder.RegisterService(server->token_service_.get());
  for (grpc::Service* service : options.extra_services) {
    builder.RegisterService(service);
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("grpc listen ", options.listen, ": cannot start serving"));
  }
  grpc::experimental::ExternalConnectionAcceptor* acceptor =
      server->acceptor_.get();
  server->listener_->Start([acceptor](int fd) {
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters
        connection;
    connection.fd = fd;
    acceptor->HandleNewConnection(&connection);
  });
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
  // for unary calls. The same call Registry::Stop makes later; mutations
  // in flight still complete, the committer runs until then.
  registry_->change_log().EndWatches();
  // Heartbeat streams neither.
  registry_service_->EndHeartbeatStreams();
  // Before Shutdown: gRPC neither serves nor closes a connection handed to
  // it after that.
  listener_->Stop();
  server_->Shutdown(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
  server_->Wait();
  // Every stream is done; let the pump finish what they left queued, so
  // nothing of theirs outlives the registry.
  registry_service_->DrainWatchStreams();
}

Server::~Server() { Stop(); }

}  // namespace muster::registry
