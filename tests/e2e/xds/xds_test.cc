// musterd's xDS (ADS) control plane end to end: gRPC C++'s own xds client
// (xds:///greeter.default) against a real musterd and real gRPC backends
// on 127.0.0.1; a raw ADS stream for the protocol details (ACK, NACK);
// --auth. Each case runs in its own process (catch_discover_tests), so
// the xds client, created once per process from GRPC_XDS_BOOTSTRAP_CONFIG,
// sees that case's musterd.

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <stdlib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "muster/v1/tokens.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr char kListenerType[] =
    "type.googleapis.com/envoy.config.listener.v3.Listener";
constexpr char kClusterType[] =
    "type.googleapis.com/envoy.config.cluster.v3.Cluster";
constexpr char kEndpointType[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(seconds));
  return context;
}

// A backend: a gRPC server on 127.0.0.1 whose grpc.health.v1 Check
// answers SERVING and counts the calls it got.
class CountingBackend final : public grpc::health::v1::Health::CallbackService {
 public:
  CountingBackend() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~CountingBackend() override { server_->Shutdown(); }

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const HealthCheckRequest*,
                                  HealthCheckResponse* response) override {
    calls_.fetch_add(1);
    response->set_status(HealthCheckResponse::SERVING);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  int port() const { return port_; }
  int calls() const { return calls_.load(); }

 private:
  int port_ = 0;
  std::atomic<int> calls_{0};
  std::unique_ptr<grpc::Server> server_;
};

