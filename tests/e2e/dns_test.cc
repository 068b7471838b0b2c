// musterd's DNS front end (--dns-listen) against Debian's dig and gRPC's
// own dns:/// resolver: real musterd, real UDP and TCP on 127.0.0.1.

#include <arpa/inet.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(seconds));
  return context;
}

struct DnsDaemon {
  TempDir dir;
  int dns_port = FreePort();
  std::unique_ptr<DaemonProcess> process;
  std::unique_ptr<muster::v1::Registry::Stub> stub;

  explicit DnsDaemon(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--dns-listen",
                                     "127.0.0.1:" + std::to_string(dns_port)};
    args.insert(args.end(), extra.begin(), extra.end());
    process = std::make_unique<DaemonProcess>(
        MUSTERD_PATH, dir.path() + "/data", dir.path() + "/musterd.log", args);
    REQUIRE(process->Start());
    stub = muster::v1::Registry::NewStub(process->channel());
  }

  void Register(const std::string& service, const std::string& id,
                const std::string& address, uint32_t port,
                uint32_t weight = 0) {
    muster::v1::RegisterRequest request;
    muster::v1::Instance* instance = request.mutable_instance();
    instance->set_service(service);
    instance->set_id(id);
    instance->set_address(address);
    instance->set_port(port);
    instance->set_weight(weight);
    instance->mutable_check()->set_kind(muster::v1::CHECK_KIND_NONE);
    Send(request);
  }

  void Send(const muster::v1::RegisterRequest& request) {
    muster::v1::RegisterResponse response;
    const grpc::Status status =
        stub->Register(Context().get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }

  muster::v1::Health HealthOf(const std::string& service,
                              const std::string& id) {
    muster::v1::GetInstanceRequest request;
    request.set_realm("default");
    request.set_service(service);
    request.set_id(id);
    muster::v1::Instance instance;
    REQUIRE(stub->GetInstance(Context().get(), request, &instance).ok());
    return instance.health();
  }
};

// One dig run: its whole output, parsed.
struct Dig {
  std::string output;
  std::string status;
  std::set<std::string> flags;
  // The answer section's records: "ttl type rdata".
  std::vector<std::string> answers;
  std::vector<std::string> additional;
  bool has_opt = false;
};

Dig RunDig(int port, const std::string& name, const std::string& type,
           const std::string& extra = "") {
  const std::string command = "dig @127.0.0.1 -p " + std::to_string(port) +
                              " " + name + " " + type +
                              " +tries=1 +time=3 +ignore " + extra + " 2>&1";
  Dig dig;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = fread(chunk.data(), 1, chunk.size(), pipe)) > 0)
    dig.output.append(chunk.data(), n);
  pclose(pipe);
  std::smatch match;
  if (std::regex_search(dig.output, match, std::regex("status: ([A-Z]+)")))
    dig.status = match[1];
  if (std::regex_search(dig.output, match,
                        std::regex(";; flags: ([a-z ]+);"))) {
    std::string flags = match[1];
    std::regex word("[a-z]+");
    for (auto it = std::sregex_iterator(flags.begin(), flags.end(), word);
         it != std::sregex_iterator(); ++it)
      dig.flags.insert(it->str());
  }
  dig.has_opt = dig.output.find("OPT PSEUDOSECTION") != std::string::npos;
  std::vector<std::string>* section = nullptr;
  size_t start = 0;
  while (start < dig.output.size()) {
    size_t end = dig.output.find('\n', start);
    if (end == std::string::npos) end = dig.output.size();
    const std::string line = dig.output.substr(start, end - start);
    start = end + 1;
    if (line == ";; ANSWER SECTION:") {
      section = &dig.answers;
    } else if (line == ";; ADDITIONAL SECTION:") {
      section = &dig.additional;
    } else if (line.empty() || line[0] == ';') {
      section = nullptr;
    } else if (section != nullptr) {
      // owner ttl class type rdata...
      std::istringstream in(line);
      std::string owner, ttl, klass, rtype, rest, word;
      in >> owner >> ttl >> klass >> rtype;
      while (in >> word) rest += (rest.empty() ? "" : " ") + word;
      section->push_back(section == &dig.additional
                             ? owner + " " + rtype + " " + rest
                             : ttl + " " + rtype + " " + rest);
    }
  }
  return dig;
}

