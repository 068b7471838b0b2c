#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class CallbackGenericService;
class Server;
class ServerCredentials;
}  // namespace grpc

namespace muster::testing {

// A gRPC server on 127.0.0.1 (port 0) serving only the standard
// grpc.health.v1 service (grpc::EnableDefaultHealthCheckService), whose
// answers a test switches between SERVING and NOT_SERVING. The whole
// server ("") starts SERVING; a named service is unknown (NOT_FOUND)
// until set. StartTls serves over TLS with a given certificate. Not
// thread-safe.
class GrpcHealthTarget final {
 public:
  enum class Serving { kServing, kNotServing };

  static absl::StatusOr<std::unique_ptr<GrpcHealthTarget>> Start();
  // TLS with the PEM certificate (chain) and key in these files.
  static absl::StatusOr<std::unique_ptr<GrpcHealthTarget>> StartTls(
      const std::string& cert_file, const std::string& key_file);
  ~GrpcHealthTarget();

  int port() const { return port_; }
  // The whole server and every named service set so far.
  void SetAll(Serving serving);
  void SetService(const std::string& service, Serving serving);
  // Shuts the server down; later probes are refused.
  void Stop();

 private:
  static absl::StatusOr<std::unique_ptr<GrpcHealthTarget>> Serve(
      std::shared_ptr<grpc::ServerCredentials> credentials);
  GrpcHealthTarget(std::unique_ptr<grpc::CallbackGenericService> generic,
                   std::unique_ptr<grpc::Server> server, int port);

  // Answers UNIMPLEMENTED to anything but the health service. gRPC 1.51
  // refuses to build a server whose only service is the default health
  // service, as no method would poll its completion queues.
  std::unique_ptr<grpc::CallbackGenericService> generic_;
  std::unique_ptr<grpc::Server> server_;
  int port_;
};

}  // namespace muster::testing
