// The HTTP/JSON API (http/api.h) on a real HTTP endpoint on 127.0.0.1,
// over an in-process musterd (registry, RocksDB and gRPC): every route's
// shape against what gRPC answers for the same data, filters and paging,
// errors, access control, drain and enable, and the event stream.

#include <httplib.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "daemon/http_endpoint.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "http/api.h"
#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "tests/integration/auth_support.h"
#include "tests/integration/test_server.h"
#include "tests/support/eventually.h"

namespace muster::testing {
namespace {

using google::protobuf::util::MessageDifferencer;

// The API on an HttpEndpoint of its own (127.0.0.1:0) over `server`.
class HttpApi final {
 public:
  HttpApi(TestServer& server, Clock& clock, bool auth = false,
          size_t max_streams = 256) {
    http::Api::Options options;
    options.auth = auth;
    options.facts.version = "test";
    options.max_streams = max_streams;
    options.progress_interval = absl::Milliseconds(200);
    api_ = std::make_unique<http::Api>(options, clock);
    api_->Attach(&server.core());
    registry::HttpEndpoint::Options endpoint;
    endpoint.listen = "127.0.0.1:0";
    endpoint.routes = [this](httplib::Server& s) { api_->Install(s); };
    endpoint.extra_workers = api_->stream_workers();
    auto created = registry::HttpEndpoint::Create(endpoint, metrics_, nullptr);
    REQUIRE(created.ok());
    endpoint_ = std::move(created).value();
    REQUIRE(endpoint_->Start().ok());
  }
  ~HttpApi() {
    api_->Shutdown();
    endpoint_->Stop();
  }

  int port() const { return endpoint_->port(); }
  http::Api& api() { return *api_; }

  httplib::Result Get(const std::string& path, const std::string& token = "") {
    httplib::Client client("127.0.0.1", port());
    client.set_read_timeout(15);
    return client.Get(path.c_str(), Headers(token));
  }
  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& token = "") {
    httplib::Client client("127.0.0.1", port());
    client.set_read_timeout(15);
    return client.Post(path.c_str(), Headers(token), body, "application/json");
  }
  static httplib::Headers Headers(const std::string& token) {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return headers;
  }

