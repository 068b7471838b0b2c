#include "tests/support/grpc_health_target.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

namespace muster::testing {

GrpcHealthTarget::GrpcHealthTarget(
    std::unique_ptr<grpc::CallbackGenericService> generic,
    std::unique_ptr<grpc::Server> server, int port)
    : generic_(std::move(generic)), server_(std::move(server)), port_(port) {}

namespace {

// The whole file, or nullopt.
std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcHealthTarget>> GrpcHealthTarget::Start() {
  return Serve(grpc::InsecureServerCredentials());
}

absl::StatusOr<std::unique_ptr<GrpcHealthTarget>> GrpcHealthTarget::StartTls(
    const std::string& cert_file, const std::string& key_file) {
  std::optional<std::string> cert = ReadFile(cert_file);
  std::optional<std::string> key = ReadFile(key_file);
  if (!cert.has_value() || !key.has_value()) {
    return absl::InvalidArgumentError(
        "grpc health target: cannot read the certificate or key");
  }
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return Serve(grpc::SslServerCredentials(options));
}

absl::StatusOr<std::unique_ptr<GrpcHealthTarget>> GrpcHealthTarget::Serve(
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  grpc::EnableDefaultHealthCheckService(true);
  auto generic = std::make_unique<grpc::CallbackGenericService>();
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(generic.get());
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port);
  // A second server on a taken port must fail, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        "grpc health target: cannot listen on 127.0.0.1");
  }
  return std::unique_ptr<GrpcHealthTarget>(
      new GrpcHealthTarget(std::move(generic), std::move(server), port));
}

GrpcHealthTarget::~GrpcHealthTarget() { Stop(); }

void GrpcHealthTarget::SetAll(Serving serving) {
  if (server_ == nullptr) return;
  server_->GetHealthCheckService()->SetServingStatus(serving ==
                                                     Serving::kServing);
}

void GrpcHealthTarget::SetService(const std::string& service, Serving serving) {
  if (server_ == nullptr) return;
  server_->GetHealthCheckService()->SetServingStatus(
      service, serving == Serving::kServing);
}

void GrpcHealthTarget::Stop() {
  if (server_ == nullptr) return;
  // Test support may read the real time: the deadline only bounds shutdown.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  server_.reset();
}

}  // namespace muster::testing
