#include "http/api.h"

#include <httplib.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "codec/model_proto.h"
#include "explain/explain.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "muster/v1/realm.pb.h"
#include "muster/v1/registry.pb.h"

namespace muster::http {
namespace {

using registry::Registry;
using registry::Token;
using registry::TokenRole;

constexpr char kJson[] = "application/json";
constexpr absl::string_view kBearer = "bearer ";
// How long a read with min_revision waits for this replica (as gRPC).
constexpr absl::Duration kMaxRevisionWait = absl::Seconds(10);
// How long a stream sleeps at most between looks (shutdown, progress).
constexpr absl::Duration kStreamPoll = absl::Milliseconds(500);

// The HTTP status of a gRPC code (README "HTTP API", "Errors").
int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options)
           .ok()) {
    return "{}";
  }
  return out;
}

// {"code": "NOT_FOUND", "message": "...", "status": 404}
std::string ErrorJson(const absl::Status& status) {
  google::protobuf::Struct body;
  auto& fields = *body.mutable_fields();
  fields["code"].set_string_value(absl::StatusCodeToString(status.code()));
  fields["message"].set_string_value(std::string(status.message()));
  fields["status"].set_number_value(HttpStatus(status.code()));
  return ToJson(body);
}

void SendError(httplib::Response& res, const absl::Status& status) {
  res.status = HttpStatus(status.code());
  if (res.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  res.set_content(ErrorJson(status), kJson);
}

void SendMessage(httplib::Response& res,
                 const google::protobuf::Message& message) {
  res.status = 200;
  res.set_content(ToJson(message), kJson);
}

// The query parameters a route takes; anything else is refused, naming
// it, so that a misspelt filter is not silently ignored.
absl::Status OnlyParams(const httplib::Request& req,
                        std::initializer_list<absl::string_view> allowed) {
  for (const auto& [name, value] : req.params) {
    bool known = false;
    for (absl::string_view a : allowed) known = known || name == a;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": unknown query parameter of ", req.path,
                       allowed.size() == 0
                           ? std::string(" (it takes none)")
                           : absl::StrCat(" (it takes ",
                                          absl::StrJoin(allowed, ", "), ")")));
    }
  }
  return absl::OkStatus();
}

// The single value of `name`, or nullopt; INVALID_ARGUMENT when repeated.
absl::StatusOr<std::optional<std::string>> Param(const httplib::Request& req,
                                                 const std::string& name) {
  const size_t count = req.get_param_value_count(name.c_str());
  if (count == 0) return std::optional<std::string>();
  if (count > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": given ", count, " times; give it once"));
  }
  return std::optional<std::string>(req.get_param_value(name.c_str()));
}

absl::Status StringParam(const httplib::Request& req, const std::string& name,
                         std::string* out) {
  absl::StatusOr<std::optional<std::string>> value = Param(req, name);
  if (!value.ok()) return value.status();
  if (value->has_value()) *out = **value;
  return absl::OkStatus();
}

template <typename Int>
absl::Status UintParam(const httplib::Request& req, const std::string& name,
                       Int* out) {
  absl::StatusOr<std::optional<std::string>> value = Param(req, name);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  uint64_t parsed = 0;
  if (!absl::SimpleAtoi(**value, &parsed) ||
      parsed > std::numeric_limits<Int>::max() ||
      absl::StrContains(**value, '-') || absl::StrContains(**value, '+')) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": must be a whole number from 0 to ",
        std::numeric_limits<Int>::max(), ", not \"", **value, "\""));
  }
  *out = static_cast<Int>(parsed);
  return absl::OkStatus();
}

absl::Status BoolParam(const httplib::Request& req, const std::string& name,
                       bool* out) {
  absl::StatusOr<std::optional<std::string>> value = Param(req, name);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  if (**value == "true" || **value == "1") {
    *out = true;
  } else if (**value == "false" || **value == "0") {
    *out = false;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": must be true or false, not \"", **value, "\""));
  }
  return absl::OkStatus();
}

