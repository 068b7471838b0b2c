// Replies that would not fit one gRPC message page instead (ListEvents,
// ListInstances, after a forced realm delete too), ListEvents from a
// compacted revision, and heartbeats that answer the health they make.
// The client keeps gRPC's default 4 MiB receive limit throughout.

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "healthchecker/health_checker.h"
#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

using muster::v1::Event;
using muster::v1::Instance;

constexpr int kBigInstances = 100;

// An instance of about 62 KiB of strings, near the 64 KiB limit: 100 of
// them are more than one 4 MiB message.
Instance BigInstance(const std::string& service, const std::string& id) {
  Instance instance = MakeInstance(service, id);
  for (int i = 0; i < 64; ++i) {
    const std::string n = std::to_string(1000 + i);
    (*instance.mutable_metadata())[std::string(116, 'k') + n] =
        std::string(512, 'v');
    instance.add_tags(std::string(116, 't') + n);
  }
  muster::v1::CheckSpec* check = instance.mutable_check();
  check->set_kind(muster::v1::CHECK_KIND_HTTP);
  check->set_http_url("http://10.0.0.1:8080/" + std::string(1900, 'p'));
  for (int i = 0; i < 12; ++i) {
    (*check->mutable_http_headers())["X-" + std::string(96, 'h') +
                                     std::to_string(10 + i)] =
        std::string(1000, 'x');
  }
  return instance;
}

uint64_t MustRegister(TestServer& server, const std::string& realm,
                      const Instance& instance) {
  muster::v1::RegisterRequest request;
  request.set_realm(realm);
  *request.mutable_instance() = instance;
  muster::v1::RegisterResponse response;
  const grpc::Status status =
      server.registry().Register(Context().get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response.revision();
}

void MustCreateRealm(TestServer& server, const std::string& name) {
  muster::v1::CreateRealmRequest create;
  create.set_name(name);
  muster::v1::Realm realm;
  const grpc::Status status =
      server.realms().CreateRealm(Context().get(), create, &realm);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

uint64_t RegisterBig(TestServer& server, const std::string& realm) {
  uint64_t first = 0;
  for (int i = 0; i < kBigInstances; ++i) {
    const uint64_t revision = MustRegister(
        server, realm, BigInstance("big", "i" + std::to_string(100 + i)));
    if (first == 0) first = revision;
  }
  return first;
}

struct EventsRead {
  std::vector<Event> events;
  int pages = 0;
  // Pages that ended inside a revision.
  int split_pages = 0;
};

// Follows next_revision and next_event_index from `from` to the end.
EventsRead ReadEvents(TestServer& server, const std::string& realm,
                      uint64_t from, uint32_t limit) {
  EventsRead read;
  muster::v1::ListEventsRequest request;
  request.set_realm(realm);
  request.set_from_revision(from);
  request.set_limit(limit);
  for (; read.pages < 1000; ++read.pages) {
    muster::v1::ListEventsResponse response;
    const grpc::Status status =
        server.registry().ListEvents(Context().get(), request, &response);
    INFO("page " << read.pages << ": " << status.error_message());
    REQUIRE(status.ok());
    REQUIRE(response.events_size() > 0);
    CHECK(response.events_size() <= static_cast<int>(limit));
    for (Event& event : *response.mutable_events()) {
      read.events.push_back(std::move(event));
    }
    if (response.next_revision() == 0) {
      ++read.pages;
      return read;
    }
    if (response.next_event_index() != 0) ++read.split_pages;
    request.set_from_revision(response.next_revision());
    request.set_from_event_index(response.next_event_index());
  }
  FAIL("ListEvents paging did not end");
  return read;
}

// "type id" per event, in order.
std::vector<std::string> Describe(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& event : events) {
    out.push_back(absl::StrCat(Event::Type_Name(event.type()), " ",
                               event.instance().id(), " ",
                               event.instance().metadata_size()));
  }
  return out;
}

std::vector<std::string> Expected(const std::string& type) {
  std::vector<std::string> out;
  for (int i = 0; i < kBigInstances; ++i) {
    out.push_back(absl::StrCat(type, " i", 100 + i, " 64"));
  }
  return out;
}

}  // namespace