std::set<std::string> Set(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

template <typename Predicate>
bool Eventually(Predicate predicate, int seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

}  // namespace

TEST_CASE("DNS answers A, AAAA and SRV with the routable instances only",
          "[e2e][dns]") {
  DnsDaemon daemon;
  daemon.Register("web", "w1", "127.0.0.1", 8080);
  daemon.Register("web", "w2", "127.0.0.2", 8081, 3);
  daemon.Register("web", "w6", "::1", 8086);
  daemon.Register("web", "w4", "127.0.0.4", 8084);
  // Drained: left out.
  muster::v1::SetAdminStateRequest drain;
  drain.set_realm("default");
  drain.set_service("web");
  drain.set_id("w4");
  drain.set_admin_state(muster::v1::ADMIN_STATE_DRAINING);
  muster::v1::Instance drained;
  REQUIRE(daemon.stub->SetAdminState(Context().get(), drain, &drained).ok());
  // Critical (an HTTP check against a closed port): left out.
  muster::v1::RegisterRequest critical;
  muster::v1::Instance* instance = critical.mutable_instance();
  instance->set_service("web");
  instance->set_id("w5");
  instance->set_address("127.0.0.5");
  instance->set_port(8085);
  muster::v1::CheckSpec* check = instance->mutable_check();
  check->set_kind(muster::v1::CHECK_KIND_HTTP);
  check->set_http_url("http://127.0.0.1:" + std::to_string(FreePort()) + "/");
  check->mutable_interval()->set_seconds(1);
  check->mutable_timeout()->set_nanos(500000000);
  check->set_unhealthy_threshold(1);
  check->mutable_deregister_after()->set_seconds(600);
  daemon.Send(critical);
  REQUIRE(Eventually(
      [&] {
        return daemon.HealthOf("web", "w5") == muster::v1::HEALTH_CRITICAL;
      },
      20));
  REQUIRE(daemon.HealthOf("web", "w1") == muster::v1::HEALTH_PASSING);
  daemon.Register("api", "a1", "127.0.0.9", 9000);

  const Dig a = RunDig(daemon.dns_port, "web.default.muster", "A");
  INFO(a.output);
  CHECK(a.status == "NOERROR");
  CHECK(a.flags.count("aa") == 1);
  CHECK(Set(a.answers) ==
        std::set<std::string>{"0 A 127.0.0.1", "0 A 127.0.0.2"});
  CHECK(a.has_opt);

  const Dig aaaa = RunDig(daemon.dns_port, "web.default.muster", "AAAA");
  CHECK(Set(aaaa.answers) == std::set<std::string>{"0 AAAA ::1"});

  for (const char* name : {"web.default.muster", "_web._tcp.default.muster"}) {
    const Dig srv = RunDig(daemon.dns_port, name, "SRV");
    INFO(srv.output);
    CHECK(Set(srv.answers) ==
          std::set<std::string>{"0 SRV 1 1 8080 w1.web.default.muster.",
                                "0 SRV 1 3 8081 w2.web.default.muster.",
                                "0 SRV 1 1 8086 w6.web.default.muster."});
    CHECK(Set(srv.additional) ==
          std::set<std::string>{"w1.web.default.muster. A 127.0.0.1",
                                "w2.web.default.muster. A 127.0.0.2",
                                "w6.web.default.muster. AAAA ::1"});
  }
  // The glue names answer on their own.
  CHECK(RunDig(daemon.dns_port, "w2.web.default.muster", "A").answers ==
        std::vector<std::string>{"0 A 127.0.0.2"});

  // NXDOMAIN: no such service, realm or instance; NODATA: the name
  // exists without a record of the type.
  const Dig missing = RunDig(daemon.dns_port, "nope.default.muster", "A");
  CHECK(missing.status == "NXDOMAIN");
  CHECK(RunDig(daemon.dns_port, "web.nope.muster", "A").status == "NXDOMAIN");
  CHECK(RunDig(daemon.dns_port, "w4.web.default.muster", "A").status ==
        "NXDOMAIN");
  const Dig nodata = RunDig(daemon.dns_port, "api.default.muster", "AAAA");
  CHECK(nodata.status == "NOERROR");
  CHECK(nodata.answers.empty());
  CHECK(nodata.output.find("SOA") != std::string::npos);
  // Other zones are refused; TCP answers the same.
  CHECK(RunDig(daemon.dns_port, "example.com", "A").status == "REFUSED");
  const Dig tcp = RunDig(daemon.dns_port, "web.default.muster", "A", "+tcp");
  CHECK(Set(tcp.answers) == Set(a.answers));
  // Without EDNS there is no OPT record.
  CHECK_FALSE(
      RunDig(daemon.dns_port, "web.default.muster", "A", "+noedns").has_opt);

  // A deregistration shows at once (TTL 0, no cache).
  muster::v1::DeregisterRequest gone;
  gone.set_service("web");
  gone.set_id("w1");
  muster::v1::DeregisterResponse gone_response;
  REQUIRE(daemon.stub->Deregister(Context().get(), gone, &gone_response).ok());
  CHECK(Set(RunDig(daemon.dns_port, "web.default.muster", "A").answers) ==
        std::set<std::string>{"0 A 127.0.0.2"});
}

TEST_CASE("the dns-ttl flag sets the TTL of DNS answers", "[e2e][dns]") {
  DnsDaemon daemon({"--dns-ttl", "30s"});
  daemon.Register("web", "w1", "127.0.0.1", 8080);
  const Dig a = RunDig(daemon.dns_port, "web.default.muster", "A");
  INFO(a.output);
  CHECK(a.answers == std::vector<std::string>{"30 A 127.0.0.1"});
}

TEST_CASE("a large DNS answer is truncated over UDP and whole over TCP",
          "[e2e][dns]") {
  DnsDaemon daemon;
  for (int i = 0; i < 60; ++i) {
    daemon.Register("big", "i" + std::to_string(i),
                    "127.0.1." + std::to_string(i + 1), 9000);
  }
  const Dig plain =
      RunDig(daemon.dns_port, "big.default.muster", "A", "+noedns");
  INFO(plain.output);
  CHECK(plain.flags.count("tc") == 1);
  CHECK(plain.answers.empty());
  const Dig tcp = RunDig(daemon.dns_port, "big.default.muster", "A", "+tcp");
  CHECK(tcp.flags.count("tc") == 0);
  CHECK(tcp.answers.size() == 60);
  const Dig large =
      RunDig(daemon.dns_port, "big.default.muster", "A", "+bufsize=4096");
  CHECK(large.flags.count("tc") == 0);
  CHECK(large.answers.size() == 60);
  // dig's own retry over TCP after TC (no +ignore) gets them all.
  const std::string command =
      "dig @127.0.0.1 -p " + std::to_string(daemon.dns_port) +
      " big.default.muster SRV +noedns +tries=1 +time=3 +short";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  int lines = 0;
  for (int c; (c = fgetc(pipe)) != EOF;) lines += c == '\n' ? 1 : 0;
  pclose(pipe);
  CHECK(lines == 60);
}

TEST_CASE("UDP DNS queries beyond the per-source rate are dropped",
          "[e2e][dns]") {
  DnsDaemon daemon({"--dns-rate", "5"});
  daemon.Register("web", "w1", "127.0.0.1", 8080);
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(daemon.dns_port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // web.default.muster A, id = i.
  std::vector<uint8_t> query = {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  for (const char* label : {"web", "default", "muster"}) {
    query.push_back(static_cast<uint8_t>(std::strlen(label)));
    query.insert(query.end(), label, label + std::strlen(label));
  }
  query.insert(query.end(), {0, 0, 1, 0, 1});
  constexpr int kSent = 100;
  for (int i = 0; i < kSent; ++i) {
    query[1] = static_cast<uint8_t>(i);
    REQUIRE(sendto(fd, query.data(), query.size(), 0,
                   reinterpret_cast<sockaddr*>(&to), sizeof(to)) > 0);
  }
  int answered = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) break;
    uint8_t reply[512];
    if (recv(fd, reply, sizeof(reply), 0) > 0) ++answered;
  }
  close(fd);
  // A burst of 10 (twice the rate) and a few refilled; far from 100.
  CHECK(answered >= 5);
  CHECK(answered <= 30);
  httplib::Client http("127.0.0.1", daemon.process->http_port());
  auto metrics = http.Get("/metrics");
  REQUIRE(metrics);
  std::smatch match;
  REQUIRE(std::regex_search(
      metrics->body, match,
      std::regex("\nmuster_dns_rate_limited_total ([0-9]+)")));
  CHECK(std::stoi(match[1]) == kSent - answered);
  CHECK(metrics->body.find("muster_dns_queries_total{") != std::string::npos);
}

TEST_CASE("gRPC's dns resolver round-robins over musterd's A records",
          "[e2e][dns]") {
  // Two real gRPC servers (the standard health service) on one port of
  // 127.0.0.2 and 127.0.0.3: A records carry no port.
  grpc::EnableDefaultHealthCheckService(true);
  const int port = FreePort();
  std::vector<std::unique_ptr<grpc::Server>> servers;
  // Each serves the health service through the callback API.
  std::vector<std::unique_ptr<grpc::CallbackGenericService>> generics;
  for (const char* host : {"127.0.0.2", "127.0.0.3"}) {
    grpc::ServerBuilder builder;
    generics.push_back(std::make_unique<grpc::CallbackGenericService>());
    builder.RegisterCallbackGenericService(generics.back().get());
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    int bound = 0;
    builder.AddListeningPort(std::string(host) + ":" + std::to_string(port),
                             grpc::InsecureServerCredentials(), &bound);
    servers.push_back(builder.BuildAndStart());
    REQUIRE(servers.back() != nullptr);
    REQUIRE(bound == port);
  }
  DnsDaemon daemon;
  daemon.Register("web", "a", "127.0.0.2", static_cast<uint32_t>(port));
  daemon.Register("web", "b", "127.0.0.3", static_cast<uint32_t>(port));

  grpc::ChannelArguments arguments;
  arguments.SetLoadBalancingPolicyName("round_robin");
  const std::string target =
      "dns://127.0.0.1:" + std::to_string(daemon.dns_port) +
      "/web.default.muster:" + std::to_string(port);
  auto channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), arguments);
  grpc::GenericStub stub(channel);
  // One Health/Check; the address of the server that answered.
  auto call = [&stub]() -> std::string {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    context.set_wait_for_ready(true);
    grpc::Slice empty(std::string{});  // an empty HealthCheckRequest
    grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check",
                   grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status s) { done.set_value(s); });
    const grpc::Status status = done.get_future().get();
    INFO(status.error_message());
    REQUIRE(status.ok());
    const std::string peer = context.peer();
    return peer.substr(0, peer.rfind(':'));
  };
  // round_robin sends every call to the first server it has connected to
  // until the second is connected too: wait for both to be in rotation.
  std::set<std::string> seen;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    seen.insert(call());
  }
  REQUIRE(seen.size() == 2);
  std::map<std::string, int> peers;
  for (int i = 0; i < 20; ++i) peers[call()]++;
  CHECK(peers.size() == 2);
  // Round robin over both.
  CHECK(peers["ipv4:127.0.0.2"] >= 5);
  CHECK(peers["ipv4:127.0.0.3"] >= 5);
  for (auto& server : servers) server->Shutdown();
}

}  // namespace muster::testing
