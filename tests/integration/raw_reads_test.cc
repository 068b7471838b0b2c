// ListInstances and GetInstance are served as bytes assembled from each
// instance's cached encoding (codec/instance_wire.h). Through real gRPC,
// every page and every instance parses as the typed conversion of the
// registry's own answer, for many filters and page sizes, after changes
// (a new instance version is encoded anew), with min_revision, and the
// errors are the typed path's.

#include <google/protobuf/util/message_differencer.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codec/model_proto.h"
#include "codec/read_responses.h"
#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

using google::protobuf::util::MessageDifferencer;

void Register(TestServer& server, int i) {
  muster::v1::RegisterRequest request;
  muster::v1::Instance* instance = request.mutable_instance();
  *instance = MakeInstance(i % 3 == 0 ? "api" : "web", absl::StrCat("i-", i),
                           absl::StrCat("10.0.0.", i), 8000 + i);
  if (i % 2 == 0) instance->add_tags("even");
  if (i % 4 == 0) instance->add_tags("four");
  (*instance->mutable_metadata())["shard"] = absl::StrCat(i % 3);
  instance->set_zone(i % 2 == 0 ? "eu-1a" : "eu-1b");
  instance->set_version("1.0");
  if (i % 5 == 0) {
    instance->mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
    instance->mutable_check()->mutable_ttl()->set_seconds(60);
  }
  muster::v1::RegisterResponse response;
  const grpc::Status status =
      server.registry().Register(Context().get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

void Drain(TestServer& server, const std::string& service,
           const std::string& id) {
  muster::v1::SetAdminStateRequest request;
  request.set_service(service);
  request.set_id(id);
  request.set_admin_state(muster::v1::ADMIN_STATE_DRAINING);
  request.set_reason("maintenance");
  muster::v1::Instance response;
  REQUIRE(server.registry()
              .SetAdminState(Context().get(), request, &response)
              .ok());
}

// Every page of `request` through gRPC against the typed conversion of the
// registry's own page; returns the instances seen.
size_t CompareList(TestServer& server,
                   muster::v1::ListInstancesRequest request) {
  size_t seen = 0;
  for (int pages = 0; pages < 100; ++pages) {
    muster::v1::ListInstancesResponse served;
    const grpc::Status status =
        server.registry().ListInstances(Context().get(), request, &served);
    absl::StatusOr<registry::InstancePage> page =
        server.core().instances().List(registry::ListQueryFromProto(request));
    INFO(request.ShortDebugString());
    REQUIRE(static_cast<int>(status.error_code()) ==
            static_cast<int>(page.status().code()));
    if (!page.ok()) {
      CHECK(status.error_message() == page.status().message());
      return seen;
    }
    muster::v1::ListInstancesResponse typed;
    registry::ToProto(*page, &typed);
    std::string difference;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&difference);
    INFO(difference);
    REQUIRE(differencer.Compare(typed, served));
    seen += static_cast<size_t>(served.instances_size());
    if (served.next_page_token().empty()) return seen;
    request.set_page_token(served.next_page_token());
  }
  FAIL("pagination did not end");
  return seen;
}

void CompareGet(TestServer& server, const std::string& service,
                const std::string& id) {
  muster::v1::GetInstanceRequest request;
  request.set_service(service);
  request.set_id(id);
  muster::v1::Instance served;
  const grpc::Status status =
      server.registry().GetInstance(Context().get(), request, &served);
  INFO(service << "/" << id << ": " << status.error_message());
  REQUIRE(status.ok());
  absl::StatusOr<std::shared_ptr<const registry::Instance>> instance =
      server.core().instances().Get(
          registry::InstanceKey{"default", service, id});
  REQUIRE(instance.ok());
  muster::v1::Instance typed;
  registry::ToProto(**instance, &typed);
  registry::FillHealthDetail(
      server.core().instances().HealthDetailOf(**instance), &typed);
  std::string difference;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  INFO(difference);
  CHECK(differencer.Compare(typed, served));
}

std::vector<muster::v1::ListInstancesRequest> Requests() {
  std::vector<muster::v1::ListInstancesRequest> requests;
  for (const char* service : {"", "api", "web", "nope"}) {
    for (bool routable_only : {false, true}) {
      for (int filter = 0; filter < 4; ++filter) {
        for (uint32_t page_size : {0u, 1u, 4u}) {
          muster::v1::ListInstancesRequest request;
          request.set_service(service);
          request.set_routable_only(routable_only);
          if (filter == 1) request.add_tags("even");
          if (filter == 2) (*request.mutable_metadata())["shard"] = "1";
          if (filter == 3) request.set_zone("eu-1a");
          request.set_page_size(page_size);
          requests.push_back(request);
        }
      }
    }
  }
  return requests;
}

}  // namespace

