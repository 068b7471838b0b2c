// The etcd client (store/etcd/etcd_client.h) against real etcd members
// (testkit/etcd_cluster.h): one member for the calls, three for the
// failover cases.

#include "store/etcd/etcd_client.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "testkit/child_process.h"
#include "testkit/etcd_cluster.h"
#include "testkit/test_certs.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::etcd {
namespace {

using muster::testing::EtcdCluster;
using muster::testing::Eventually;
using muster::testing::TempDir;

constexpr absl::Duration kCallTimeout = absl::Seconds(1);

// A cluster in its own temporary directory.
struct TestCluster {
  explicit TestCluster(int members,
                       muster::testing::EtcdClusterOptions options = {}) {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> started =
        EtcdCluster::Start(members, dir.path(), std::move(options));
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    cluster = *std::move(started);
  }
  TempDir dir;
  std::unique_ptr<EtcdCluster> cluster;
};

std::unique_ptr<EtcdClient> NewClient(std::vector<std::string> endpoints,
                                      std::string username = "",
                                      std::string password = "") {
  EtcdClientOptions options;
  options.endpoints = std::move(endpoints);
  options.username = std::move(username);
  options.password = std::move(password);
  options.call_timeout = kCallTimeout;
  absl::StatusOr<std::unique_ptr<EtcdClient>> client =
      EtcdClient::Create(std::move(options));
  INFO(client.status().ToString());
  REQUIRE(client.ok());
  return *std::move(client);
}

etcdserverpb::TxnRequest PutTxn(const std::string& key,
                                const std::string& value, int64_t lease = 0) {
  etcdserverpb::TxnRequest txn;
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
  return txn;
}

// Puts unconditionally; the revision of the put.
int64_t Put(EtcdClient& client, const std::string& key,
            const std::string& value, int64_t lease = 0) {
  absl::StatusOr<etcdserverpb::TxnResponse> response =
      client.Txn(PutTxn(key, value, lease));
  INFO(response.status().ToString());
  REQUIRE(response.ok());
  REQUIRE(response->succeeded());
  return response->header().revision();
}

etcdserverpb::RangeRequest Get(const std::string& key, int64_t revision = 0) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  request.set_revision(revision);
  return request;
}

// The one value of `key` now; nullopt when absent.
std::optional<std::string> ValueOf(EtcdClient& client, const std::string& key) {
  absl::StatusOr<etcdserverpb::RangeResponse> response = client.Range(Get(key));
  INFO(response.status().ToString());
  REQUIRE(response.ok());
  if (response->kvs_size() == 0) return std::nullopt;
  return response->kvs(0).value();
}

// The next response of `watch` within 10 s.
etcdserverpb::WatchResponse NextResponse(EtcdWatchStream& watch) {
  absl::StatusOr<std::optional<etcdserverpb::WatchResponse>> next =
      watch.Next(absl::Seconds(10));
  INFO(next.status().ToString());
  REQUIRE(next.ok());
  REQUIRE(next->has_value());
  return **next;
}

// The index, in `cluster`, of a member that is not the leader.
int AFollower(EtcdCluster& cluster) {
  absl::StatusOr<int> leader = cluster.WaitForLeader(absl::Seconds(10));
  REQUIRE(leader.ok());
  return (*leader + 1) % cluster.size();
}

// The cluster's endpoints with member `first` first.
std::vector<std::string> EndpointsFrom(EtcdCluster& cluster, int first) {
  std::vector<std::string> endpoints;
  for (int i = 0; i < cluster.size(); ++i) {
    endpoints.push_back(cluster.endpoint((first + i) % cluster.size()));
  }
  return endpoints;
}

