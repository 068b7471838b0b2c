// TLS and mutual TLS on the real musterd: who is refused, who gets in,
// a certificate replaced under a live watch, the HTTP port under TLS, and
// musterctl's --ca/--cert/--key and MUSTER_* variables. Certificates come
// from testkit/test_certs.h (the openssl command line).

#include <httplib.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "muster/v1/registry.grpc.pb.h"
#include "testkit/child_process.h"
#include "testkit/daemon_process.h"
#include "testkit/test_certs.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

// httplib's client may write to a socket musterd closed after refusing
// the handshake; that must fail the request, not kill the test (SIGPIPE).
const bool kSigpipeIgnored = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

// A reload is seen within the 1 s interval plus a handshake; generous for
// a loaded machine, and only the failure path waits it out.
constexpr auto kReloadDeadline = std::chrono::seconds(8);

std::shared_ptr<grpc::ChannelCredentials> Trusting(
    const std::string& ca, const CertKey* client = nullptr) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadWholeFile(ca);
  if (client != nullptr) {
    options.pem_cert_chain = ReadWholeFile(client->cert);
    options.pem_private_key = ReadWholeFile(client->key);
  }
  return grpc::SslCredentials(options);
}

// A channel on a connection of its own (not shared with other channels of
// this process), so each one is a new handshake.
std::shared_ptr<grpc::Channel> NewConnection(
    const std::string& address,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, credentials, args);
}

grpc::Status Ping(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = muster::v1::Registry::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(3));
  muster::v1::PingResponse response;
  return stub->Ping(&context, {}, &response);
}

grpc::Status PingNew(const std::string& address,
                     std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return Ping(NewConnection(address, std::move(credentials)));
}

// Polls `ok` until it holds or kReloadDeadline passes.
bool Eventually(const std::function<bool()>& ok) {
  const auto deadline = std::chrono::steady_clock::now() + kReloadDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ok();
}

// An HTTPS GET to musterd's HTTP port; status 0 when the connection or
// the handshake failed.
int HttpsGet(const std::string& address, const std::string& path,
             const std::string& ca, const CertKey* client = nullptr) {
  const size_t colon = address.rfind(':');
  std::unique_ptr<httplib::SSLClient> http =
      client == nullptr
          ? std::make_unique<httplib::SSLClient>(
                address.substr(0, colon), std::stoi(address.substr(colon + 1)))
          : std::make_unique<httplib::SSLClient>(
                address.substr(0, colon), std::stoi(address.substr(colon + 1)),
                client->cert, client->key);
  http->set_ca_cert_path(ca.c_str());
  http->enable_server_certificate_verification(true);
  http->set_connection_timeout(3);
  http->set_read_timeout(3);
  httplib::Result result = http->Get(path.c_str());
  return result ? result->status : 0;
}

// musterd with TLS files that the test may rewrite: copies of the server
// certificate and key in the temp dir.
struct TlsDaemon {
  TlsDaemon(const TempDir& dir, const TestCerts& certs, bool mutual)
      : cert(dir.File("live.crt")), key(dir.File("live.key")) {
    ReplaceFile(certs.server().cert, cert);
    ReplaceFile(certs.server().key, key);
    std::vector<std::string> args = {
        "--tls-cert", cert, "--tls-key", key, "--tls-reload-interval", "1s"};
    if (mutual) {
      args.insert(args.end(), {"--tls-client-ca", certs.ca().cert});
    }
    daemon = std::make_unique<DaemonProcess>(MUSTERD_PATH, dir.File("data"),
                                             dir.File("musterd.log"), args);
    daemon->SetChannelCredentials(
        Trusting(certs.ca().cert, mutual ? &certs.client() : nullptr));
  }
  std::string cert;
  std::string key;
  std::unique_ptr<DaemonProcess> daemon;
};

RunResult Ctl(const std::string& address, std::vector<std::string> args,
              std::vector<std::string> env = {}) {
  SpawnOptions options;
  options.argv = {MUSTERCTL_PATH, "--addr", address, "--timeout", "3s"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  // Nothing from the test's own environment; then the case's variables.
  options.env = {"MUSTER_CA",    "MUSTER_CERT",       "MUSTER_KEY",
                 "MUSTER_TOKEN", "MUSTER_TOKEN_FILE", "MUSTER_ADDR"};
  options.env.insert(options.env.end(), env.begin(), env.end());
  return Run(options, absl::Seconds(20));
}

}  // namespace

