#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "registry/registry.h"
#include "registry/store.h"
#include "rpc/server.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {

// An in-process musterd: a real store (RocksDB in a temp dir unless a
// store is given), the registry and the gRPC server on 127.0.0.1:0, plus
// client stubs. Not thread-safe; the stubs are.
class TestServer final {
 public:
  struct Options {
    registry::Registry::Options registry;
    // Use this store instead of RocksDB (e.g. a MemoryStore).
    registry::Store* store = nullptr;
    // Server::Options::watch_progress_interval.
    absl::Duration watch_progress_interval = absl::Seconds(10);
    // Server::Options::auth (access control and per-client limits).
    registry::AuthOptions auth;
    // The server's clock (auth: token expiry, request rates); none: the
    // real one.
    Clock* clock = nullptr;
  };

  TestServer() : TestServer(Options{}) {}
  explicit TestServer(Options options);
  ~TestServer();

  muster::v1::Registry::Stub& registry() { return *registry_stub_; }
  muster::v1::Realms::Stub& realms() { return *realms_stub_; }
  registry::Registry& core() { return *registry_; }
  Metrics& metrics() { return metrics_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  const std::string& data_dir() const { return dir_.path(); }
  int port() const { return server_->port(); }

  // Stops everything and starts again on the same data dir (and port 0).
  void Restart();

 private:
  void StartAll();
  void StopAll();

  Options options_;
  TempDir dir_;
  Metrics metrics_;
  std::unique_ptr<registry::Store> owned_store_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<registry::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<muster::v1::Registry::Stub> registry_stub_;
  std::unique_ptr<muster::v1::Realms::Stub> realms_stub_;
};

// A client context with a 10 s deadline.
std::unique_ptr<grpc::ClientContext> Context();

// Sends `body` as the whole request of `method` (one message, then
// half-close) without encoding it, and waits for the status; a streaming
// method that ends before its first message is seen so too.
grpc::Status CallRaw(TestServer& server, const std::string& method,
                     const std::string& body);

// A minimal valid instance.
muster::v1::Instance MakeInstance(const std::string& service,
                                  const std::string& id,
                                  const std::string& address = "10.0.0.1",
                                  uint32_t port = 8080);

}  // namespace muster::testing