TEST_CASE(
    "etcd Txn runs its success branch when the compare holds and "
    "reports a failed compare with the revision",
    "[etcd]") {
  TestCluster test(1);
  std::unique_ptr<EtcdClient> client = NewClient(test.cluster->endpoints());

  // Create-if-absent: version == 0.
  etcdserverpb::TxnRequest create = PutTxn("/txn/key", "first");
  etcdserverpb::Compare* absent = create.add_compare();
  absent->set_key("/txn/key");
  absent->set_target(etcdserverpb::Compare::VERSION);
  absent->set_result(etcdserverpb::Compare::EQUAL);
  absent->set_version(0);
  create.add_failure()->mutable_request_range()->set_key("/txn/key");

  absl::StatusOr<etcdserverpb::TxnResponse> created = client->Txn(create);
  REQUIRE(created.ok());
  CHECK(created->succeeded());
  const int64_t revision = created->header().revision();
  CHECK(revision > 1);

  etcdserverpb::TxnRequest again = create;
  again.mutable_success(0)->mutable_request_put()->set_value("second");
  absl::StatusOr<etcdserverpb::TxnResponse> refused = client->Txn(again);
  REQUIRE(refused.ok());
  CHECK_FALSE(refused->succeeded());
  CHECK(refused->header().revision() == revision);
  // The failure branch ran: the range shows the first value.
  REQUIRE(refused->responses_size() == 1);
  REQUIRE(refused->responses(0).response_range().kvs_size() == 1);
  CHECK(refused->responses(0).response_range().kvs(0).value() == "first");
  CHECK(ValueOf(*client, "/txn/key") == "first");
}

TEST_CASE("etcd Range at a past revision returns the value of then", "[etcd]") {
  TestCluster test(1);
  std::unique_ptr<EtcdClient> client = NewClient(test.cluster->endpoints());
  const int64_t first = Put(*client, "/range/key", "v1");
  Put(*client, "/range/key", "v2");

  absl::StatusOr<etcdserverpb::RangeResponse> past =
      client->Range(Get("/range/key", first));
  REQUIRE(past.ok());
  REQUIRE(past->kvs_size() == 1);
  CHECK(past->kvs(0).value() == "v1");
  CHECK(past->kvs(0).mod_revision() == first);
  CHECK(ValueOf(*client, "/range/key") == "v2");

  // A revision not yet written is refused, not answered empty.
  absl::StatusOr<etcdserverpb::RangeResponse> future =
      client->Range(Get("/range/key", first + 100));
  CHECK(future.status().code() == absl::StatusCode::kOutOfRange);
}

TEST_CASE(
    "etcd Watch from a past revision replays history in order, then "
    "live events, and answers a progress request",
    "[etcd]") {
  TestCluster test(1);
  std::unique_ptr<EtcdClient> client = NewClient(test.cluster->endpoints());
  const int64_t start = Put(*client, "/watch/a", "1");
  Put(*client, "/watch/b", "2");
  Put(*client, "/watch/a", "3");
  Put(*client, "/other", "not watched");

  etcdserverpb::WatchCreateRequest create;
  create.set_key("/watch/");
  create.set_range_end("/watch0");  // the prefix "/watch/"
  create.set_start_revision(start);
  std::unique_ptr<EtcdWatchStream> watch = client->Watch(create);

  const etcdserverpb::WatchResponse created = NextResponse(*watch);
  CHECK(created.created());

  std::vector<std::pair<std::string, std::string>> seen;
  std::vector<int64_t> revisions;
  while (seen.size() < 3) {
    const etcdserverpb::WatchResponse response = NextResponse(*watch);
    REQUIRE_FALSE(response.canceled());
    for (const mvccpb::Event& event : response.events()) {
      seen.emplace_back(event.kv().key(), event.kv().value());
      revisions.push_back(event.kv().mod_revision());
    }
  }
  CHECK(seen == std::vector<std::pair<std::string, std::string>>{
                    {"/watch/a", "1"}, {"/watch/b", "2"}, {"/watch/a", "3"}});
  CHECK(revisions[0] == start);
  CHECK(revisions[0] < revisions[1]);
  CHECK(revisions[1] < revisions[2]);

  // Live.
  const int64_t live = Put(*client, "/watch/c", "4");
  const etcdserverpb::WatchResponse event = NextResponse(*watch);
  REQUIRE(event.events_size() == 1);
  CHECK(event.events(0).kv().key() == "/watch/c");
  CHECK(event.events(0).kv().mod_revision() == live);

  // Nothing more is pending: Next times out.
  absl::StatusOr<std::optional<etcdserverpb::WatchResponse>> quiet =
      watch->Next(absl::Milliseconds(200));
  REQUIRE(quiet.ok());
  CHECK_FALSE(quiet->has_value());

  REQUIRE(watch->RequestProgress());
  const etcdserverpb::WatchResponse progress = NextResponse(*watch);
  CHECK(progress.events_size() == 0);
  CHECK_FALSE(progress.canceled());
  CHECK(progress.header().revision() >= live);

  watch->Close();
  CHECK(watch->Next(absl::Seconds(1)).status().code() ==
        absl::StatusCode::kCancelled);
  CHECK_FALSE(watch->RequestProgress());
  watch->Close();  // idempotent
}