TEST_CASE("TLS: a plaintext client and a client of another CA are refused",
          "[e2e][tls]") {
  TempDir dir;
  TestCerts certs(dir.path());
  TlsDaemon tls(dir, certs, /*mutual=*/false);
  REQUIRE(tls.daemon->Start());
  const std::string address = tls.daemon->address();

  CHECK(PingNew(address, grpc::InsecureChannelCredentials()).error_code() ==
        grpc::StatusCode::UNAVAILABLE);
  CHECK(PingNew(address, Trusting(certs.other_ca().cert)).error_code() ==
        grpc::StatusCode::UNAVAILABLE);
  CHECK(PingNew(address, Trusting(certs.ca().cert)).ok());
  CHECK_THAT(tls.daemon->log(), Catch::Contains("transport: TLS"));
}

TEST_CASE("mutual TLS: no client certificate or one of another CA is refused",
          "[e2e][tls]") {
  TempDir dir;
  TestCerts certs(dir.path());
  TlsDaemon tls(dir, certs, /*mutual=*/true);
  REQUIRE(tls.daemon->Start());
  const std::string address = tls.daemon->address();

  CHECK_FALSE(PingNew(address, grpc::InsecureChannelCredentials()).ok());
  CHECK_FALSE(PingNew(address, Trusting(certs.ca().cert)).ok());
  CHECK_FALSE(
      PingNew(address, Trusting(certs.ca().cert, &certs.other_client())).ok());
  CHECK(PingNew(address, Trusting(certs.ca().cert, &certs.client())).ok());
}

TEST_CASE(
    "a replaced certificate reaches new connections while an open watch "
    "keeps working",
    "[e2e][tls]") {
  TempDir dir;
  TestCerts certs(dir.path());
  TlsDaemon tls(dir, certs, /*mutual=*/true);
  REQUIRE(tls.daemon->Start());
  const std::string address = tls.daemon->address();
  const std::string http = tls.daemon->http_address();

  // A watch on a connection made with the first certificate.
  std::shared_ptr<grpc::Channel> old_connection =
      NewConnection(address, Trusting(certs.ca().cert, &certs.client()));
  auto watcher = muster::v1::Registry::NewStub(old_connection);
  grpc::ClientContext watch_context;
  muster::v1::WatchRequest watch_request;
  watch_request.set_realm("default");
  auto stream = watcher->Watch(&watch_context, watch_request);
  muster::v1::WatchResponse message;
  REQUIRE(stream->Read(&message));
  REQUIRE(message.kind() == muster::v1::WatchResponse::SNAPSHOT_END);

  // The new certificate comes from another CA: a client trusting only the
  // new CA tells the two apart.
  CertKey next = certs.MakeServer(certs.other_ca(), "next-server");
  ReplaceFile(next.key, tls.key);
  ReplaceFile(next.cert, tls.cert);
  CHECK(Eventually([&] {
    return PingNew(address, Trusting(certs.other_ca().cert, &certs.client()))
        .ok();
  }));
  CHECK_FALSE(
      PingNew(address, Trusting(certs.ca().cert, &certs.client())).ok());
  CHECK(Eventually([&] {
    return HttpsGet(http, "/healthz", certs.other_ca().cert) == 200;
  }));
  CHECK(HttpsGet(http, "/healthz", certs.ca().cert) == 0);

  // The old connection still serves calls, and its watch sees a change
  // made over a new connection.
  CHECK(Ping(old_connection).ok());
  auto writer = muster::v1::Registry::NewStub(
      NewConnection(address, Trusting(certs.other_ca().cert, &certs.client())));
  muster::v1::RegisterRequest request;
  request.mutable_instance()->set_service("web");
  request.mutable_instance()->set_id("w1");
  request.mutable_instance()->set_address("10.0.0.2");
  request.mutable_instance()->set_port(80);
  muster::v1::RegisterResponse response;
  grpc::ClientContext register_context;
  REQUIRE(writer->Register(&register_context, request, &response).ok());
  do {
    REQUIRE(stream->Read(&message));
  } while (message.kind() != muster::v1::WatchResponse::EVENTS);
  REQUIRE(message.events_size() >= 1);
  CHECK(message.events(0).instance().id() == "w1");
  watch_context.TryCancel();
}

TEST_CASE(
    "the HTTP port under mutual TLS: probes without a certificate, "
    "metrics with one",
    "[e2e][tls]") {
  TempDir dir;
  TestCerts certs(dir.path());
  TlsDaemon tls(dir, certs, /*mutual=*/true);
  REQUIRE(tls.daemon->Start());
  const std::string http = tls.daemon->http_address();

  CHECK(HttpsGet(http, "/healthz", certs.ca().cert) == 200);
  // /readyz dials the gRPC port with the server's own certificate.
  CHECK(HttpsGet(http, "/readyz", certs.ca().cert) == 200);
  CHECK(HttpsGet(http, "/metrics", certs.ca().cert) == 401);
  CHECK(HttpsGet(http, "/metrics", certs.ca().cert, &certs.client()) == 200);
  // A certificate of another CA fails the handshake itself.
  CHECK(HttpsGet(http, "/metrics", certs.ca().cert, &certs.other_client()) ==
        0);
  // Plain HTTP gets no answer.
  httplib::Client plain("http://" + http);
  plain.set_connection_timeout(3);
  plain.set_read_timeout(3);
  httplib::Result result = plain.Get("/healthz");
  CHECK((!result || result->status != 200));
}