// Every route of the API: (method, pattern). The catch-all tells 405
// from 404 with it.
struct Route {
  const char* method;
  const char* pattern;
};
constexpr char kRealmPart[] = "([^/]+)";
const std::vector<Route>& Routes() {
  static const auto* routes = new std::vector<Route>{
      {"GET", "/v1/info"},
      {"GET", "/v1/realms"},
      {"GET", "/v1/realms/([^/]+)/services"},
      {"GET", "/v1/realms/([^/]+)/instances"},
      {"GET", "/v1/realms/([^/]+)/services/([^/]+)/instances/([^/]+)"},
      {"GET", "/v1/realms/([^/]+)/events"},
      {"GET", "/v1/realms/([^/]+)/watch"},
      {"POST", "/v1/realms/([^/]+)/services/([^/]+)/instances/([^/]+)/drain"},
      {"POST", "/v1/realms/([^/]+)/services/([^/]+)/instances/([^/]+)/enable"},
  };
  (void)kRealmPart;
  return *routes;
}

// One open event stream: the watcher, woken by the hub.
struct Stream {
  absl::Mutex mu;
  bool woken ABSL_GUARDED_BY(mu) = false;
  absl::CondVar cv;

  void Wake() {
    absl::MutexLock lock(&mu);
    woken = true;
    cv.Signal();
  }
  // Until woken or `timeout`; clears the flag.
  void Wait(absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    if (!woken) cv.WaitWithTimeout(&mu, timeout);
    woken = false;
  }
};

// One SSE message; `id` 0: none.
std::string SseMessage(uint64_t id, absl::string_view event,
                       absl::string_view data) {
  std::string out;
  if (id != 0) absl::StrAppend(&out, "id: ", id, "\n");
  absl::StrAppend(&out, "event: ", event, "\n");
  // JSON from MessageToJsonString has no raw newlines; split anyway.
  for (absl::string_view line : absl::StrSplit(data, '\n'))
    absl::StrAppend(&out, "data: ", line, "\n");
  out += "\n";
  return out;
}

}  // namespace

// The handlers, with the state they share.
class Api::Handlers final {
 public:
  explicit Handlers(Api& api) : api_(api) {}

  // The registry, or UNAVAILABLE while starting or stopping.
  absl::StatusOr<Registry*> Core() const {
    Registry* registry = api_.registry_.load();
    if (registry == nullptr || api_.shut_down_.load()) {
      return absl::UnavailableError("musterd is starting or stopping");
    }
    return registry;
  }

  // The caller's token (null with auth off): UNAUTHENTICATED as gRPC
  // says it, for HTTP's header.
  absl::StatusOr<std::shared_ptr<const Token>> Authenticate(
      Registry& registry, const httplib::Request& req) const {
    if (!api_.options_.auth) return std::shared_ptr<const Token>();
    if (!req.has_header("Authorization")) {
      return absl::UnauthenticatedError(
          "missing access token: send the header \"Authorization: Bearer "
          "<secret>\"");
    }
    const std::string header = req.get_header_value("Authorization");
    const absl::string_view value(header);
    if (value.size() <= kBearer.size() ||
        !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
      // The value is never repeated: it may be a secret sent wrongly.
      return absl::UnauthenticatedError(
          "the Authorization header is not \"Bearer <secret>\"");
    }
    return registry.tokens().Authenticate(
        absl::StripAsciiWhitespace(value.substr(kBearer.size())),
        api_.clock_.Now());
  }

  // Authenticates and authorizes `role` in `realm` (empty: "default";
  // for a write `service` too), as gRPC's Auth::Check.
  absl::StatusOr<std::shared_ptr<const Token>> Authorize(
      Registry& registry, const httplib::Request& req, TokenRole role,
      absl::string_view realm, absl::string_view service) const {
    absl::StatusOr<std::shared_ptr<const Token>> token =
        Authenticate(registry, req);
    if (!token.ok() || *token == nullptr) return token;
    absl::Status allowed = registry::TokenAuthorize(
        **token, role,
        realm.empty() ? absl::string_view(registry::kDefaultRealm) : realm,
        service);
    if (!allowed.ok()) return allowed;
    return token;
  }

  absl::StatusOr<std::shared_ptr<const Token>> AuthorizeAnyRealm(
      Registry& registry, const httplib::Request& req) const {
    absl::StatusOr<std::shared_ptr<const Token>> token =
        Authenticate(registry, req);
    if (!token.ok() || *token == nullptr) return token;
    absl::Status allowed = registry::TokenAuthorizeAnyRealm(
        **token, TokenRole::kRead, absl::StrCat(req.method, " ", req.path));
    if (!allowed.ok()) return allowed;
    return token;
  }