TEST_CASE(
    "etcd Watch from a compacted revision comes back canceled with "
    "the compact revision, and compacting twice is OK",
    "[etcd]") {
  TestCluster test(1);
  std::unique_ptr<EtcdClient> client = NewClient(test.cluster->endpoints());
  const int64_t old = Put(*client, "/compact/key", "1");
  Put(*client, "/compact/key", "2");
  const int64_t compacted = Put(*client, "/compact/key", "3");

  REQUIRE(client->Compact(compacted).ok());
  CHECK(client->Compact(compacted).ok());
  CHECK(client->Compact(old).ok());
  // A future revision is an error, not swallowed.
  CHECK(client->Compact(compacted + 100).code() ==
        absl::StatusCode::kOutOfRange);

  etcdserverpb::WatchCreateRequest create;
  create.set_key("/compact/key");
  create.set_start_revision(old);
  std::unique_ptr<EtcdWatchStream> watch = client->Watch(create);
  etcdserverpb::WatchResponse response = NextResponse(*watch);
  if (response.created() && !response.canceled()) {
    response = NextResponse(*watch);
  }
  CHECK(response.canceled());
  CHECK(response.compact_revision() == compacted);
  CHECK(response.events_size() == 0);
  // The stream ends after the cancel.
  absl::StatusOr<std::optional<etcdserverpb::WatchResponse>> end =
      watch->Next(absl::Seconds(5));
  CHECK(end.status().code() == absl::StatusCode::kCancelled);
}

TEST_CASE(
    "etcd lease expires and keep-alive then reports it gone, while a "
    "kept-alive lease survives",
    "[etcd]") {
  TestCluster test(1);
  std::unique_ptr<EtcdClient> client = NewClient(test.cluster->endpoints());
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> expiring =
      client->LeaseGrant(2);
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> kept = client->LeaseGrant(2);
  REQUIRE(expiring.ok());
  REQUIRE(kept.ok());
  REQUIRE(expiring->id() != kept->id());
  Put(*client, "/lease/expiring", "x", expiring->id());
  Put(*client, "/lease/kept", "y", kept->id());

  // Keep one lease alive while waiting for the other's key to go.
  int64_t kept_ttl = 0;
  CHECK(Eventually(
      [&] {
        absl::StatusOr<int64_t> ttl = client->LeaseKeepAliveOnce(kept->id());
        kept_ttl = ttl.value_or(-1);
        return !ValueOf(*client, "/lease/expiring").has_value();
      },
      std::chrono::seconds(15), std::chrono::milliseconds(300)));
  CHECK(kept_ttl > 0);

  absl::StatusOr<int64_t> gone = client->LeaseKeepAliveOnce(expiring->id());
  REQUIRE(gone.ok());
  CHECK(*gone <= 0);
  absl::StatusOr<int64_t> alive = client->LeaseKeepAliveOnce(kept->id());
  REQUIRE(alive.ok());
  CHECK(*alive > 0);
  CHECK(ValueOf(*client, "/lease/kept") == "y");

  // A revoked lease is gone at once, with its key.
  REQUIRE(client->LeaseRevoke(kept->id()).ok());
  absl::StatusOr<int64_t> revoked = client->LeaseKeepAliveOnce(kept->id());
  REQUIRE(revoked.ok());
  CHECK(*revoked <= 0);
  CHECK_FALSE(ValueOf(*client, "/lease/kept").has_value());
}