 private:
  Metrics metrics_;
  std::unique_ptr<http::Api> api_;
  std::unique_ptr<registry::HttpEndpoint> endpoint_;
};

template <typename Message>
Message Parse(const std::string& json) {
  Message message;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  INFO(json);
  REQUIRE(status.ok());
  return message;
}

// The error body: {"code", "message", "status"}.
struct Error {
  std::string code;
  std::string message;
  int status = 0;
};
Error ParseError(const httplib::Result& result) {
  REQUIRE(result);
  INFO(result->body);
  CHECK(result->get_header_value("Content-Type") == "application/json");
  auto body = Parse<google::protobuf::Struct>(result->body);
  Error error;
  error.code = body.fields().at("code").string_value();
  error.message = body.fields().at("message").string_value();
  error.status = static_cast<int>(body.fields().at("status").number_value());
  CHECK(error.status == result->status);
  return error;
}

void Register(TestServer& server, const std::string& realm,
              muster::v1::Instance instance, const std::string& token = "") {
  muster::v1::RegisterRequest request;
  request.set_realm(realm);
  *request.mutable_instance() = std::move(instance);
  muster::v1::RegisterResponse response;
  grpc::Status status = server.registry().Register(BearerContext(token).get(),
                                                   request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

muster::v1::Instance Tagged(const std::string& service, const std::string& id,
                            std::vector<std::string> tags,
                            const std::string& zone) {
  muster::v1::Instance instance = MakeInstance(service, id);
  for (const std::string& tag : tags) instance.add_tags(tag);
  instance.set_zone(zone);
  (*instance.mutable_metadata())["team"] = id == "1" ? "red" : "blue";
  return instance;
}

// Three web instances and one api in "default".
void Fleet(TestServer& server) {
  Register(server, "", Tagged("web", "1", {"a", "b"}, "z1"));
  Register(server, "", Tagged("web", "2", {"a"}, "z2"));
  Register(server, "", Tagged("web", "3", {"b"}, "z1"));
  Register(server, "", Tagged("api", "1", {"a"}, "z1"));
}

// One server-sent event.
struct Sse {
  std::string id;
  std::string event;
  std::string data;
};

// Reads an event stream on a thread of its own. With `hold`, stops
// reading after the first message until Release() (a slow consumer).
class SseReader final {
 public:
  SseReader(int port, std::string path, httplib::Headers headers,
            bool hold = false)
      : hold_(hold) {
    thread_ = std::thread(
        [this, port, path = std::move(path), headers = std::move(headers)] {
          httplib::Client client("127.0.0.1", port);
          client.set_read_timeout(30);
          // A small receive buffer, so that a held reader backs up soon.
          client.set_socket_options([](socket_t sock) {
            int bytes = 4096;
            ::setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
          });
          auto result = client.Get(
              path.c_str(), headers,
              [this](const httplib::Response& response) {
                std::lock_guard<std::mutex> lock(mu_);
                status_ = response.status;
                return true;
              },
              [this](const char* data, size_t length) {
                std::unique_lock<std::mutex> lock(mu_);
                buffer_.append(data, length);
                size_t end;
                while ((end = buffer_.find("\n\n")) != std::string::npos) {
                  Sse message;
                  for (absl::string_view line :
                       absl::StrSplit(buffer_.substr(0, end), '\n')) {
                    if (absl::ConsumePrefix(&line, "id: "))
                      message.id = std::string(line);
                    if (absl::ConsumePrefix(&line, "event: "))
                      message.event = std::string(line);
                    if (absl::ConsumePrefix(&line, "data: "))
                      message.data = std::string(line);
                  }
                  buffer_.erase(0, end + 2);
                  messages_.push_back(std::move(message));
                }
                cv_.notify_all();
                if (hold_ && !messages_.empty()) {
                  cv_.wait(lock, [this] { return !hold_ || stop_; });
                }
                return !stop_;
              });
          std::lock_guard<std::mutex> lock(mu_);
          if (!result) status_ = -1;
          ended_ = true;
          cv_.notify_all();
        });
  }
  ~SseReader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      hold_ = false;
      cv_.notify_all();
    }
    thread_.join();
  }

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }

  // Waits until `done(messages)` holds.
  bool WaitFor(const std::function<bool(const std::vector<Sse>&)>& done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done(messages_); });
  }
  std::vector<Sse> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  bool ended() {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  int status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_;
  bool stop_ = false;
  bool ended_ = false;
  int status_ = 0;
  std::string buffer_;
  std::vector<Sse> messages_;
  std::thread thread_;
};

bool Has(const std::vector<Sse>& messages, const std::string& event,
         const std::string& needle = "") {
  for (const Sse& m : messages) {
    if (m.event == event && absl::StrContains(m.data, needle)) return true;
  }
  return false;
}

TEST_CASE("GET /v1/info and /v1/realms answer as gRPC does", "[http_api]") {
  TestServer server;
  Fleet(server);
  HttpApi http(server, Clock::Real());

  auto info = http.Get("/v1/info");
  REQUIRE(info);
  CHECK(info->status == 200);
  CHECK(info->get_header_value("Content-Type") == "application/json");
  // Every field is there, at its default too (always_print_primitive_fields).
  for (const char* field :
       {"\"version\"", "\"revision\"", "\"instanceCount\"", "\"realmCount\"",
        "\"openWatchers\"", "\"healthCheckerEnabled\"", "\"replication\""}) {
    CHECK(absl::StrContains(info->body, field));
  }
  auto http_info = Parse<muster::v1::ServerInfo>(info->body);
  muster::v1::ServerInfo grpc_info;
  REQUIRE(
      server.registry().GetServerInfo(Context().get(), {}, &grpc_info).ok());
  CHECK(http_info.version() == "test");
  CHECK(http_info.revision() == grpc_info.revision());
  CHECK(http_info.instance_count() == 4);
  CHECK(http_info.instance_count() == grpc_info.instance_count());
  CHECK(http_info.realm_count() == grpc_info.realm_count());
  CHECK(http_info.replication().store() == "rocksdb");

  auto realms = http.Get("/v1/realms");
  REQUIRE(realms);
  CHECK(realms->status == 200);
  auto http_realms = Parse<muster::v1::ListRealmsResponse>(realms->body);
  muster::v1::ListRealmsResponse grpc_realms;
  REQUIRE(server.realms().ListRealms(Context().get(), {}, &grpc_realms).ok());
  CHECK(MessageDifferencer::Equals(http_realms, grpc_realms));
  REQUIRE(http_realms.realms_size() == 1);
  CHECK(http_realms.realms(0).realm().name() == "default");
  CHECK(http_realms.realms(0).instance_count() == 4);
  CHECK(http_realms.realms(0).service_count() == 2);
  CHECK(absl::StrContains(realms->body, "\"routableCount\""));
}