// The value of an unlabelled metric in musterd's /metrics; -1 if absent.
double Metric(int http_port, const std::string& name) {
  httplib::Client client("127.0.0.1", http_port);
  client.set_read_timeout(5, 0);
  httplib::Result result = client.Get("/metrics");
  if (!result || result->status != 200) return -1;
  for (absl::string_view line : absl::StrSplit(result->body, '\n')) {
    if (!absl::ConsumePrefix(&line, name + " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return -1;
}

void SetBootstrap(const std::string& address) {
  const std::string bootstrap =
      "{\"xds_servers\":[{\"server_uri\":\"" + address +
      "\",\"channel_creds\":[{\"type\":\"insecure\"}],"
      "\"server_features\":[\"xds_v3\"]}],"
      "\"node\":{\"id\":\"test\",\"metadata\":{\"muster_realm\":\"default\"}}}";
  ::setenv("GRPC_XDS_BOOTSTRAP_CONFIG", bootstrap.c_str(), 1);
}

void Register(muster::v1::Registry::Stub& stub, const std::string& id, int port,
              const std::string& zone = "") {
  muster::v1::RegisterRequest request;
  auto* instance = request.mutable_instance();
  instance->set_service("greeter");
  instance->set_id(id);
  instance->set_address("127.0.0.1");
  instance->set_port(port);
  instance->set_zone(zone);
  instance->mutable_check()->set_kind(muster::v1::CHECK_KIND_NONE);
  muster::v1::RegisterResponse response;
  grpc::Status status = stub.Register(Context().get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

void Drain(muster::v1::Registry::Stub& stub, const std::string& id) {
  muster::v1::SetAdminStateRequest request;
  request.set_service("greeter");
  request.set_id(id);
  request.set_admin_state(muster::v1::ADMIN_STATE_DRAINING);
  request.set_reason("xds test");
  muster::v1::Instance response;
  grpc::Status status = stub.SetAdminState(Context().get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

// Makes `n` calls through the xds channel; true when all succeeded.
bool Call(grpc::health::v1::Health::Stub& stub, int n) {
  for (int i = 0; i < n; ++i) {
    HealthCheckResponse response;
    if (!stub.Check(Context(5).get(), HealthCheckRequest(), &response).ok()) {
      return false;
    }
  }
  return true;
}

// Calls until every backend in `backends` has had at least one more call.
bool AllGetCalls(grpc::health::v1::Health::Stub& stub,
                 const std::vector<CountingBackend*>& backends) {
  std::vector<int> before;
  for (auto* backend : backends) before.push_back(backend->calls());
  return Eventually(
      [&] {
        Call(stub, 6);
        for (size_t i = 0; i < backends.size(); ++i) {
          if (backends[i]->calls() <= before[i]) return false;
        }
        return true;
      },
      std::chrono::seconds(20));
}

TEST_CASE(
    "gRPC's xds client round-robins over greeter, drops a drained instance "
    "and picks up a new one",
    "[e2e][xds]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--xds-push-delay", "50ms"});
  REQUIRE(daemon.Start());
  SetBootstrap(daemon.address());
  auto registry = muster::v1::Registry::NewStub(daemon.channel());
  CountingBackend a, b, c;
  Register(*registry, "a", a.port(), "zone-1");
  Register(*registry, "b", b.port(), "zone-2");

  auto channel = grpc::CreateChannel("xds:///greeter.default",
                                     grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  REQUIRE(Eventually([&] { return Call(*stub, 1); }, std::chrono::seconds(20)));
  INFO(daemon.log());

  // Both connected (round robin picks only ready subchannels), then 20
  // calls over the two give each about half.
  REQUIRE(AllGetCalls(*stub, {&a, &b}));
  int a0 = a.calls(), b0 = b.calls();
  REQUIRE(Call(*stub, 20));
  CHECK(a.calls() - a0 >= 5);
  CHECK(b.calls() - b0 >= 5);

  // Drained: no calls within a second or so.
  Drain(*registry, "b");
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const int b_drained = b.calls();
  REQUIRE(Call(*stub, 20));
  CHECK(b.calls() == b_drained);

  // A new instance gets calls.
  Register(*registry, "c", c.port(), "zone-1");
  CHECK(AllGetCalls(*stub, {&a, &c}));
  CHECK(b.calls() == b_drained);

  // SIGTERM with the xds stream open: musterd ends it at once instead of
  // waiting out the server's 5 s grace.
  const auto start = std::chrono::steady_clock::now();
  CHECK(daemon.Terminate() == 0);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
  CHECK_THAT(daemon.log(), Catch::Contains("stopped cleanly"));
}

TEST_CASE(
    "gRPC's xds client stops calling a backend within a second of its "
    "turning critical",
    "[e2e][xds]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--xds-push-delay", "50ms"});
  REQUIRE(daemon.Start());
  SetBootstrap(daemon.address());
  auto registry = muster::v1::Registry::NewStub(daemon.channel());
  CountingBackend a, d;
  Register(*registry, "a", a.port());

  // d: a TTL check of 1 s, kept alive by heartbeats until they stop.
  muster::v1::RegisterRequest request;
  auto* instance = request.mutable_instance();
  instance->set_service("greeter");
  instance->set_id("d");
  instance->set_address("127.0.0.1");
  instance->set_port(d.port());
  instance->mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
  instance->mutable_check()->mutable_ttl()->set_seconds(1);
  muster::v1::RegisterResponse registered;
  REQUIRE(registry->Register(Context().get(), request, &registered).ok());
  muster::v1::HeartbeatRequest heartbeat;
  heartbeat.set_service("greeter");
  heartbeat.set_id("d");
  heartbeat.set_incarnation(registered.instance().create_revision());
  std::atomic<bool> beating{true};
  std::thread heart([&] {
    while (beating.load()) {
      muster::v1::HeartbeatResponse ignored;
      (void)registry->Heartbeat(Context().get(), heartbeat, &ignored);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  auto channel = grpc::CreateChannel("xds:///greeter.default",
                                     grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  const bool both = AllGetCalls(*stub, {&a, &d});
  beating.store(false);
  heart.join();
  REQUIRE(both);

  // The heartbeats stopped: the checker turns d critical after its TTL.
  auto health_of_d = [&] {
    muster::v1::GetInstanceRequest get;
    get.set_service("greeter");
    get.set_id("d");
    muster::v1::Instance got;
    (void)registry->GetInstance(Context().get(), get, &got);
    return got.health();
  };
  REQUIRE(
      Eventually([&] { return health_of_d() == muster::v1::HEALTH_CRITICAL; },
                 std::chrono::seconds(10), std::chrono::milliseconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const int d_critical = d.calls();
  const int a_before = a.calls();
  REQUIRE(Call(*stub, 20));
  CHECK(d.calls() == d_critical);
  CHECK(a.calls() - a_before == 20);
}

TEST_CASE("gRPC's xds client survives a musterd restart", "[e2e][xds]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--xds-push-delay", "50ms"});
  daemon.KeepPorts();
  REQUIRE(daemon.Start());
  SetBootstrap(daemon.address());
  auto registry = muster::v1::Registry::NewStub(daemon.channel());
  CountingBackend a, b;
  Register(*registry, "a", a.port());

  auto channel =
      grpc::CreateChannel("xds:///greeter", grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  REQUIRE(Eventually([&] { return Call(*stub, 1); }, std::chrono::seconds(20)));

  daemon.Kill();
  // The client keeps its last endpoints while the control plane is away.
  CHECK(Call(*stub, 5));
  REQUIRE(daemon.Start());
  registry = muster::v1::Registry::NewStub(daemon.channel());
  Register(*registry, "b", b.port());
  INFO(daemon.log());
  CHECK(AllGetCalls(*stub, {&a, &b}));
}

// A raw ADS stream: one request per type, as gRPC's client sends them.
class RawStream {
 public:
  RawStream(AggregatedDiscoveryService::Stub& stub,
            const std::string& token = "") {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    if (!token.empty()) {
      context_.AddMetadata("authorization", "Bearer " + token);
    }
    stream_ = stub.StreamAggregatedResources(&context_);
  }
  bool Send(const std::string& type, const std::vector<std::string>& names,
            const std::string& version = "", const std::string& nonce = "",
            const std::string& error = "") {
    DiscoveryRequest request;
    request.set_type_url(type);
    request.mutable_node()->set_id("raw");
    for (const auto& name : names) request.add_resource_names(name);
    request.set_version_info(version);
    request.set_response_nonce(nonce);
    if (!error.empty()) {
      request.mutable_error_detail()->set_code(3);
      request.mutable_error_detail()->set_message(error);
    }
    return stream_->Write(request);
  }
  bool Read(DiscoveryResponse* response) { return stream_->Read(response); }
  grpc::Status Finish() {
    stream_->WritesDone();
    return stream_->Finish();
  }
  grpc::ClientContext& context() { return context_; }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>>
      stream_;
};

TEST_CASE(
    "an ADS stream gets LDS, CDS and EDS, and a NACK keeps the last good "
    "version without a resend until something changes",
    "[e2e][xds]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--xds-push-delay", "50ms"});
  REQUIRE(daemon.Start());
  auto registry = muster::v1::Registry::NewStub(daemon.channel());
  Register(*registry, "a", 9001, "z");
  auto ads = AggregatedDiscoveryService::NewStub(daemon.channel());
  RawStream stream(*ads);

  // LDS: the known name, not the one of a missing realm.
  REQUIRE(stream.Send(kListenerType, {"greeter.default", "greeter.nope"}));
  DiscoveryResponse lds;
  REQUIRE(stream.Read(&lds));
  CHECK(lds.type_url() == kListenerType);
  REQUIRE(lds.resources_size() == 1);
  envoy::config::listener::v3::Listener listener;
  REQUIRE(lds.resources(0).UnpackTo(&listener));
  CHECK(listener.name() == "greeter.default");
  CHECK(listener.has_api_listener());
  REQUIRE(stream.Send(kListenerType, {"greeter.default", "greeter.nope"},
                      lds.version_info(), lds.nonce()));

  DiscoveryResponse cds;
  REQUIRE(stream.Send(kClusterType, {"greeter.default"}));
  REQUIRE(stream.Read(&cds));
  CHECK(cds.type_url() == kClusterType);
  REQUIRE(cds.resources_size() == 1);
  REQUIRE(stream.Send(kClusterType, {"greeter.default"}, cds.version_info(),
                      cds.nonce()));

  DiscoveryResponse eds;
  REQUIRE(stream.Send(kEndpointType, {"greeter.default"}));
  REQUIRE(stream.Read(&eds));
  CHECK(eds.type_url() == kEndpointType);
  REQUIRE(eds.resources_size() == 1);
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  REQUIRE(eds.resources(0).UnpackTo(&assignment));
  CHECK(assignment.cluster_name() == "greeter.default");
  REQUIRE(assignment.endpoints_size() == 1);
  CHECK(assignment.endpoints(0).locality().zone() == "z");
  CHECK(assignment.endpoints(0)
            .lb_endpoints(0)
            .endpoint()
            .address()
            .socket_address()
            .port_value() == 9001);
  const std::string good_version = eds.version_info();

  // A NACK of the next version: no resend while nothing changes.
  Register(*registry, "b", 9002, "z");
  DiscoveryResponse pushed;
  REQUIRE(stream.Read(&pushed));
  CHECK(pushed.type_url() == kEndpointType);
  CHECK(pushed.version_info() != good_version);
  REQUIRE(stream.Send(kEndpointType, {"greeter.default"}, good_version,
                      pushed.nonce(), "this client does not like it"));
  // The next thing the stream sees is the answer to a real change, not a
  // resend of the rejected version.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Register(*registry, "c", 9003, "z");
  DiscoveryResponse next;
  REQUIRE(stream.Read(&next));
  CHECK(next.type_url() == kEndpointType);
  CHECK(next.nonce() != pushed.nonce());
  envoy::config::endpoint::v3::ClusterLoadAssignment three;
  REQUIRE(next.resources(0).UnpackTo(&three));
  CHECK(three.endpoints(0).lb_endpoints_size() == 3);
  CHECK_THAT(daemon.log(), Catch::Contains("this client does not like it"));
  CHECK_THAT(daemon.log(), Catch::Contains("node \"raw\" rejected"));
  CHECK(Metric(daemon.http_port(), "muster_xds_nacks_total") == 1);
  CHECK(Metric(daemon.http_port(), "muster_xds_streams") == 1);
  // LDS, CDS, EDS, the push that was NACKed and the one after it.
  CHECK(Metric(daemon.http_port(), "muster_xds_responses_total") == 5);
  stream.context().TryCancel();
}

TEST_CASE(
    "a listener of a realm that does not exist yet is pushed once the realm "
    "is created",
    "[e2e][xds]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--xds-push-delay", "50ms"});
  REQUIRE(daemon.Start());
  auto ads = AggregatedDiscoveryService::NewStub(daemon.channel());
  RawStream stream(*ads);
  REQUIRE(stream.Send(kListenerType, {"greeter.later"}));
  DiscoveryResponse none;
  REQUIRE(stream.Read(&none));
  CHECK(none.resources_size() == 0);
  REQUIRE(stream.Send(kListenerType, {"greeter.later"}, none.version_info(),
                      none.nonce()));

  auto realms = muster::v1::Realms::NewStub(daemon.channel());
  muster::v1::CreateRealmRequest create;
  create.set_name("later");
  muster::v1::Realm realm;
  REQUIRE(realms->CreateRealm(Context().get(), create, &realm).ok());
  DiscoveryResponse pushed;
  REQUIRE(stream.Read(&pushed));
  CHECK(pushed.type_url() == kListenerType);
  REQUIRE(pushed.resources_size() == 1);
  envoy::config::listener::v3::Listener listener;
  REQUIRE(pushed.resources(0).UnpackTo(&listener));
  CHECK(listener.name() == "greeter.later");
  stream.context().TryCancel();
}

std::string ReadSecret(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == ' ')) {
    secret.pop_back();
  }
  return secret;
}

TEST_CASE(
    "with --auth an ADS stream needs a token that may read each realm it "
    "subscribes to",
    "[e2e][xds][auth]") {
  TempDir dir;
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--auth"});
  REQUIRE(daemon.Start());
  const std::string admin = ReadSecret(dir.File("data") + "/bootstrap-token");
  REQUIRE(!admin.empty());
  auto ads = AggregatedDiscoveryService::NewStub(daemon.channel());

  SECTION("no token, or an unknown one: UNAUTHENTICATED") {
    for (const std::string& token :
         {std::string(), std::string("mst_not_a_token_at_all_0123456789ab")}) {
      RawStream stream(*ads, token);
      stream.Send(kListenerType, {"greeter.default"});
      DiscoveryResponse response;
      CHECK_FALSE(stream.Read(&response));
      CHECK(stream.Finish().error_code() == grpc::UNAUTHENTICATED);
    }
  }

  SECTION("a read token of realm default: that realm only") {
    auto tokens = muster::v1::Tokens::NewStub(daemon.channel());
    muster::v1::CreateTokenRequest create;
    create.set_name("reader");
    create.set_role(muster::v1::TOKEN_ROLE_READ);
    create.add_realms("default");
    muster::v1::CreateTokenResponse created;
    auto context = Context();
    context->AddMetadata("authorization", "Bearer " + admin);
    grpc::Status status = tokens->CreateToken(context.get(), create, &created);
    INFO(status.error_message());
    REQUIRE(status.ok());

    RawStream allowed(*ads, created.secret());
    REQUIRE(allowed.Send(kListenerType, {"greeter.default"}));
    DiscoveryResponse response;
    REQUIRE(allowed.Read(&response));
    CHECK(response.resources_size() == 1);
    allowed.context().TryCancel();

    RawStream denied(*ads, created.secret());
    REQUIRE(denied.Send(kListenerType, {"greeter.prod"}));
    CHECK_FALSE(denied.Read(&response));
    grpc::Status refused = denied.Finish();
    CHECK(refused.error_code() == grpc::PERMISSION_DENIED);
    CHECK_THAT(refused.error_message(), Catch::Contains("prod"));
  }
}

TEST_CASE("musterd --xds-listen serves ADS on a port of its own",
          "[e2e][xds]") {
  TempDir dir;
  const int port = FreePort();
  REQUIRE(port != 0);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), dir.File("musterd.log"),
                       {"--xds-listen", address});
  REQUIRE(daemon.Start());
  auto ads = AggregatedDiscoveryService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  RawStream stream(*ads);
  REQUIRE(stream.Send(kClusterType, {"greeter"}));
  DiscoveryResponse response;
  REQUIRE(stream.Read(&response));
  REQUIRE(response.resources_size() == 1);
  envoy::config::cluster::v3::Cluster cluster;
  REQUIRE(response.resources(0).UnpackTo(&cluster));
  CHECK(cluster.name() == "greeter");
  stream.context().TryCancel();
}

}  // namespace
}  // namespace muster::testing