TEST_CASE(
    "etcd client fails over when the current endpoint's member is "
    "killed",
    "[etcd][failover]") {
  TestCluster test(3);
  EtcdCluster& cluster = *test.cluster;
  const int victim = AFollower(cluster);
  const std::vector<std::string> endpoints = EndpointsFrom(cluster, victim);
  std::unique_ptr<EtcdClient> reader = NewClient(endpoints);
  std::unique_ptr<EtcdClient> writer = NewClient(endpoints);
  Put(*writer, "/failover/key", "before");
  REQUIRE(ValueOf(*reader, "/failover/key") == "before");
  REQUIRE(reader->CurrentEndpoint() == cluster.endpoint(victim));
  etcdserverpb::WatchCreateRequest create;
  create.set_key("/failover/key");
  std::unique_ptr<EtcdWatchStream> watch = reader->Watch(create);
  REQUIRE(NextResponse(*watch).created());

  cluster.Kill(victim);
  // The watch on the killed member ends.
  absl::StatusOr<std::optional<etcdserverpb::WatchResponse>> ended =
      watch->Next(absl::Seconds(10));
  CHECK(ended.status().code() == absl::StatusCode::kUnavailable);
  CHECK_FALSE(watch->RequestProgress());

  // A read is retried on the next member.
  CHECK(ValueOf(*reader, "/failover/key") == "before");
  CHECK(reader->CurrentEndpoint() == endpoints[1]);

  // A write is not retried: the first fails, the next goes elsewhere.
  absl::StatusOr<etcdserverpb::TxnResponse> lost =
      writer->Txn(PutTxn("/failover/key", "lost"));
  CHECK(lost.status().code() == absl::StatusCode::kUnavailable);
  CHECK(writer->CurrentEndpoint() == endpoints[1]);
  Put(*writer, "/failover/key", "after");
  CHECK(ValueOf(*reader, "/failover/key") == "after");

  // Status names one member, dead or alive, and moves nothing.
  CHECK(writer->Status(cluster.endpoint(victim)).status().code() ==
        absl::StatusCode::kUnavailable);
  absl::StatusOr<etcdserverpb::StatusResponse> status =
      writer->Status(endpoints[2]);
  REQUIRE(status.ok());
  CHECK(status->leader() != 0);
  CHECK(writer->CurrentEndpoint() == endpoints[1]);
  CHECK(writer->Status("127.0.0.1:1").status().code() ==
        absl::StatusCode::kInvalidArgument);

  // The member comes back on its data dir and catches up.
  REQUIRE(cluster.Restart(victim).ok());
  std::unique_ptr<EtcdClient> direct = NewClient({cluster.endpoint(victim)});
  CHECK(Eventually([&] {
    absl::StatusOr<etcdserverpb::RangeResponse> got =
        direct->Range(Get("/failover/key"));
    return got.ok() && got->kvs_size() == 1 && got->kvs(0).value() == "after";
  }));
}

TEST_CASE(
    "etcd read on a stopped member returns from another member within "
    "the call timeout",
    "[etcd][failover]") {
  TestCluster test(3);
  EtcdCluster& cluster = *test.cluster;
  const int victim = AFollower(cluster);
  const std::vector<std::string> endpoints = EndpointsFrom(cluster, victim);
  std::unique_ptr<EtcdClient> client = NewClient(endpoints);
  Put(*client, "/stopped/key", "v");
  // An open watch on the member to be stopped.
  etcdserverpb::WatchCreateRequest create;
  create.set_key("/stopped/key");
  std::unique_ptr<EtcdWatchStream> watch = client->Watch(create);
  REQUIRE(NextResponse(*watch).created());

  cluster.Stop(victim);
  const absl::Time start = absl::Now();
  std::optional<std::string> value = ValueOf(*client, "/stopped/key");
  const absl::Duration took = absl::Now() - start;
  CHECK(value == "v");
  CHECK(took >= kCallTimeout);
  CHECK(took < kCallTimeout + absl::Milliseconds(1500));
  CHECK(client->CurrentEndpoint() == endpoints[1]);

  // Closing a watch on a stopped member does not hang.
  const absl::Time close_start = absl::Now();
  watch->Close();
  CHECK(absl::Now() - close_start < absl::Seconds(2));
  cluster.Continue(victim);
}