  // Waits until this replica has applied `min_revision` (0: no wait).
  static absl::Status AwaitRevision(Registry& registry, uint64_t min_revision) {
    if (min_revision == 0) return absl::OkStatus();
    absl::Notification done;
    absl::Status reached;
    registry.WhenApplied(min_revision, absl::Now() + kMaxRevisionWait,
                         [&](absl::Status status) {
                           reached = std::move(status);
                           done.Notify();
                         });
    done.WaitForNotification();
    return reached;
  }

  void Info(const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<Registry*> core = Core();
    if (!core.ok()) return SendError(res, core.status());
    absl::StatusOr<std::shared_ptr<const Token>> token =
        AuthorizeAnyRealm(**core, req);
    if (!token.ok()) return SendError(res, token.status());
    if (absl::Status p = OnlyParams(req, {}); !p.ok()) return SendError(res, p);
    muster::v1::ServerInfo info;
    registry::FillServerInfo(**core, api_.options_.facts, token->get(), &info);
    SendMessage(res, info);
  }

  void Realms(const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<Registry*> core = Core();
    if (!core.ok()) return SendError(res, core.status());
    absl::StatusOr<std::shared_ptr<const Token>> token =
        AuthorizeAnyRealm(**core, req);
    if (!token.ok()) return SendError(res, token.status());
    if (absl::Status p = OnlyParams(req, {}); !p.ok()) return SendError(res, p);
    muster::v1::ListRealmsResponse response;
    registry::FillRealmListing(**core, token->get(), &response);
    SendMessage(res, response);
  }

  void Services(const httplib::Request& req, httplib::Response& res) {
    const std::string realm = req.matches[1];
    absl::StatusOr<Registry*> core = Core();
    if (!core.ok()) return SendError(res, core.status());
    absl::StatusOr<std::shared_ptr<const Token>> token =
        Authorize(**core, req, TokenRole::kRead, realm, "");
    if (!token.ok()) return SendError(res, token.status());
    uint32_t page_size = 0;
    std::string page_token;
    uint64_t min_revision = 0;
    absl::Status parsed =
        OnlyParams(req, {"page_size", "page_token", "min_revision"});
    if (parsed.ok()) parsed = UintParam(req, "page_size", &page_size);
    if (parsed.ok()) parsed = StringParam(req, "page_token", &page_token);
    if (parsed.ok()) parsed = UintParam(req, "min_revision", &min_revision);
    if (parsed.ok()) parsed = AwaitRevision(**core, min_revision);
    if (!parsed.ok()) return SendError(res, parsed);
    absl::StatusOr<registry::ServicesPage> page =
        (*core)->instances().ListServices(realm, page_size, page_token);
    if (!page.ok()) return SendError(res, page.status());
    muster::v1::ListServicesResponse response;
    registry::ToProto(*page, &response);
    SendMessage(res, response);
  }