TEST_CASE("GET services and instances: filters and paging as ListInstances",
          "[http_api]") {
  TestServer server;
  Fleet(server);
  HttpApi http(server, Clock::Real());

  auto services = http.Get("/v1/realms/default/services");
  REQUIRE(services);
  REQUIRE(services->status == 200);
  auto http_services = Parse<muster::v1::ListServicesResponse>(services->body);
  muster::v1::ListServicesRequest services_request;
  services_request.set_realm("default");
  muster::v1::ListServicesResponse grpc_services;
  REQUIRE(server.registry()
              .ListServices(Context().get(), services_request, &grpc_services)
              .ok());
  CHECK(MessageDifferencer::Equals(http_services, grpc_services));
  REQUIRE(http_services.services_size() == 2);
  CHECK(http_services.services(0).name() == "api");
  CHECK(http_services.services(1).instance_count() == 3);

  // Paging services: one a page.
  auto first = Parse<muster::v1::ListServicesResponse>(
      http.Get("/v1/realms/default/services?page_size=1")->body);
  REQUIRE(first.services_size() == 1);
  REQUIRE_FALSE(first.next_page_token().empty());
  auto second = Parse<muster::v1::ListServicesResponse>(
      http.Get("/v1/realms/default/services?page_size=1&page_token=" +
               httplib::detail::encode_query_param(first.next_page_token()))
          ->body);
  REQUIRE(second.services_size() == 1);
  CHECK(second.services(0).name() == "web");

  // Each filter against gRPC's answer for the same request.
  struct Case {
    std::string query;
    size_t expected;
  };
  for (const Case& c : std::vector<Case>{
           {"service=web", 3},
           {"service=web&tag=a", 2},
           {"service=web&tag=a&tag=b", 1},
           {"tag=a", 3},
           {"zone=z1", 3},
           {"service=web&metadata=team%3Dblue", 2},
           {"service=web&routable_only=true", 3},  // no check: PASSING
           {"service=api&routable_only=false", 1},
       }) {
    INFO(c.query);
    auto result = http.Get("/v1/realms/default/instances?" + c.query);
    REQUIRE(result);
    REQUIRE(result->status == 200);
    auto http_list = Parse<muster::v1::ListInstancesResponse>(result->body);
    CHECK(static_cast<size_t>(http_list.instances_size()) == c.expected);
    muster::v1::ListInstancesRequest request;
    request.set_realm("default");
    for (absl::string_view pair : absl::StrSplit(c.query, '&')) {
      std::vector<std::string> kv = absl::StrSplit(pair, '=');
      if (kv[0] == "service") request.set_service(kv[1]);
      if (kv[0] == "tag") request.add_tags(kv[1]);
      if (kv[0] == "zone") request.set_zone(kv[1]);
      if (kv[0] == "routable_only") request.set_routable_only(true);
      if (kv[0] == "metadata") (*request.mutable_metadata())["team"] = "blue";
    }
    muster::v1::ListInstancesResponse grpc_list;
    REQUIRE(server.registry()
                .ListInstances(Context().get(), request, &grpc_list)
                .ok());
    CHECK(MessageDifferencer::Equals(http_list, grpc_list));
  }

  // Paging instances: 3 of web in pages of 2.
  auto page1 = Parse<muster::v1::ListInstancesResponse>(
      http.Get("/v1/realms/default/instances?service=web&page_size=2")->body);
  REQUIRE(page1.instances_size() == 2);
  REQUIRE_FALSE(page1.next_page_token().empty());
  auto page2 = Parse<muster::v1::ListInstancesResponse>(
      http.Get("/v1/realms/default/instances?service=web&page_size=2&"
               "page_token=" +
               httplib::detail::encode_query_param(page1.next_page_token()))
          ->body);
  REQUIRE(page2.instances_size() == 1);
  CHECK(page2.instances(0).id() == "3");
  CHECK(page2.next_page_token().empty());
  // Enums by name, camelCase fields.
  CHECK(absl::StrContains(
      http.Get("/v1/realms/default/instances?service=api")->body,
      "\"adminState\":\"ADMIN_STATE_ENABLED\""));
}

