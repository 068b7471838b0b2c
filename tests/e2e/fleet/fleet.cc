#include "tests/e2e/fleet/fleet.h"

#include <httplib.h>
#include <time.h>

#include <csignal>
#include <sstream>
#include <thread>
#include <utility>

#include "google/protobuf/util/json_util.h"

namespace muster::fleet {

namespace {

constexpr char kRealm[] = "default";
constexpr char kService[] = "identity";

const google::protobuf::Value* Find(const google::protobuf::Struct& doc,
                                    const std::vector<std::string>& path) {
  const google::protobuf::Struct* object = &doc;
  const google::protobuf::Value* value = nullptr;
  for (const std::string& key : path) {
    if (object == nullptr) return nullptr;
    auto it = object->fields().find(key);
    if (it == object->fields().end()) return nullptr;
    value = &it->second;
    object = value->has_struct_value() ? &value->struct_value() : nullptr;
  }
  return value;
}

// The last `max` bytes of `text`.
std::string Tail(const std::string& text, size_t max = 3000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

std::unique_ptr<v1::Registry::Stub> Stub(testing::DaemonProcess& daemon) {
  return v1::Registry::NewStub(daemon.channel());
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(5));
}

}  // namespace

std::optional<google::protobuf::Struct> GetJson(int port,
                                                const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  client.set_read_timeout(5);
  httplib::Result result = client.Get(path.c_str());
  if (!result || result->status != 200) return std::nullopt;
  google::protobuf::Struct doc;
  if (!google::protobuf::util::JsonStringToMessage(result->body, &doc).ok()) {
    return std::nullopt;
  }
  return doc;
}

int GetStatus(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  client.set_read_timeout(5);
  httplib::Result result = client.Get(path.c_str());
  return result ? result->status : 0;
}

double Number(const google::protobuf::Struct& doc,
              const std::vector<std::string>& path) {
  const google::protobuf::Value* value = Find(doc, path);
  return value != nullptr && value->has_number_value() ? value->number_value()
                                                       : -1;
}

std::string String(const google::protobuf::Struct& doc,
                   const std::vector<std::string>& path) {
  const google::protobuf::Value* value = Find(doc, path);
  return value != nullptr && value->has_string_value() ? value->string_value()
                                                       : "";
}

std::vector<std::string> Strings(const google::protobuf::Struct& doc,
                                 const std::vector<std::string>& path) {
  std::vector<std::string> strings;
  const google::protobuf::Value* value = Find(doc, path);
  if (value == nullptr || !value->has_list_value()) return strings;
  for (const google::protobuf::Value& item : value->list_value().values()) {
    strings.push_back(item.string_value());
  }
  return strings;
}

std::map<std::string, uint64_t> Counts(const google::protobuf::Struct& doc,
                                       const std::string& name) {
  std::map<std::string, uint64_t> counts;
  const google::protobuf::Value* value = Find(doc, {name});
  if (value == nullptr || !value->has_struct_value()) return counts;
  for (const auto& [key, count] : value->struct_value().fields()) {
    counts[key] = static_cast<uint64_t>(count.number_value());
  }
  return counts;
}

int64_t RealtimeMicros() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

std::vector<ServedRequest> ParseIdentityLog(const std::string& text) {
  std::vector<ServedRequest> requests;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    ServedRequest request;
    if (fields >> request.time_us >> request.method >> request.path >>
        request.status) {
      requests.push_back(request);
    }
  }
  return requests;
}

std::vector<FrontendRequest> ParseFrontendLog(const std::string& text) {
  std::vector<FrontendRequest> requests;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    FrontendRequest request;
    if (fields >> request.revision >> request.instance >> request.status >>
        request.attempts) {
      requests.push_back(request);
    }
  }
  return requests;
}

Fleet::Fleet(std::vector<std::string> daemon_args)
    : daemon_(std::make_unique<testing::DaemonProcess>(
          MUSTERD_PATH, dir_.File("data"), dir_.File("musterd.log"),
          std::move(daemon_args))) {}

Fleet::~Fleet() {
  // Children first (their destructors SIGKILL them), the daemon last.
  frontend_.reset();
  identities_.clear();
  daemon_.reset();
}

std::vector<std::string> Fleet::ChildEnv() const {
  return {"MUSTER_ADDR=" + daemon_->address(),
          std::string("MUSTER_REALM=") + kRealm,
          "MUSTER_ZONE",
          "MUSTER_TLS",
          "MUSTER_CA",
          "MUSTER_CERT",
          "MUSTER_KEY",
          "MUSTER_TOKEN",
          "MUSTER_TOKEN_FILE"};
}

Identity* Fleet::StartIdentity(const std::string& id,
                               std::vector<std::string> extra_args) {
  auto identity = std::make_unique<Identity>();
  identity->id = id;
  identity->port = testing::FreePort();
  identity->log_path = dir_.File(id + ".log");
  identity->err_path = dir_.File(id + ".err");
  testing::SpawnOptions options;
  options.argv = {IDENTITY_PATH, "--port", std::to_string(identity->port),
                  "--id", id};
  options.argv.insert(options.argv.end(), extra_args.begin(), extra_args.end());
  options.env = ChildEnv();
  options.out = testing::Sink::File(identity->log_path);
  options.err = testing::Sink::File(identity->err_path);
  auto child = testing::Child::Spawn(options);
  if (!child.ok()) return nullptr;
  identity->child = *std::move(child);
  identities_.push_back(std::move(identity));
  return identities_.back().get();
}

