#include "tests/integration/test_server.h"

#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <cstdlib>

#include "absl/synchronization/notification.h"
#include "store/rocksdb/rocksdb_store.h"

namespace muster::testing {

TestServer::TestServer(Options options) : options_(std::move(options)) {
  StartAll();
}

TestServer::~TestServer() { StopAll(); }

void TestServer::StartAll() {
  registry::Store* store = options_.store;
  if (store == nullptr) {
    auto opened = registry::RocksDbStore::Open(
        registry::RocksDbStore::Options{dir_.File("data")});
    if (!opened.ok()) std::abort();
    owned_store_ = std::move(opened).value();
    store = owned_store_.get();
  }
  auto created = registry::Registry::Create(options_.registry, *store,
                                            Clock::Real(), metrics_);
  if (!created.ok()) std::abort();
  registry_ = std::move(created).value();
  if (!registry_->Start().ok()) std::abort();
  registry::Server::Options server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.facts.version = "test";
  server_options.watch_progress_interval = options_.watch_progress_interval;
  server_options.auth = options_.auth;
  if (options_.clock != nullptr) server_options.clock = options_.clock;
  auto server = registry::Server::Start(server_options, *registry_, metrics_);
  if (!server.ok()) std::abort();
  server_ = std::move(server).value();
  channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                 grpc::InsecureChannelCredentials());
  registry_stub_ = muster::v1::Registry::NewStub(channel_);
  realms_stub_ = muster::v1::Realms::NewStub(channel_);
}

void TestServer::StopAll() {
  registry_stub_.reset();
  realms_stub_.reset();
  channel_.reset();
  if (server_) server_->Stop(absl::Seconds(1));
  server_.reset();
  if (registry_) registry_->Stop();
  registry_.reset();
  owned_store_.reset();
}

void TestServer::Restart() {
  StopAll();
  StartAll();
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  return context;
}

grpc::Status CallRaw(TestServer& server, const std::string& method,
                     const std::string& body) {
  grpc::GenericStub stub(server.channel());
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::unique_ptr<grpc::ClientContext> context = Context();
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &request,
                 &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  return status;
}

muster::v1::Instance MakeInstance(const std::string& service,
                                  const std::string& id,
                                  const std::string& address, uint32_t port) {
  muster::v1::Instance instance;
  instance.set_service(service);
  instance.set_id(id);
  instance.set_address(address);
  instance.set_port(port);
  return instance;
}

}  // namespace muster::testing
