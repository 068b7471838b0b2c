// The secure scenario: what TLS and access tokens cost. The same lookup
// and register calls, 64 in flight on one connection, against two daemons
// of the scenario's own, started alike: one plaintext without auth, one
// with TLS and --auth, where every call carries a bearer token. Rounds
// alternate between the two, so that a drift of the machine's speed falls
// on both sides; each side's rate is the sum of its rounds. The TLS
// handshake happens once per connection, before anything is measured.

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "bench/bench.h"
#include "testkit/test_certs.h"

namespace muster::bench {
namespace {

constexpr int kInFlight = 64;
constexpr int kRounds = 2;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One of the two daemons and how to call it.
struct Side {
  std::string name;
  std::unique_ptr<Daemon> daemon;
  std::unique_ptr<v1::Registry::Stub> registry;
  // "Bearer <secret>", or empty: no token.
  std::string authorization;
  // Summed over the rounds, per work: the calls and the daemon's CPU.
  std::map<std::string, LoadResult> totals;
  std::map<std::string, double> cpu_seconds;

  void Authorize(grpc::ClientContext* ctx) const {
    if (!authorization.empty())
      ctx->AddMetadata("authorization", authorization);
  }
};

}  // namespace

void Bench::Secure() {
  char dir_template[] = "/tmp/muster-bench-certs-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    Fail("secure: mkdtemp failed");
    return;
  }
  const std::string cert_dir = dir_template;
  testing::TestCerts certs(cert_dir);
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(certs.ca().cert);
  const auto credentials = grpc::SslCredentials(tls);

  Side plain;
  plain.name = "plaintext, no auth";
  plain.daemon = std::make_unique<Daemon>(config_.musterd);
  Side secure;
  secure.name = "TLS + token";
  // The per-token rate limit stays on, set where one client never meets
  // it, so that its cost is measured too.
  secure.daemon = std::make_unique<Daemon>(
      config_.musterd,
      std::vector<std::string>{"--tls-cert", certs.server().cert, "--tls-key",
                               certs.server().key, "--auth", "--token-rate",
                               "10000000", "--token-burst", "100000000"},
      credentials);
  for (Side* side : {&plain, &secure}) {
    if (!side->daemon->Start()) {
      Fail("secure: musterd (" + side->name + ") did not start");
      std::filesystem::remove_all(cert_dir);
      return;
    }
  }
  const std::string secret =
      ReadFile(secure.daemon->dir() + "/data/bootstrap-token");
  secure.authorization =
      "Bearer " + secret.substr(0, secret.find_last_not_of("\r\n") + 1);
  auto plain_channel = grpc::CreateChannel(plain.daemon->grpc_address(),
                                           grpc::InsecureChannelCredentials());
  auto secure_channel =
      grpc::CreateChannel(secure.daemon->grpc_address(), credentials);
  plain.registry = v1::Registry::NewStub(plain_channel);
  secure.registry = v1::Registry::NewStub(secure_channel);

  const std::string realm = "default";
  const int n = config_.quick ? 1000 : 10000;
  for (Side* side : {&plain, &secure}) {
    LoadResult loaded =
        RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
            256, 0, n + 10,
            [&](uint64_t i, v1::RegisterRequest* req) {
              if (i < 10) {
                FillInstance(realm, "target", "t-" + std::to_string(i), req);
              } else {
                FillInstance(realm, "svc-" + std::to_string(i / 100),
                             "i-" + std::to_string(i), req);
              }
            },
            [side](grpc::ClientContext* ctx, const v1::RegisterRequest& req,
                   grpc::CompletionQueue* cq) {
              side->Authorize(ctx);
              return side->registry->AsyncRegister(ctx, req, cq);
            });
    CheckErrors("secure: preload (" + side->name + ")", loaded);
  }

  for (int round = 0; round < kRounds; ++round) {
    for (Side* side : {&plain, &secure}) {
      uint64_t wrong_size = 0;
      DaemonStats before = side->daemon->Stats();
      LoadResult lookup =
          RunClosedLoop<v1::ListInstancesRequest, v1::ListInstancesResponse>(
              kInFlight, config_.duration / kRounds, 0,
              [&](uint64_t, v1::ListInstancesRequest* req) {
                req->set_realm(realm);
                req->set_service("target");
                req->set_routable_only(true);
              },
              [side](grpc::ClientContext* ctx,
                     const v1::ListInstancesRequest& req,
                     grpc::CompletionQueue* cq) {
                side->Authorize(ctx);
                return side->registry->AsyncListInstances(ctx, req, cq);
              },
              [&](uint64_t, const v1::ListInstancesResponse& resp) {
                if (resp.instances_size() != 10) ++wrong_size;
              });
      if (wrong_size > 0) {
        Fail("secure: lookup (" + side->name + "): " +
             std::to_string(wrong_size) + " answers without 10 instances");
      }
      Accumulate(lookup, &side->totals["lookup"]);
      DaemonStats after = side->daemon->Stats();
      side->cpu_seconds["lookup"] += after.cpu_seconds - before.cpu_seconds;
      before = after;
      const std::string prefix = "r" + std::to_string(round) + "-";
      LoadResult registered =
          RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
              kInFlight, config_.duration / kRounds, 0,
              [&](uint64_t i, v1::RegisterRequest* req) {
                FillInstance(realm, "reg-" + std::to_string(i % 100),
                             prefix + std::to_string(i), req);
              },
              [side](grpc::ClientContext* ctx, const v1::RegisterRequest& req,
                     grpc::CompletionQueue* cq) {
                side->Authorize(ctx);
                return side->registry->AsyncRegister(ctx, req, cq);
              });
      Accumulate(registered, &side->totals["register"]);
      side->cpu_seconds["register"] +=
          side->daemon->Stats().cpu_seconds - before.cpu_seconds;
    }
  }

  for (const std::string work : {"lookup", "register"}) {
    double plain_rate = 0;
    for (Side* side : {&plain, &secure}) {
      const LoadResult& total = side->totals[work];
      CheckErrors("secure: " + work + " (" + side->name + ")", total);
      Row row;
      row.scenario = "secure-" + work;
      row.in_flight = kInFlight;
      row.ops_per_second = total.ok / std::max(total.wall_seconds, 1e-9);
      FillLatencies(total.latencies_ms, &row);
      row.cpu_share =
          side->cpu_seconds[work] / std::max(MeasuredSeconds(total), 1e-9);
      FillNoise(total, &row);
      row.peak_rss_mib = side->daemon->Stats().peak_rss_mib;
      row.notes = side->name + ", one connection";
      if (side == &plain) {
        plain_rate = row.ops_per_second;
      } else if (plain_rate > 0) {
        const double ratio = row.ops_per_second / plain_rate;
        row.notes += ", " + Fixed(ratio, 2) + "x plaintext";
        row.extra.emplace_back("ratio_to_plaintext", ratio);
      }
      rows_.push_back(std::move(row));
    }
  }
  for (Side* side : {&plain, &secure}) side->daemon->Stop();
  std::filesystem::remove_all(cert_dir);
}

}  // namespace muster::bench