TEST_CASE(
    "ListInstances and GetInstance served as bytes equal the typed "
    "conversion",
    "[integration][raw_reads]") {
  TestServer server;
  for (int i = 0; i < 24; ++i) Register(server, i);
  Drain(server, "web", "i-1");
  Drain(server, "api", "i-6");
  // A heartbeat: GetInstance carries last_heartbeat_at.
  {
    muster::v1::GetInstanceRequest get;
    get.set_service("web");
    get.set_id("i-10");
    muster::v1::Instance got;
    REQUIRE(server.registry().GetInstance(Context().get(), get, &got).ok());
    muster::v1::HeartbeatRequest beat;
    beat.set_service("web");
    beat.set_id("i-10");
    beat.set_incarnation(got.create_revision());
    muster::v1::HeartbeatResponse response;
    REQUIRE(server.registry().Heartbeat(Context().get(), beat, &response).ok());
  }

  size_t all = 0;
  for (const muster::v1::ListInstancesRequest& request : Requests())
    all += CompareList(server, request);
  CHECK(all > 0);
  {
    muster::v1::ListInstancesRequest request;
    CHECK(CompareList(server, request) == 24);
  }
  for (int i = 0; i < 24; ++i)
    CompareGet(server, i % 3 == 0 ? "api" : "web", absl::StrCat("i-", i));
  {
    muster::v1::GetInstanceRequest get;
    get.set_service("web");
    get.set_id("i-10");
    muster::v1::Instance got;
    REQUIRE(server.registry().GetInstance(Context().get(), get, &got).ok());
    CHECK(got.has_last_heartbeat_at());
  }

  // A change makes a new version: read after it, the new state is served
  // (the old version's bytes are not).
  Drain(server, "web", "i-2");
  muster::v1::ListInstancesRequest web;
  web.set_service("web");
  muster::v1::ListInstancesResponse served;
  REQUIRE(server.registry().ListInstances(Context().get(), web, &served).ok());
  bool found = false;
  for (const muster::v1::Instance& instance : served.instances()) {
    if (instance.id() != "i-2") continue;
    found = true;
    CHECK(instance.admin_state() == muster::v1::ADMIN_STATE_DRAINING);
    CHECK(instance.admin_reason() == "maintenance");
  }
  CHECK(found);
  CHECK(CompareList(server, web) == 16);
  CompareGet(server, "web", "i-2");

  // min_revision: answered once applied, through the waiting path.
  web.set_min_revision(served.revision());
  CHECK(CompareList(server, web) == 16);
  muster::v1::GetInstanceRequest get;
  get.set_service("web");
  get.set_id("i-2");
  get.set_min_revision(served.revision());
  muster::v1::Instance got;
  REQUIRE(server.registry().GetInstance(Context().get(), get, &got).ok());
  CHECK(got.admin_state() == muster::v1::ADMIN_STATE_DRAINING);
}

TEST_CASE(
    "ListInstances and GetInstance served as bytes keep the typed "
    "path's errors",
    "[integration][raw_reads]") {
  TestServer server;
  Register(server, 1);

  // A missing realm, a bad page token, a bad page size: as the registry
  // words them.
  muster::v1::ListInstancesRequest request;
  request.set_realm("missing");
  CompareList(server, request);
  request.set_realm("");
  request.set_page_token("bm90IGEgdG9rZW4");
  CompareList(server, request);
  request.set_page_token("");
  request.set_page_size(100000);
  CompareList(server, request);
  request.set_page_size(0);
  request.set_service("Not_A_Name");
  CompareList(server, request);

  muster::v1::GetInstanceRequest get;
  get.set_service("web");
  get.set_id("missing");
  muster::v1::Instance got;
  grpc::Status status =
      server.registry().GetInstance(Context().get(), get, &got);
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(status.error_message() ==
        server.core()
            .instances()
            .Get(registry::InstanceKey{"default", "web", "missing"})
            .status()
            .message());

  // A body that is not the request message.
  for (const char* method : {"/muster.v1.Registry/GetInstance",
                             "/muster.v1.Registry/ListInstances"}) {
    INFO(method);
    status = CallRaw(server, method, "\xff\xff\xff");
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message() ==
          absl::StrCat("the request body is not a valid muster.v1.",
                       absl::string_view(method).substr(20),
                       "Request message"));
  }
  // An empty body is the empty request: the default realm's listing.
  CHECK(CallRaw(server, "/muster.v1.Registry/ListInstances", "").ok());
}

}  // namespace muster::testing
