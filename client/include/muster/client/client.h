#pragma once

// muster's client library. One Client per process holds the connection
// to musterd; Registration, Resolver, HttpClient and ServiceChannel are
// built on it.
//
//   muster::client::ClientOptions options;           // or from MUSTER_*
//   auto client = muster::client::Client::Create(options, &status);
//
// Thread-safe: every class of the library may be used from any thread
// unless its header says otherwise.

#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "muster/client/options.h"

namespace muster::client {

namespace internal {
class DaemonConnection;
}  // namespace internal

class Client {
 public:
  // ApplyEnvironment(options), reads the TLS files and makes the
  // channels (no I/O with musterd yet). nullptr, with `*status` set when
  // given, when the options are invalid.
  static std::shared_ptr<Client> Create(ClientOptions options,
                                        grpc::Status* status = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The options after ApplyEnvironment.
  const ClientOptions& options() const;
  // The daemon address calls go to now.
  std::string current_address() const;

  // The library's own classes reach musterd through this.
  internal::DaemonConnection& connection() const { return *connection_; }

 private:
  explicit Client(std::unique_ptr<internal::DaemonConnection> connection);
  const std::unique_ptr<internal::DaemonConnection> connection_;
};

}  // namespace muster::client