  void Instances(const httplib::Request& req, httplib::Response& res) {
    const std::string realm = req.matches[1];
    absl::StatusOr<Registry*> core = Core();
    if (!core.ok()) return SendError(res, core.status());
    absl::StatusOr<std::shared_ptr<const Token>> token =
        Authorize(**core, req, TokenRole::kRead, realm, "");
    if (!token.ok()) return SendError(res, token.status());
    muster::v1::ListInstancesRequest request;
    request.set_realm(realm);
    uint32_t page_size = 0;
    uint64_t min_revision = 0;
    bool routable_only = false;
    absl::Status parsed =
        OnlyParams(req, {"service", "routable_only", "tag", "metadata", "zone",
                         "page_size", "page_token", "min_revision"});
    if (parsed.ok())
      parsed = StringParam(req, "service", request.mutable_service());
    if (parsed.ok()) parsed = BoolParam(req, "routable_only", &routable_only);
    if (parsed.ok()) parsed = StringParam(req, "zone", request.mutable_zone());
    if (parsed.ok()) parsed = UintParam(req, "page_size", &page_size);
    if (parsed.ok())
      parsed = StringParam(req, "page_token", request.mutable_page_token());
    if (parsed.ok()) parsed = UintParam(req, "min_revision", &min_revision);
    if (!parsed.ok()) return SendError(res, parsed);
    const size_t tags = req.get_param_value_count("tag");
    for (size_t i = 0; i < tags; ++i)
      request.add_tags(req.get_param_value("tag", i));
    const size_t metadata = req.get_param_value_count("metadata");
    for (size_t i = 0; i < metadata; ++i) {
      const std::string pair = req.get_param_value("metadata", i);
      const size_t eq = pair.find('=');
      if (eq == std::string::npos) {
        return SendError(
            res, absl::InvalidArgumentError(absl::StrCat(
                     "metadata: must be key=value, not \"", pair, "\"")));
      }
      (*request.mutable_metadata())[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
    request.set_routable_only(routable_only);
    request.set_page_size(page_size);
    if (absl::Status reached = AwaitRevision(**core, min_revision);
        !reached.ok()) {
      return SendError(res, reached);
    }
    absl::StatusOr<registry::InstancePage> page =
        (*core)->instances().List(registry::ListQueryFromProto(request));
    if (!page.ok()) return SendError(res, page.status());
    muster::v1::ListInstancesResponse response;
    registry::ToProto(*page, &response);
    SendMessage(res, response);
  }

  void Instance(const httplib::Request& req, httplib::Response& res) {
    const registry::InstanceKey key{req.matches[1], req.matches[2],
                                    req.matches[3]};
    absl::StatusOr<Registry*> core = Core();
    if (!core.ok()) return SendError(res, core.status());
    absl::StatusOr<std::shared_ptr<const Token>> token =
        Authorize(**core, req, TokenRole::kRead, key.realm, "");
    if (!token.ok()) return SendError(res, token.status());
    uint64_t min_revision = 0;
    absl::Status parsed = OnlyParams(req, {"min_revision"});
    if (parsed.ok()) parsed = UintParam(req, "min_revision", &min_revision);
    if (parsed.ok()) parsed = AwaitRevision(**core, min_revision);
    if (!parsed.ok()) return SendError(res, parsed);
    absl::StatusOr<std::shared_ptr<const registry::Instance>> instance =
        (*core)->instances().Get(key);
    if (!instance.ok()) return SendError(res, instance.status());
    muster::v1::Instance proto;
    registry::ToProto(**instance, &proto);
    registry::FillHealthDetail((*core)->instances().HealthDetailOf(**instance),
                               &proto);
    const explain::Explanation explanation =
        explain::Explain(proto, api_.clock_.Now());
    google::protobuf::Struct doc;
    auto& fields = *doc.mutable_fields();
    fields["routable"].set_bool_value(explanation.routable);
    fields["verdict"].set_string_value(explanation.verdict);
    auto* findings = fields["findings"].mutable_list_value();
    for (const auto& [label, text] : explanation.findings) {
      auto& finding =
          *findings->add_values()->mutable_struct_value()->mutable_fields();
      finding["label"].set_string_value(label);
      finding["text"].set_string_value(text);
    }
    auto* hints = fields["hints"].mutable_list_value();
    for (const std::string& hint : explanation.hints)
      hints->add_values()->set_string_value(hint);
    res.status = 200;
    res.set_content(absl::StrCat("{\"instance\":", ToJson(proto),
                                 ",\"explanation\":", ToJson(doc), "}"),
                    kJson);
  }

  void Events(const httplib::Request& req, httplib::Response& res) {
    const std::string realm = req.matches[1];
    absl::StatusOr<Registry*> core = Core();
    if (!core.ok()) return SendError(res, core.status());
    absl::StatusOr<std::shared_ptr<const Token>> token =
        Authorize(**core, req, TokenRole::kRead, realm, "");
    if (!token.ok()) return SendError(res, token.status());
    muster::v1::ListEventsRequest request;
    request.set_realm(realm);
    uint64_t from_revision = 0;
    uint32_t from_event_index = 0;
    uint32_t limit = 0;
    absl::Status parsed = OnlyParams(
        req, {"service", "id", "from_revision", "from_event_index", "limit"});
    if (parsed.ok())
      parsed = StringParam(req, "service", request.mutable_service());
    if (parsed.ok()) parsed = StringParam(req, "id", request.mutable_id());
    if (parsed.ok()) parsed = UintParam(req, "from_revision", &from_revision);
    if (parsed.ok())
      parsed = UintParam(req, "from_event_index", &from_event_index);
    if (parsed.ok()) parsed = UintParam(req, "limit", &limit);
    if (!parsed.ok()) return SendError(res, parsed);
    request.set_from_revision(from_revision);
    request.set_from_event_index(from_event_index);
    request.set_limit(limit);
    absl::StatusOr<registry::ChangeLog::EventsPage> page =
        (*core)->change_log().ListEvents(
            registry::EventsQueryFromProto(request));
    if (!page.ok()) return SendError(res, page.status());
    muster::v1::ListEventsResponse response;
    registry::ToProto(*page, &response);
    SendMessage(res, response);
  }

  void SetAdminState(const httplib::Request& req, httplib::Response& res,
                     AdminState state) {
    const registry::InstanceKey key{req.matches[1], req.matches[2],
                                    req.matches[3]};
    absl::StatusOr<Registry*> core = Core();
    if (!core.ok()) return SendError(res, core.status());
    absl::StatusOr<std::shared_ptr<const Token>> token =
        Authorize(**core, req, TokenRole::kWrite, key.realm, key.service);
    if (!token.ok()) return SendError(res, token.status());
    // httplib also files a form-encoded body (curl -d) under params: only
    // the query string counts here.
    if (const size_t q = req.target.find('?');
        q != std::string::npos && q + 1 < req.target.size()) {
      return SendError(
          res, absl::InvalidArgumentError(absl::StrCat(
                   req.target.substr(q + 1),
                   ": unknown query parameter (drain and enable take none; "
                   "the reason goes in the body: {\"reason\": \"...\"})")));
    }
    std::string reason;
    if (!absl::StripAsciiWhitespace(req.body).empty()) {
      google::protobuf::Struct body;
      if (!google::protobuf::util::JsonStringToMessage(req.body, &body).ok()) {
        return SendError(res, absl::InvalidArgumentError(
                                  "the request body is not a JSON object "
                                  "such as {\"reason\": \"...\"}"));
      }
      for (const auto& [name, value] : body.fields()) {
        if (name != "reason") {
          return SendError(
              res, absl::InvalidArgumentError(absl::StrCat(
                       name, ": unknown field of the body (it takes reason)")));
        }
        if (value.kind_case() != google::protobuf::Value::kStringValue) {
          return SendError(
              res, absl::InvalidArgumentError("reason: must be a string"));
        }
        reason = value.string_value();
      }
    }
    const std::string actor = *token != nullptr
                                  ? absl::StrCat("token:", (*token)->name)
                                  : std::string("anonymous");
    absl::Notification done;
    absl::StatusOr<std::shared_ptr<const registry::Instance>> result;
    (*core)->instances().SetAdminState(
        key, state, std::move(reason), actor,
        [&](absl::StatusOr<std::shared_ptr<const registry::Instance>> r) {
          result = std::move(r);
          done.Notify();
        });
    done.WaitForNotification();
    if (!result.ok()) return SendError(res, result.status());
    muster::v1::Instance proto;
    registry::ToProto(**result, &proto);
    SendMessage(res, proto);
  }

  void Watch(const httplib::Request& req, httplib::Response& res) {
    const std::string realm = req.matches[1];
    absl::StatusOr<Registry*> core = Core();
    if (!core.ok()) return SendError(res, core.status());
    absl::StatusOr<std::shared_ptr<const Token>> token =
        Authorize(**core, req, TokenRole::kRead, realm, "");
    if (!token.ok()) return SendError(res, token.status());
    registry::WatchSpec spec;
    spec.realm = realm;
    spec.progress_notify = true;
    absl::Status parsed = OnlyParams(req, {"service", "from_revision"});
    if (parsed.ok()) parsed = StringParam(req, "service", &spec.service);
    if (parsed.ok())
      parsed = UintParam(req, "from_revision", &spec.from_revision);
    if (parsed.ok() && req.has_header("Last-Event-ID")) {
      // The last message the client saw: resume after it.
      uint64_t last = 0;
      const std::string value = req.get_header_value("Last-Event-ID");
      if (!absl::SimpleAtoi(value, &last) ||
          last == std::numeric_limits<uint64_t>::max()) {
        parsed = absl::InvalidArgumentError(absl::StrCat(
            "Last-Event-ID: must be a revision, not \"", value, "\""));
      } else {
        spec.from_revision = last + 1;
      }
    }
    if (!parsed.ok()) return SendError(res, parsed);
    if (api_.streams_.fetch_add(1) >= api_.options_.max_streams) {
      api_.streams_.fetch_sub(1);
      return SendError(
          res, absl::UnavailableError(absl::StrCat(
                   "too many event streams: ", api_.options_.max_streams,
                   " are open, the most musterd serves; retry later")));
    }
    auto stream = std::make_shared<Stream>();
    absl::StatusOr<std::shared_ptr<registry::Watcher>> watcher =
        (*core)->change_log().OpenWatch(spec,
                                        [raw = stream.get()] { raw->Wake(); });
    if (!watcher.ok()) {
      api_.streams_.fetch_sub(1);
      return SendError(res, watcher.status());
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    Api* api = &api_;
    Registry* registry = *core;
    auto state = std::make_shared<StreamState>(api, registry, stream,
                                               std::move(watcher).value());
    res.set_chunked_content_provider("text/event-stream",
                                     [state](size_t, httplib::DataSink& sink) {
                                       state->Run(sink);
                                       sink.done();
                                       return true;
                                     });
  }

 private:
  // One stream's loop, on the worker thread of its request.
  class StreamState {
   public:
    StreamState(Api* api, Registry* registry, std::shared_ptr<Stream> stream,
                std::shared_ptr<registry::Watcher> watcher)
        : api_(api),
          registry_(registry),
          stream_(std::move(stream)),
          watcher_(std::move(watcher)) {}
    ~StreamState() {
      registry_->change_log().CloseWatch(watcher_);
      api_->streams_.fetch_sub(1);
    }

    void Run(httplib::DataSink& sink) {
      auto write = [&sink](const std::string& text) {
        return sink.is_writable() && sink.write(text.data(), text.size());
      };
      muster::v1::ListInstancesResponse snapshot;  // instances + revision
      absl::Time progress_due = absl::Now() + api_->options_.progress_interval;
      while (!api_->shut_down_.load()) {
        registry::WatchBatch batch;
        absl::Status end;
        switch (watcher_->Next(&batch, &end)) {
          case registry::Watcher::Poll::kEnded:
            if (!absl::IsUnavailable(end)) {
              // Cut off (slow), compacted away or realm deleted: the
              // client must reload.
              write(SseMessage(0, "reset", ErrorJson(end)));
            }
            return;
          case registry::Watcher::Poll::kIdle: {
            const absl::Time now = absl::Now();
            if (now >= progress_due) {
              registry::WatchBatch progress;
              if (watcher_->Progress(&progress)) {
                google::protobuf::Struct data;
                (*data.mutable_fields())["revision"].set_number_value(
                    static_cast<double>(progress.revision));
                if (!write(SseMessage(progress.revision, "progress",
                                      ToJson(data)))) {
                  return;
                }
                watcher_->Sent();
              }
              progress_due = now + api_->options_.progress_interval;
            }
            stream_->Wait(
                std::min(kStreamPoll,
                         std::max(progress_due - now, absl::Milliseconds(1))));
            continue;
          }
          case registry::Watcher::Poll::kBatch:
            break;
        }
        progress_due = absl::Now() + api_->options_.progress_interval;
        bool ok = true;
        switch (batch.kind) {
          case registry::WatchBatch::Kind::kSnapshot:
            for (const registry::Event& event : batch.events) {
              if (event.instance != nullptr)
                registry::ToProto(*event.instance, snapshot.add_instances());
            }
            break;
          case registry::WatchBatch::Kind::kSnapshotEnd: {
            std::string data = "{\"instances\":[";
            for (int i = 0; i < snapshot.instances_size(); ++i) {
              if (i > 0) data += ",";
              data += ToJson(snapshot.instances(i));
            }
            absl::StrAppend(&data, "],\"revision\":", batch.revision, "}");
            snapshot.Clear();
            ok = write(SseMessage(batch.revision, "snapshot", data));
            break;
          }
          case registry::WatchBatch::Kind::kEvents: {
            std::string text;
            for (size_t i = 0; i < batch.events.size(); ++i) {
              const registry::Event& event = batch.events[i];
              muster::v1::Event proto;
              registry::ToProto(event, &proto);
              // The id (resume point) goes on the last event of a
              // revision only, so a resume never skips half a revision.
              const bool last_of_revision =
                  i + 1 == batch.events.size() ||
                  batch.events[i + 1].revision != event.revision;
              absl::StrAppend(
                  &text, SseMessage(last_of_revision ? event.revision : 0,
                                    event.type == registry::EventType::kDelete
                                        ? "delete"
                                        : "put",
                                    ToJson(proto)));
            }
            ok = write(text);
            break;
          }
          case registry::WatchBatch::Kind::kProgress: {
            google::protobuf::Struct data;
            (*data.mutable_fields())["revision"].set_number_value(
                static_cast<double>(batch.revision));
            ok = write(SseMessage(batch.revision, "progress", ToJson(data)));
            break;
          }
        }
        watcher_->Sent();
        if (!ok) return;
      }
    }

   private:
    Api* const api_;
    Registry* const registry_;
    const std::shared_ptr<Stream> stream_;
    const std::shared_ptr<registry::Watcher> watcher_;
  };

  Api& api_;
};

Api::Api(Options options, Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      handlers_(std::make_unique<Handlers>(*this)) {}

Api::~Api() { Shutdown(); }

void Api::Attach(registry::Registry* registry) { registry_.store(registry); }

void Api::Shutdown() { shut_down_.store(true); }

void Api::Install(httplib::Server& server) {
  Handlers* h = handlers_.get();
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  server.Get("/v1/info", [h](Req req, Res res) { h->Info(req, res); });
  server.Get("/v1/realms", [h](Req req, Res res) { h->Realms(req, res); });
  server.Get("/v1/realms/([^/]+)/services",
             [h](Req req, Res res) { h->Services(req, res); });
  server.Get("/v1/realms/([^/]+)/instances",
             [h](Req req, Res res) { h->Instances(req, res); });
  server.Get("/v1/realms/([^/]+)/services/([^/]+)/instances/([^/]+)",
             [h](Req req, Res res) { h->Instance(req, res); });
  server.Get("/v1/realms/([^/]+)/events",
             [h](Req req, Res res) { h->Events(req, res); });
  server.Get("/v1/realms/([^/]+)/watch",
             [h](Req req, Res res) { h->Watch(req, res); });
  server.Post("/v1/realms/([^/]+)/services/([^/]+)/instances/([^/]+)/drain",
              [h](Req req, Res res) {
                h->SetAdminState(req, res, AdminState::kDraining);
              });
  server.Post("/v1/realms/([^/]+)/services/([^/]+)/instances/([^/]+)/enable",
              [h](Req req, Res res) {
                h->SetAdminState(req, res, AdminState::kEnabled);
              });

  // Every other /v1 request: 405 naming the methods the path takes, or
  // 404 naming the path.
  auto other = [](Req req, Res res) {
    std::vector<std::string> allowed;
    for (const Route& route : Routes()) {
      if (std::regex_match(req.path, std::regex(route.pattern)))
        allowed.push_back(route.method);
    }
    if (!allowed.empty()) {
      res.set_header("Allow", absl::StrJoin(allowed, ", "));
      res.status = 405;
      google::protobuf::Struct body;
      auto& fields = *body.mutable_fields();
      fields["code"].set_string_value("METHOD_NOT_ALLOWED");
      fields["message"].set_string_value(
          absl::StrCat(req.method, " ", req.path, ": method not allowed (use ",
                       absl::StrJoin(allowed, " or "), ")"));
      fields["status"].set_number_value(405);
      res.set_content(ToJson(body), kJson);
      return;
    }
    SendError(res, absl::NotFoundError(
                       absl::StrCat("no such API path: ", req.method, " ",
                                    req.path, " (see README, \"HTTP API\")")));
  };
  server.Get("/v1/.*", other);
  server.Post("/v1/.*", other);
  server.Put("/v1/.*", other);
  server.Delete("/v1/.*", other);
  server.Patch("/v1/.*", other);
  server.Options("/v1/.*", other);

  if (options_.ui) {
    auto ui = options_.ui;
    server.Get("/ui", [](Req, Res res) { res.set_redirect("/ui/"); });
    server.Get("/ui/(.*)", [ui](Req req, Res res) {
      const std::string path = req.matches[1];
      const std::optional<UiFile> file = ui(path);
      if (!file.has_value()) {
        SendError(res, absl::NotFoundError(
                           absl::StrCat("no such dashboard file: ", req.path)));
        return;
      }
      res.set_content(std::string(file->body),
                      std::string(file->content_type).c_str());
    });
  }
}

}  // namespace muster::http