TEST_CASE("musterctl connects with --ca, --cert and --key or MUSTER_*",
          "[e2e][tls]") {
  TempDir dir;
  TestCerts certs(dir.path());
  TlsDaemon tls(dir, certs, /*mutual=*/true);
  REQUIRE(tls.daemon->Start());
  const std::string address = tls.daemon->address();

  RunResult flags =
      Ctl(address, {"--ca", certs.ca().cert, "--cert", certs.client().cert,
                    "--key", certs.client().key, "realm", "list"});
  CHECK(flags.exit_code == 0);
  CHECK_THAT(flags.out, Catch::Contains("default"));

  RunResult env =
      Ctl(address, {"realm", "list"},
          {"MUSTER_CA=" + certs.ca().cert, "MUSTER_CERT=" + certs.client().cert,
           "MUSTER_KEY=" + certs.client().key});
  CHECK(env.exit_code == 0);

  // A flag wins over its variable.
  RunResult flag_wins =
      Ctl(address,
          {"--cert", certs.other_client().cert, "--key",
           certs.other_client().key, "realm", "list"},
          {"MUSTER_CA=" + certs.ca().cert, "MUSTER_CERT=" + certs.client().cert,
           "MUSTER_KEY=" + certs.client().key});
  CHECK(flag_wins.exit_code == 3);

  RunResult plain = Ctl(address, {"realm", "list"});
  CHECK(plain.exit_code == 3);
  CHECK_THAT(plain.err, Catch::Contains("cannot reach musterd"));

  RunResult no_cert = Ctl(address, {"--ca", certs.ca().cert, "realm", "list"});
  CHECK(no_cert.exit_code == 3);

  RunResult unreadable =
      Ctl(address, {"--ca", dir.File("missing.crt"), "realm", "list"});
  CHECK(unreadable.exit_code == 2);
  CHECK_THAT(unreadable.err, Catch::Contains("--ca: cannot read") &&
                                 Catch::Contains("missing.crt"));

  RunResult env_unreadable = Ctl(
      address, {"realm", "list"},
      {"MUSTER_CA=" + certs.ca().cert, "MUSTER_CERT=" + dir.File("nope.crt"),
       "MUSTER_KEY=" + certs.client().key});
  CHECK(env_unreadable.exit_code == 2);
  CHECK_THAT(env_unreadable.err, Catch::Contains("MUSTER_CERT: cannot read"));

  RunResult half = Ctl(address, {"--ca", certs.ca().cert, "--cert",
                                 certs.client().cert, "realm", "list"});
  CHECK(half.exit_code == 2);
  CHECK_THAT(half.err, Catch::Contains("--cert: needs --key"));
}

TEST_CASE("bad TLS flags stop musterd with exit 2 naming the flag",
          "[e2e][tls]") {
  TempDir dir;
  TestCerts certs(dir.path());
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--tls-key", certs.server().key},
       "musterd: --tls-key: needs --tls-cert"},
      {{"--tls-client-ca", certs.ca().cert},
       "musterd: --tls-client-ca: needs --tls-cert"},
      {{"--tls-cert", certs.server().cert},
       "musterd: --tls-cert: needs --tls-key"},
      {{"--tls-cert", dir.File("missing.crt"), "--tls-key", certs.server().key},
       "musterd: --tls-cert: cannot read"},
      {{"--tls-cert", certs.server().cert, "--tls-key", certs.client().key},
       "musterd: --tls-key: " + certs.client().key + " does not match"},
      {{"--tls-cert", certs.server().key, "--tls-key", certs.server().key},
       "musterd: --tls-cert: " + certs.server().key +
           " holds no PEM certificate"},
      {{"--tls-cert", certs.server().cert, "--tls-key", certs.server().key,
        "--tls-client-ca", certs.server().key},
       "musterd: --tls-client-ca: " + certs.server().key +
           " holds no PEM certificate"},
      {{"--tls-cert", certs.server().cert, "--tls-key", certs.server().key,
        "--tls-reload-interval", "500ms"},
       "musterd: --tls-reload-interval: must be whole seconds"},
  };
  int n = 0;
  for (const Case& c : cases) {
    INFO(c.message);
    const std::string log = dir.File("musterd-" + std::to_string(n++) + ".log");
    DaemonProcess daemon(MUSTERD_PATH, dir.File("data"), log, c.args);
    CHECK(daemon.RunToExit() == 2);
    CHECK_THAT(ReadFile(log), Catch::Contains(c.message));
  }
}

}  // namespace muster::testing