TEST_CASE("GET one instance: check detail and the explanation", "[http_api]") {
  TestServer server;
  muster::v1::Instance ttl = MakeInstance("web", "9");
  ttl.mutable_check()->set_kind(muster::v1::CHECK_KIND_TTL);
  ttl.mutable_check()->mutable_ttl()->set_seconds(30);
  Register(server, "", ttl);
  HttpApi http(server, Clock::Real());

  auto result = http.Get("/v1/realms/default/services/web/instances/9");
  REQUIRE(result);
  REQUIRE(result->status == 200);
  auto doc = Parse<google::protobuf::Struct>(result->body);
  REQUIRE(doc.fields().count("instance") == 1);
  REQUIRE(doc.fields().count("explanation") == 1);
  const auto& explanation = doc.fields().at("explanation").struct_value();
  const std::string verdict = explanation.fields().at("verdict").string_value();
  CHECK(absl::StrContains(verdict, "web/9"));
  CHECK(absl::StrContains(verdict, "NOT routable"));
  CHECK(explanation.fields().at("routable").bool_value() == false);
  const auto& findings = explanation.fields().at("findings").list_value();
  REQUIRE(findings.values_size() >= 3);
  CHECK(findings.values(0).struct_value().fields().at("label").string_value() ==
        "Admin state");
  CHECK(explanation.fields().count("hints") == 1);

  // The instance is GetInstance's, health_detail included.
  std::string instance_json;
  REQUIRE(google::protobuf::util::MessageToJsonString(
              doc.fields().at("instance"), &instance_json)
              .ok());
  auto http_instance = Parse<muster::v1::Instance>(instance_json);
  muster::v1::GetInstanceRequest request;
  request.set_realm("default");
  request.set_service("web");
  request.set_id("9");
  muster::v1::Instance grpc_instance;
  REQUIRE(server.registry()
              .GetInstance(Context().get(), request, &grpc_instance)
              .ok());
  CHECK(MessageDifferencer::Equals(http_instance, grpc_instance));
  CHECK(absl::StrContains(result->body, "\"healthDetail\""));

  auto missing = http.Get("/v1/realms/default/services/web/instances/nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  Error error = ParseError(missing);
  CHECK(error.code == "NOT_FOUND");
  grpc_instance.Clear();
  request.set_id("nope");
  grpc::Status grpc_error =
      server.registry().GetInstance(Context().get(), request, &grpc_instance);
  CHECK(error.message == grpc_error.error_message());
}

TEST_CASE("GET events pages the history as ListEvents", "[http_api]") {
  TestServer server;
  Fleet(server);
  HttpApi http(server, Clock::Real());
  auto all = http.Get("/v1/realms/default/events?service=web");
  REQUIRE(all);
  REQUIRE(all->status == 200);
  auto http_events = Parse<muster::v1::ListEventsResponse>(all->body);
  muster::v1::ListEventsRequest request;
  request.set_realm("default");
  request.set_service("web");
  muster::v1::ListEventsResponse grpc_events;
  REQUIRE(server.registry()
              .ListEvents(Context().get(), request, &grpc_events)
              .ok());
  CHECK(MessageDifferencer::Equals(http_events, grpc_events));
  REQUIRE(http_events.events_size() == 3);
  CHECK(absl::StrContains(all->body, "\"type\":\"PUT\""));
  CHECK(absl::StrContains(all->body, "\"cause\":\"REGISTERED\""));

  auto one = Parse<muster::v1::ListEventsResponse>(
      http.Get("/v1/realms/default/events?service=web&id=2")->body);
  REQUIRE(one.events_size() == 1);
  CHECK(one.events(0).instance().id() == "2");

  auto page = Parse<muster::v1::ListEventsResponse>(
      http.Get("/v1/realms/default/events?limit=2")->body);
  REQUIRE(page.events_size() == 2);
  REQUIRE(page.next_revision() != 0);
  auto rest = Parse<muster::v1::ListEventsResponse>(
      http.Get(absl::StrCat("/v1/realms/default/events?from_revision=",
                            page.next_revision(),
                            "&from_event_index=", page.next_event_index()))
          ->body);
  CHECK(rest.events_size() == 2);
  CHECK(rest.events(0).revision() > page.events(1).revision());
}

TEST_CASE("bad paths, methods and parameters get JSON errors naming them",
          "[http_api]") {
  TestServer server;
  Fleet(server);
  HttpApi http(server, Clock::Real());

  auto unknown = http.Get("/v1/nothing/here");
  Error e = ParseError(unknown);
  CHECK(unknown->status == 404);
  CHECK(e.code == "NOT_FOUND");
  CHECK(absl::StrContains(e.message, "/v1/nothing/here"));

  auto method = http.Post("/v1/realms", "");
  e = ParseError(method);
  CHECK(method->status == 405);
  CHECK(method->get_header_value("Allow") == "GET");
  auto get_drain =
      http.Get("/v1/realms/default/services/web/instances/1/drain");
  CHECK(ParseError(get_drain).status == 405);
  CHECK(get_drain->get_header_value("Allow") == "POST");

  auto page_size = http.Get("/v1/realms/default/instances?page_size=5000");
  e = ParseError(page_size);
  CHECK(page_size->status == 400);
  CHECK(e.code == "INVALID_ARGUMENT");
  CHECK(absl::StartsWith(e.message, "page_size"));
  // The registry's own words, as gRPC gives them.
  muster::v1::ListInstancesRequest request;
  request.set_realm("default");
  request.set_page_size(5000);
  muster::v1::ListInstancesResponse ignored;
  CHECK(e.message == server.registry()
                         .ListInstances(Context().get(), request, &ignored)
                         .error_message());

  auto not_number = http.Get("/v1/realms/default/instances?page_size=ten");
  e = ParseError(not_number);
  CHECK(not_number->status == 400);
  CHECK(absl::StartsWith(e.message, "page_size: must be a whole number"));

  auto boolean = http.Get("/v1/realms/default/instances?routable_only=yes");
  CHECK(absl::StartsWith(ParseError(boolean).message, "routable_only:"));
  CHECK(boolean->status == 400);

  auto metadata = http.Get("/v1/realms/default/instances?metadata=team");
  CHECK(absl::StartsWith(ParseError(metadata).message, "metadata:"));

  auto typo = http.Get("/v1/realms/default/instances?servise=web");
  e = ParseError(typo);
  CHECK(typo->status == 400);
  CHECK(absl::StartsWith(e.message, "servise: unknown query parameter"));

  auto twice = http.Get("/v1/realms/default/instances?zone=a&zone=b");
  CHECK(absl::StartsWith(ParseError(twice).message, "zone: given 2 times"));

  auto realm = http.Get("/v1/realms/nope/services");
  e = ParseError(realm);
  CHECK(realm->status == 404);
  CHECK(absl::StrContains(e.message, "nope"));

  auto body = http.Post("/v1/realms/default/services/web/instances/1/drain",
                        "{\"reason\": 7}");
  CHECK(ParseError(body).message == "reason: must be a string");
  CHECK(body->status == 400);
  auto not_json = http.Post("/v1/realms/default/services/web/instances/1/drain",
                            "reason=x");
  CHECK(not_json->status == 400);

  auto from = http.Get("/v1/realms/default/watch?from_revision=-1");
  CHECK(from->status == 400);
  CHECK(absl::StartsWith(ParseError(from).message, "from_revision:"));
}

TEST_CASE("auth: tokens as gRPC checks them", "[http_api]") {
  AuthWorld world;
  HttpApi http(world.server(), world.clock(), /*auth=*/true);
  const std::string web = "/v1/realms/prod/services/web/instances/1";

  auto none = http.Get("/v1/realms/prod/instances");
  Error e = ParseError(none);
  CHECK(none->status == 401);
  CHECK(e.code == "UNAUTHENTICATED");
  CHECK(none->get_header_value("WWW-Authenticate") == "Bearer");
  CHECK(http.Get("/v1/info")->status == 401);
  CHECK(http.Get("/v1/realms/prod/instances", "not-a-secret")->status == 401);
  CHECK(http.Get("/v1/realms", world.expired())->status == 401);
  CHECK(http.Get("/v1/realms", world.revoked())->status == 401);

  // Another realm's token.
  auto other = http.Get("/v1/realms/prod/instances", world.admin_of_other());
  e = ParseError(other);
  CHECK(other->status == 403);
  CHECK(e.code == "PERMISSION_DENIED");
  CHECK(absl::StrContains(e.message, "realm \"prod\""));
  CHECK(http.Get(web, world.admin_of_other())->status == 403);
  CHECK(http.Get("/v1/realms/prod/watch", world.admin_of_other())->status ==
        403);

  // The reader reads but may not drain.
  CHECK(http.Get("/v1/realms/prod/instances", world.reader_of_prod())->status ==
        200);
  CHECK(http.Get(web, world.reader_of_prod())->status == 200);
  auto drain = http.Post(web + "/drain", "", world.reader_of_prod());
  e = ParseError(drain);
  CHECK(drain->status == 403);
  CHECK(absl::StrContains(e.message, "needs role write"));

  // The realm list and info show only the token's realms.
  auto realms = Parse<muster::v1::ListRealmsResponse>(
      http.Get("/v1/realms", world.reader_of_prod())->body);
  REQUIRE(realms.realms_size() == 1);
  CHECK(realms.realms(0).realm().name() == "prod");
  auto info = Parse<muster::v1::ServerInfo>(
      http.Get("/v1/info", world.reader_of_prod())->body);
  CHECK(info.realm_count() == 1);
  CHECK(info.data_dir().empty());
  auto all = Parse<muster::v1::ListRealmsResponse>(
      http.Get("/v1/realms", world.admin())->body);
  CHECK(all.realms_size() == 3);

  // The admin drains; the actor is its token.
  auto drained =
      http.Post(web + "/drain", "{\"reason\":\"deploy\"}", world.admin());
  REQUIRE(drained);
  INFO(drained->body);
  REQUIRE(drained->status == 200);
  auto instance = Parse<muster::v1::Instance>(drained->body);
  CHECK(instance.admin_state() == muster::v1::ADMIN_STATE_DRAINING);
  CHECK(instance.admin_reason() == "deploy");
}

TEST_CASE("drain and enable over HTTP are seen by gRPC", "[http_api]") {
  TestServer server;
  Fleet(server);
  HttpApi http(server, Clock::Real());
  const std::string web = "/v1/realms/default/services/web/instances/2";

  auto drained = http.Post(web + "/drain", "{\"reason\": \"kernel update\"}");
  REQUIRE(drained);
  INFO(drained->body);
  REQUIRE(drained->status == 200);
  auto instance = Parse<muster::v1::Instance>(drained->body);
  CHECK(instance.admin_state() == muster::v1::ADMIN_STATE_DRAINING);

  // gRPC: the instance and the change log.
  muster::v1::GetInstanceRequest get;
  get.set_service("web");
  get.set_id("2");
  muster::v1::Instance seen;
  REQUIRE(server.registry().GetInstance(Context().get(), get, &seen).ok());
  CHECK(seen.admin_state() == muster::v1::ADMIN_STATE_DRAINING);
  CHECK(seen.admin_reason() == "kernel update");
  muster::v1::ListEventsRequest events;
  events.set_service("web");
  events.set_id("2");
  muster::v1::ListEventsResponse history;
  REQUIRE(server.registry().ListEvents(Context().get(), events, &history).ok());
  REQUIRE(history.events_size() == 2);
  CHECK(history.events(1).cause() == muster::v1::Event::ADMIN_CHANGED);
  CHECK(absl::StrContains(history.events(1).reason(), "kernel update"));
  CHECK(history.events(1).actor() == "anonymous");

  // curl -d sends the body form-encoded; it is still the JSON body.
  {
    httplib::Client client("127.0.0.1", http.port());
    auto form = client.Post((web + "/drain").c_str(), "{\"reason\":\"curl\"}",
                            "application/x-www-form-urlencoded");
    REQUIRE(form);
    INFO(form->body);
    CHECK(form->status == 200);
    CHECK(Parse<muster::v1::Instance>(form->body).admin_reason() == "curl");
  }
  auto query = http.Post(web + "/drain?reason=x", "");
  CHECK(query->status == 400);
  CHECK(absl::StartsWith(ParseError(query).message, "reason=x: unknown"));

  auto enabled = http.Post(web + "/enable", "");
  REQUIRE(enabled);
  REQUIRE(enabled->status == 200);
  CHECK(Parse<muster::v1::Instance>(enabled->body).admin_state() ==
        muster::v1::ADMIN_STATE_ENABLED);
  auto missing =
      http.Post("/v1/realms/default/services/web/instances/404/drain", "");
  CHECK(ParseError(missing).code == "NOT_FOUND");
}

TEST_CASE("watch: the snapshot, then a gRPC registration within a second",
          "[http_api]") {
  TestServer server;
  Fleet(server);
  HttpApi http(server, Clock::Real());
  SseReader reader(http.port(), "/v1/realms/default/watch?service=web", {});
  REQUIRE(reader.WaitFor(
      [](const std::vector<Sse>& m) { return Has(m, "snapshot"); }));
  const std::vector<Sse> first = reader.messages();
  REQUIRE(first[0].event == "snapshot");
  auto snapshot = Parse<google::protobuf::Struct>(first[0].data);
  CHECK(snapshot.fields().at("instances").list_value().values_size() == 3);
  CHECK(
      static_cast<uint64_t>(snapshot.fields().at("revision").number_value()) ==
      std::stoull(first[0].id));
  CHECK(reader.status() == 200);

  const auto start = std::chrono::steady_clock::now();
  Register(server, "", MakeInstance("web", "new"));
  REQUIRE(reader.WaitFor(
      [](const std::vector<Sse>& m) { return Has(m, "put", "\"id\":\"new\""); },
      std::chrono::seconds(1)));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  for (const Sse& m : reader.messages()) {
    if (m.event != "put") continue;
    auto event = Parse<muster::v1::Event>(m.data);
    CHECK(event.type() == muster::v1::Event::PUT);
    CHECK(std::to_string(event.revision()) == m.id);
  }
  // Another service's registration is not on this stream; progress comes
  // while idle (every 200 ms here).
  Register(server, "", MakeInstance("api", "other"));
  REQUIRE(reader.WaitFor(
      [](const std::vector<Sse>& m) { return Has(m, "progress"); }));
  CHECK_FALSE(Has(reader.messages(), "put", "\"id\":\"other\""));
}

TEST_CASE("watch: Last-Event-ID resumes with no gap and no duplicate",
          "[http_api]") {
  TestServer server;
  Fleet(server);
  HttpApi http(server, Clock::Real());
  std::string last_id;
  {
    SseReader reader(http.port(), "/v1/realms/default/watch", {});
    REQUIRE(reader.WaitFor(
        [](const std::vector<Sse>& m) { return Has(m, "snapshot"); }));
    Register(server, "", MakeInstance("web", "r1"));
    REQUIRE(reader.WaitFor([](const std::vector<Sse>& m) {
      return Has(m, "put", "\"id\":\"r1\"");
    }));
    for (const Sse& m : reader.messages())
      if (m.event == "put") last_id = m.id;
  }
  REQUIRE_FALSE(last_id.empty());
  // Changes while disconnected.
  Register(server, "", MakeInstance("web", "r2"));
  Register(server, "", MakeInstance("web", "r3"));
  httplib::Headers headers{{"Last-Event-ID", last_id}};
  SseReader resumed(http.port(), "/v1/realms/default/watch", headers);
  REQUIRE(resumed.WaitFor([](const std::vector<Sse>& m) {
    return Has(m, "put", "\"id\":\"r3\"");
  }));
  std::vector<std::string> ids;
  for (const Sse& m : resumed.messages()) {
    CHECK(m.event != "snapshot");
    if (m.event == "put") {
      ids.push_back(Parse<muster::v1::Event>(m.data).instance().id());
    }
  }
  CHECK(ids == std::vector<std::string>{"r2", "r3"});
}

TEST_CASE("watch: a slow consumer is cut off and told to reset", "[http_api]") {
  TestServer::Options options;
  // A small budget per watcher: a few of the big events below.
  options.registry.watch.buffer_bytes = 128 * 1024;
  TestServer server(options);
  HttpApi http(server, Clock::Real());
  SseReader reader(http.port(), "/v1/realms/default/watch", {}, /*hold=*/true);
  REQUIRE(reader.WaitFor(
      [](const std::vector<Sse>& m) { return Has(m, "snapshot"); }));
  REQUIRE(Eventually(
      [&] { return server.core().change_log().GetStats().watchers == 1; }));
  // Big events until the hub cuts the stream off (it no longer counts).
  int registered = 0;
  while (server.core().change_log().GetStats().watchers == 1 &&
         registered < 2000) {
    muster::v1::Instance big = MakeInstance("web", std::to_string(registered));
    for (int k = 0; k < 60; ++k) {
      (*big.mutable_metadata())[absl::StrCat("key", k)] = std::string(500, 'x');
    }
    Register(server, "", big);
    ++registered;
  }
  INFO(registered << " registered");
  REQUIRE(server.core().change_log().GetStats().watchers == 0);
  reader.Release();
  REQUIRE(
      reader.WaitFor([](const std::vector<Sse>& m) { return Has(m, "reset"); },
                     std::chrono::seconds(20)));
  const std::vector<Sse> messages = reader.messages();
  CHECK(messages.back().event == "reset");
  auto error = Parse<google::protobuf::Struct>(messages.back().data);
  CHECK(error.fields().at("code").string_value() == "RESOURCE_EXHAUSTED");
  CHECK(Eventually([&] { return reader.ended(); }));
  CHECK(Eventually([&] { return http.api().open_streams() == 0; }));
}

TEST_CASE("watch: streams beyond the limit get 503, other routes still answer",
          "[http_api]") {
  TestServer server;
  HttpApi http(server, Clock::Real(), false, /*max_streams=*/2);
  SseReader a(http.port(), "/v1/realms/default/watch", {});
  SseReader b(http.port(), "/v1/realms/default/watch", {});
  REQUIRE(a.WaitFor([](const std::vector<Sse>& m) { return !m.empty(); }));
  REQUIRE(b.WaitFor([](const std::vector<Sse>& m) { return !m.empty(); }));
  auto third = http.Get("/v1/realms/default/watch");
  Error e = ParseError(third);
  CHECK(third->status == 503);
  CHECK(absl::StrContains(e.message, "too many event streams"));
  // Two streams hold two workers; the endpoint's own two still serve.
  auto health = http.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(http.Get("/v1/realms")->status == 200);
}

}  // namespace
}  // namespace muster::testing