TEST_CASE("ListEvents pages end by bytes and every event comes once",
          "[integration][list_events][big]") {
  TestServer server;
  const uint64_t first = RegisterBig(server, "default");
  const EventsRead read = ReadEvents(server, "default", 0, 1000);
  CHECK(read.pages >= 3);
  CHECK(read.split_pages == 0);  // one event per revision: whole revisions
  CHECK(Describe(read.events) == Expected("PUT"));
  for (size_t i = 0; i < read.events.size(); ++i) {
    CHECK(read.events[i].revision() == first + i);
  }
}

TEST_CASE("ListInstances pages end by bytes through gRPC",
          "[integration][list_instances][big]") {
  TestServer server;
  RegisterBig(server, "default");
  muster::v1::ListInstancesRequest request;
  request.set_page_size(1000);
  std::vector<std::string> ids;
  int pages = 0;
  for (; pages < 100; ++pages) {
    muster::v1::ListInstancesResponse response;
    const grpc::Status status =
        server.registry().ListInstances(Context().get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    REQUIRE(response.instances_size() > 0);
    for (const Instance& instance : response.instances()) {
      ids.push_back(instance.id());
      CHECK(instance.metadata_size() == 64);
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  CHECK(pages >= 2);
  std::vector<std::string> expected;
  for (int i = 0; i < kBigInstances; ++i) {
    expected.push_back("i" + std::to_string(100 + i));
  }
  CHECK(ids == expected);
}

TEST_CASE("a forced delete of a big realm lists and replays in pieces",
          "[integration][list_events][watch][big]") {
  TestServer server;
  MustCreateRealm(server, "bulk");
  const uint64_t first = RegisterBig(server, "bulk");
  muster::v1::DeleteRealmRequest remove;
  remove.set_name("bulk");
  remove.set_force(true);
  muster::v1::DeleteRealmResponse removed;
  {
    const grpc::Status status =
        server.realms().DeleteRealm(Context().get(), remove, &removed);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  REQUIRE(removed.deleted_instances() == kBigInstances);
  // Listing and watching need the realm; its old events keep its name.
  MustCreateRealm(server, "bulk");

  SECTION("ListEvents from the delete: one revision over several pages") {
    const EventsRead read =
        ReadEvents(server, "bulk", removed.revision(), 1000);
    CHECK(read.pages >= 3);
    CHECK(read.split_pages >= 2);
    CHECK(Describe(read.events) == Expected("DELETE"));
    for (const Event& event : read.events) {
      CHECK(event.revision() == removed.revision());
      CHECK(event.cause() == Event::REALM_DELETED);
    }
  }
  SECTION("ListEvents of everything, with a small limit") {
    const EventsRead read = ReadEvents(server, "bulk", 0, 7);
    std::vector<std::string> expected = Expected("PUT");
    for (const std::string& line : Expected("DELETE")) {
      expected.push_back(line);
    }
    CHECK(Describe(read.events) == expected);
    CHECK(read.split_pages >= 10);
  }
  SECTION("a watch replays the puts and the deletes, then ends NOT_FOUND") {
    std::unique_ptr<grpc::ClientContext> context = Context();
    muster::v1::WatchRequest request;
    request.set_realm("bulk");
    request.set_from_revision(first);
    auto reader = server.registry().Watch(context.get(), request);
    std::vector<Event> events;
    muster::v1::WatchResponse response;
    while (reader->Read(&response)) {
      for (const Event& event : response.events()) events.push_back(event);
    }
    const grpc::Status status = reader->Finish();
    INFO(status.error_message());
    CHECK(status.error_code() == grpc::NOT_FOUND);
    std::vector<std::string> expected = Expected("PUT");
    for (const std::string& line : Expected("DELETE")) {
      expected.push_back(line);
    }
    CHECK(Describe(events) == expected);
  }
}

TEST_CASE(
    "ListEvents from a compacted revision is OUT_OF_RANGE naming the "
    "oldest retained one",
    "[integration][list_events]") {
  TestServer::Options options;
  options.registry.changelog_retention = 10;
  TestServer server(options);
  for (int i = 0; i < 40; ++i) {
    MustRegister(server, "default",
                 MakeInstance("web", "i" + std::to_string(i)));
  }
  muster::v1::ServerInfo info;
  REQUIRE(server.registry().GetServerInfo(Context().get(), {}, &info).ok());
  const uint64_t oldest = info.oldest_retained_revision();
  REQUIRE(oldest > 2);

  muster::v1::ListEventsRequest request;
  request.set_from_revision(2);
  muster::v1::ListEventsResponse response;
  grpc::Status status =
      server.registry().ListEvents(Context().get(), request, &response);
  CHECK(status.error_code() == grpc::OUT_OF_RANGE);
  CHECK_THAT(status.error_message(), Catch::StartsWith("from_revision: "));
  CHECK_THAT(
      status.error_message(),
      Catch::Contains("oldest retained revision is " + std::to_string(oldest)));

  // 0 still means "the oldest retained", and the oldest itself is fine.
  for (uint64_t from : {uint64_t{0}, oldest}) {
    request.set_from_revision(from);
    status = server.registry().ListEvents(Context().get(), request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    REQUIRE(response.events_size() > 0);
    CHECK(response.events(0).revision() == oldest);
    CHECK(response.oldest_retained_revision() == oldest);
  }
}

TEST_CASE("a heartbeat that makes a TTL instance PASSING says so, durably",
          "[integration][heartbeat]") {
  TestServer server;
  healthchecker::HealthChecker::Options checker_options;
  auto checker = healthchecker::HealthChecker::Create(
      checker_options, server.core().checker_bridge(),
      server.core().checker_bridge(), Clock::Real(), server.metrics());
  REQUIRE(checker.ok());
  REQUIRE((*checker)->Start().ok());

  Instance instance = MakeInstance("worker", "w1");
  instance.mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
  instance.mutable_check()->mutable_ttl()->set_seconds(30);
  const uint64_t registered = MustRegister(server, "default", instance);

  std::unique_ptr<grpc::ClientContext> watch_context = Context();
  muster::v1::WatchRequest watch;
  watch.set_from_revision(registered + 1);
  auto stream = server.registry().Watch(watch_context.get(), watch);

  muster::v1::HeartbeatRequest heartbeat;
  heartbeat.set_service("worker");
  heartbeat.set_id("w1");
  heartbeat.set_incarnation(registered);
  muster::v1::HeartbeatResponse answer;
  REQUIRE(
      server.registry().Heartbeat(Context().get(), heartbeat, &answer).ok());
  CHECK(answer.health() == muster::v1::HEALTH_PASSING);

  muster::v1::GetInstanceRequest get;
  get.set_service("worker");
  get.set_id("w1");
  Instance got;
  REQUIRE(server.registry().GetInstance(Context().get(), get, &got).ok());
  CHECK(got.health() == muster::v1::HEALTH_PASSING);
  CHECK(got.modify_revision() == registered + 1);

  // A second heartbeat commits nothing.
  REQUIRE(
      server.registry().Heartbeat(Context().get(), heartbeat, &answer).ok());
  CHECK(answer.health() == muster::v1::HEALTH_PASSING);
  // A marker write after both: the watch sees exactly one change before it.
  const uint64_t marker =
      MustRegister(server, "default", MakeInstance("marker", "m"));
  CHECK(marker == registered + 2);

  std::vector<Event> events;
  muster::v1::WatchResponse response;
  while (events.size() < 2 && stream->Read(&response)) {
    for (const Event& event : response.events()) events.push_back(event);
  }
  REQUIRE(events.size() == 2);
  CHECK(events[0].cause() == Event::HEALTH_CHANGED);
  CHECK(events[0].instance().id() == "w1");
  CHECK(events[0].instance().health() == muster::v1::HEALTH_PASSING);
  CHECK(events[1].instance().id() == "m");
  watch_context->TryCancel();
  while (stream->Read(&response)) {
  }
  CHECK(stream->Finish().error_code() == grpc::CANCELLED);
  (*checker)->Stop();
}

}  // namespace muster::testing