TEST_CASE(
    "etcd member cut off from the leader refuses reads and ends "
    "its watch streams",
    "[etcd][failover]") {
  TestCluster test(3);
  EtcdCluster& cluster = *test.cluster;
  const int alone = AFollower(cluster);
  std::unique_ptr<EtcdClient> client = NewClient({cluster.endpoint(alone)});
  Put(*client, "/alone/key", "v");
  etcdserverpb::WatchCreateRequest create;
  create.set_key("/alone/key");
  std::unique_ptr<EtcdWatchStream> watch = client->Watch(create);
  REQUIRE(NextResponse(*watch).created());

  for (int i = 0; i < cluster.size(); ++i) {
    if (i != alone) cluster.Stop(i);
  }
  // Even a serializable read, which the member could answer from its own
  // (stale) copy, is refused once it has no leader.
  etcdserverpb::RangeRequest serializable = Get("/alone/key");
  serializable.set_serializable(true);
  absl::Status refused;
  CHECK(Eventually([&] {
    refused = client->Range(serializable).status();
    return refused.code() == absl::StatusCode::kUnavailable &&
           absl::StrContains(refused.message(), "no leader");
  }));
  INFO(refused.ToString());
  // etcd ends the streams after three election timeouts without a leader.
  absl::StatusOr<std::optional<etcdserverpb::WatchResponse>> ended =
      watch->Next(absl::Seconds(10));
  CHECK(ended.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(ended.status().message()),
             Catch::Contains("no leader"));
}

TEST_CASE("etcd client speaks TLS with a client certificate", "[etcd][tls]") {
  TempDir certs_dir;
  muster::testing::TestCerts certs(certs_dir.path());
  muster::testing::EtcdClusterOptions cluster_options;
  muster::testing::EtcdTls& tls = cluster_options.tls;
  tls.cert_file = certs.server().cert;
  tls.key_file = certs.server().key;
  tls.client_ca_file = certs.ca().cert;
  tls.server_ca_file = certs.ca().cert;
  tls.client_cert_file = certs.client().cert;
  tls.client_key_file = certs.client().key;
  TestCluster test(1, cluster_options);

  EtcdClientOptions options;
  options.endpoints = test.cluster->endpoints();
  options.ca_file = certs.ca().cert;
  options.cert_file = certs.client().cert;
  options.key_file = certs.client().key;
  options.call_timeout = kCallTimeout;
  absl::StatusOr<std::unique_ptr<EtcdClient>> client =
      EtcdClient::Create(options);
  REQUIRE(client.ok());
  Put(**client, "/tls/key", "v");
  CHECK(ValueOf(**client, "/tls/key") == "v");

  // Without a client certificate, or trusting another CA, or in plain
  // text: no call gets through.
  EtcdClientOptions no_cert = options;
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  EtcdClientOptions other_ca = options;
  other_ca.ca_file = certs.other_ca().cert;
  EtcdClientOptions plain = options;
  plain.ca_file.clear();
  plain.cert_file.clear();
  plain.key_file.clear();
  for (const EtcdClientOptions& bad : {no_cert, other_ca, plain}) {
    absl::StatusOr<std::unique_ptr<EtcdClient>> refused =
        EtcdClient::Create(bad);
    REQUIRE(refused.ok());
    CHECK_FALSE((*refused)->Range(Get("/tls/key")).ok());
  }
}