Identity* Fleet::identity(const std::string& id) {
  for (const auto& identity : identities_) {
    if (identity->id == id) return identity.get();
  }
  return nullptr;
}

bool Fleet::StartFrontend(int rate, std::vector<std::string> extra_args) {
  frontend_stats_port_ = testing::FreePort();
  testing::SpawnOptions options;
  options.argv = {FRONTEND_PATH,
                  "--rate",
                  std::to_string(rate) + "/s",
                  "--stats-port",
                  std::to_string(frontend_stats_port_),
                  "--log",
                  frontend_log_path()};
  options.argv.insert(options.argv.end(), extra_args.begin(), extra_args.end());
  options.env = ChildEnv();
  options.out = testing::Sink::File(frontend_out_path());
  options.err = testing::Sink::File(frontend_err_path());
  auto child = testing::Child::Spawn(options);
  if (!child.ok()) return false;
  frontend_ = *std::move(child);
  return Eventually([this] { return FrontendStats().has_value(); },
                    std::chrono::seconds(20));
}

int Fleet::StopFrontend() {
  if (frontend_ == nullptr) return -1;
  frontend_->Signal(SIGTERM);
  std::optional<int> code = frontend_->Wait(absl::Seconds(15));
  return code.value_or(-1);
}

std::vector<v1::Instance> Fleet::Instances(bool routable_only) {
  v1::ListInstancesRequest request;
  request.set_realm(kRealm);
  request.set_service(kService);
  request.set_routable_only(routable_only);
  v1::ListInstancesResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  if (!Stub(*daemon_)->ListInstances(&context, request, &response).ok()) {
    return {};
  }
  return {response.instances().begin(), response.instances().end()};
}

grpc::Status Fleet::SetAdminState(const std::string& id, v1::AdminState state,
                                  v1::Instance* instance) {
  v1::SetAdminStateRequest request;
  request.set_realm(kRealm);
  request.set_service(kService);
  request.set_id(id);
  request.set_admin_state(state);
  request.set_reason("fleet test");
  grpc::ClientContext context;
  SetDeadline(&context);
  return Stub(*daemon_)->SetAdminState(&context, request, instance);
}

std::vector<v1::Event> Fleet::Events() {
  std::vector<v1::Event> events;
  v1::ListEventsRequest request;
  request.set_realm(kRealm);
  request.set_service(kService);
  request.set_limit(1000);
  while (true) {
    v1::ListEventsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    if (!Stub(*daemon_)->ListEvents(&context, request, &response).ok()) {
      break;
    }
    events.insert(events.end(), response.events().begin(),
                  response.events().end());
    if (response.events().empty() ||
        (response.next_revision() == request.from_revision() &&
         response.next_event_index() == request.from_event_index())) {
      break;
    }
    request.set_from_revision(response.next_revision());
    request.set_from_event_index(response.next_event_index());
  }
  return events;
}

bool Fleet::AwaitRoutable(const std::vector<std::string>& ids,
                          std::chrono::milliseconds timeout) {
  return Eventually(
      [&] {
        size_t found = 0;
        for (const v1::Instance& instance : Instances(true)) {
          for (const std::string& id : ids) {
            if (instance.id() == id &&
                instance.health() == v1::HEALTH_PASSING) {
              ++found;
            }
          }
        }
        return found == ids.size();
      },
      timeout);
}

bool Fleet::AwaitServedBy(const std::vector<std::string>& ids,
                          uint64_t min_each,
                          std::chrono::milliseconds timeout) {
  return Eventually(
      [&] {
        auto stats = FrontendStats();
        if (!stats) return false;
        auto counts = Counts(*stats, "by_instance");
        for (const std::string& id : ids) {
          if (counts[id] < min_each) return false;
        }
        return true;
      },
      timeout);
}

bool Fleet::AwaitCompleted(uint64_t completed, uint64_t more,
                           std::chrono::milliseconds timeout) {
  return Eventually(
      [&] {
        auto stats = FrontendStats();
        return stats && Number(*stats, {"completed"}) >=
                            static_cast<double>(completed + more);
      },
      timeout);
}

std::string Fleet::Diagnostics() const {
  std::string out = "musterd log:\n" + Tail(daemon_->log()) + "\n";
  for (const auto& identity : identities_) {
    out += identity->id + " stderr:\n" +
           Tail(testing::ReadFile(identity->err_path), 1500) + "\n";
  }
  out += "frontend stderr:\n" +
         Tail(testing::ReadFile(frontend_err_path()), 1500) + "\n";
  out += "frontend stdout:\n" +
         Tail(testing::ReadFile(frontend_out_path()), 1500) + "\n";
  return out;
}

}  // namespace muster::fleet
