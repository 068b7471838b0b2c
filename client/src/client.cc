#include "muster/client/client.h"

#include <utility>

#include "client/src/daemon_connection.h"

namespace muster::client {

std::shared_ptr<Client> Client::Create(ClientOptions options,
                                       grpc::Status* status) {
  grpc::Status result = ApplyEnvironment(options);
  std::unique_ptr<internal::DaemonConnection> connection;
  if (result.ok())
    result = internal::DaemonConnection::Create(options, &connection);
  if (status != nullptr) *status = result;
  if (!result.ok()) return nullptr;
  return std::shared_ptr<Client>(new Client(std::move(connection)));
}

Client::Client(std::unique_ptr<internal::DaemonConnection> connection)
    : connection_(std::move(connection)) {}

Client::~Client() = default;

const ClientOptions& Client::options() const { return connection_->options(); }

std::string Client::current_address() const {
  return connection_->current_address();
}

}  // namespace muster::client