TEST_CASE("etcd client authenticates, and again once its token expired",
          "[etcd][auth]") {
  muster::testing::EtcdClusterOptions options;
  // Simple tokens unused for a second expire.
  options.extra_args = {"--auth-token=simple", "--auth-token-ttl=1"};
  TestCluster test(1, options);
  EtcdCluster& cluster = *test.cluster;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"user", "add", "root:secret"},
        std::vector<std::string>{"user", "grant-role", "root", "root"},
        std::vector<std::string>{"auth", "enable"}}) {
    muster::testing::SpawnOptions etcdctl;
    etcdctl.argv = {"/usr/bin/etcdctl", "--endpoints=" + cluster.endpoint(0)};
    etcdctl.argv.insert(etcdctl.argv.end(), args.begin(), args.end());
    etcdctl.env = {"ETCDCTL_API=3"};
    muster::testing::RunResult result =
        muster::testing::Run(etcdctl, absl::Seconds(10));
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
  }

  std::unique_ptr<EtcdClient> anonymous = NewClient(cluster.endpoints());
  CHECK_FALSE(anonymous->Range(Get("/auth/key")).ok());

  std::unique_ptr<EtcdClient> wrong =
      NewClient(cluster.endpoints(), "root", "wrong");
  absl::StatusOr<etcdserverpb::RangeResponse> refused =
      wrong->Range(Get("/auth/key"));
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(refused.status().message()),
             Catch::Contains("Authenticate"));

  std::unique_ptr<EtcdClient> client =
      NewClient(cluster.endpoints(), "root", "secret");
  Put(*client, "/auth/key", "v");

  // The token expires only while unused, so this wait cannot be a poll:
  // the TTL (1 s), the member's sweep (every 1 s) and a margin.
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  // The first call meets "invalid auth token", authenticates again and
  // goes through.
  CHECK(ValueOf(*client, "/auth/key") == "v");
  Put(*client, "/auth/key", "w");
}

TEST_CASE("etcd client options are checked, naming the option",
          "[etcd][options]") {
  auto create = [](EtcdClientOptions options) {
    return EtcdClient::Create(std::move(options)).status();
  };
  EtcdClientOptions none;
  absl::Status status = create(none);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("endpoints"));

  EtcdClientOptions malformed;
  malformed.endpoints = {"127.0.0.1:2379", "nohostport"};
  status = create(malformed);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("endpoints"));
  CHECK_THAT(std::string(status.message()), Catch::Contains("nohostport"));

  for (const char* bad :
       {"http://127.0.0.1:2379", "127.0.0.1:", ":2379", "127.0.0.1:99999"}) {
    EtcdClientOptions options;
    options.endpoints = {bad};
    INFO(bad);
    CHECK(create(options).code() == absl::StatusCode::kInvalidArgument);
  }

  EtcdClientOptions half_pair;
  half_pair.endpoints = {"127.0.0.1:2379"};
  half_pair.cert_file = "/nonexistent/client.crt";
  status = create(half_pair);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("key_file"));
  EtcdClientOptions key_only;
  key_only.endpoints = {"127.0.0.1:2379"};
  key_only.key_file = "/nonexistent/client.key";
  status = create(key_only);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()),
             Catch::StartsWith("etcd option cert_file"));

  EtcdClientOptions missing_ca;
  missing_ca.endpoints = {"127.0.0.1:2379"};
  missing_ca.ca_file = "/nonexistent/ca.crt";
  status = create(missing_ca);
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(status.message()),
             Catch::Contains("/nonexistent/ca.crt"));

  EtcdClientOptions no_timeout;
  no_timeout.endpoints = {"[::1]:2379"};
  no_timeout.call_timeout = absl::ZeroDuration();
  status = create(no_timeout);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("call_timeout"));

  EtcdClientOptions good;
  good.endpoints = {"127.0.0.1:2379", "[::1]:2379", "etcd-0.example:2379"};
  CHECK(create(good).ok());
}

}  // namespace
}  // namespace muster::etcd
