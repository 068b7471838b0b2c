// The dns scenario: UDP DNS queries/s (A of a 10-instance service) on a
// musterd of its own started with --dns-listen, beside gRPC
// ListInstances (routable only) of the same service on the same daemon in
// the same run; the ratio is DNS over gRPC at the same in-flight.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "testkit/daemon_process.h"

namespace muster::bench {
namespace {

// `in_flight` queries outstanding on one UDP socket for `seconds`; each
// answer must be NOERROR with `want` records and no TC.
LoadResult RunDnsLoop(int port, int in_flight, double seconds, int want) {
  LoadResult result;
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    result.errors = 1;
    result.first_error = "socket";
    return result;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  std::vector<uint8_t> query = {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  for (const char* label : {"target", "dns", "muster"}) {
    query.push_back(static_cast<uint8_t>(std::strlen(label)));
    query.insert(query.end(), label, label + std::strlen(label));
  }
  query.insert(query.end(), {0, 0, 1, 0, 1});
  using Clock = std::chrono::steady_clock;
  std::vector<Clock::time_point> sent(65536);
  uint16_t next_id = 0;
  auto send_one = [&] {
    query[0] = static_cast<uint8_t>(next_id >> 8);
    query[1] = static_cast<uint8_t>(next_id & 0xff);
    sent[next_id] = Clock::now();
    ++next_id;
    send(fd, query.data(), query.size(), 0);
  };
  const Clock::time_point start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  int outstanding = 0;
  for (; outstanding < in_flight; ++outstanding) send_one();
  uint8_t reply[1500];
  while (outstanding > 0) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) {
      // Lost: count every outstanding query as an error.
      result.errors += static_cast<uint64_t>(outstanding);
      if (result.first_error.empty()) result.first_error = "no answer in 1 s";
      break;
    }
    const ssize_t n = recv(fd, reply, sizeof(reply), 0);
    if (n < 12) continue;
    --outstanding;
    const uint16_t id = static_cast<uint16_t>(reply[0] << 8 | reply[1]);
    const int answers = reply[6] << 8 | reply[7];
    const bool ok =
        (reply[3] & 0x0f) == 0 && (reply[2] & 0x02) == 0 && answers == want;
    if (ok) {
      ++result.ok;
      result.latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - sent[id])
              .count());
    } else {
      ++result.errors;
      if (result.first_error.empty()) {
        result.first_error = "answer with " + std::to_string(answers) +
                             " records, flags " + std::to_string(reply[2]) +
                             "/" + std::to_string(reply[3]);
      }
    }
    if (Clock::now() < end) {
      send_one();
      ++outstanding;
    }
  }
  result.wall_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  return result;
}

}  // namespace

void Bench::Dns() {
  const int dns_port = testing::FreePort();
  Daemon daemon(config_.musterd,
                {"--dns-listen", "127.0.0.1:" + std::to_string(dns_port),
                 "--dns-rate", "0", "--auto-create-realms"},
                nullptr);
  if (!daemon.Start()) {
    Fail("dns: cannot start musterd with --dns-listen");
    return;
  }
  auto channel = grpc::CreateChannel(daemon.grpc_address(),
                                     grpc::InsecureChannelCredentials());
  auto registry = v1::Registry::NewStub(channel);
  for (int i = 0; i < 10; ++i) {
    v1::RegisterRequest req;
    FillInstance("dns", "target", "t-" + std::to_string(i), &req);
    req.mutable_instance()->set_address("127.0.0." + std::to_string(i + 1));
    v1::RegisterResponse resp;
    grpc::ClientContext ctx;
    const grpc::Status s = registry->Register(&ctx, req, &resp);
    if (!s.ok()) {
      Fail("dns: register: " + s.error_message());
      return;
    }
  }
  for (int inflight : {1, 4}) {
    // gRPC first, then DNS, back to back on the same daemon.
    uint64_t wrong_size = 0;
    DaemonStats before = daemon.Stats();
    LoadResult grpc_result =
        RunClosedLoop<v1::ListInstancesRequest, v1::ListInstancesResponse>(
            inflight, config_.duration, 0,
            [&](uint64_t, v1::ListInstancesRequest* req) {
              req->set_realm("dns");
              req->set_service("target");
              req->set_routable_only(true);
            },
            [&registry](grpc::ClientContext* ctx,
                        const v1::ListInstancesRequest& req,
                        grpc::CompletionQueue* cq) {
              return registry->AsyncListInstances(ctx, req, cq);
            },
            [&](uint64_t, const v1::ListInstancesResponse& resp) {
              if (resp.instances_size() != 10) ++wrong_size;
            });
    Row& grpc_row = AddRow("dns-grpc-lookup", inflight, grpc_result, before,
                           daemon.Stats());
    grpc_row.ratio = 0;
    grpc_row.notes = "ListInstances of the 10 DNS instances (reference)";
    const double grpc_rate = grpc_row.ops_per_second;
    if (wrong_size > 0) Fail("dns: ListInstances without 10 instances");
    before = daemon.Stats();
    LoadResult dns_result =
        RunDnsLoop(dns_port, inflight, config_.duration, 10);
    Row& row =
        AddRow("dns", inflight, dns_result, before, daemon.Stats(), grpc_rate);
    row.notes = "UDP A query, 10 records; ratio to gRPC ListInstances";
  }
  daemon.Stop();
}

}  // namespace muster::bench
