#pragma once

// An in-process fake musterd for the command tests: a Registry service
// with canned answers on 127.0.0.1:<port 0>, and a Context wired to it.

#include <catch2/catch.hpp>
#include <deque>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/commands.h"
#include "muster/v1/registry.grpc.pb.h"
#include "tests/unit/cli/loopback_server.h"

namespace muster::cli {

// One scripted Watch call: responses to send, then the final status.
struct WatchScript {
  std::vector<v1::WatchResponse> responses;
  grpc::Status status;
};

// A Registry that serves canned answers and records what it was asked.
// Thread-safe: gRPC runs handlers on its own threads.
class FakeRegistry final : public v1::Registry::Service {
 public:
  grpc::Status ListInstances(grpc::ServerContext*,
                             const v1::ListInstancesRequest* request,
                             v1::ListInstancesResponse* response) override {
    absl::MutexLock lock(&mu_);
    list_requests_.push_back(*request);
    // Pages of two, whatever the client asked: the client must follow.
    size_t start = request->page_token().empty()
                       ? 0
                       : static_cast<size_t>(std::stoul(request->page_token()));
    for (size_t i = start; i < instances_.size() && i < start + 2; ++i) {
      *response->add_instances() = instances_[i];
    }
    if (start + 2 < instances_.size()) {
      response->set_next_page_token(absl::StrCat(start + 2));
    }
    response->set_revision(77);
    return grpc::Status::OK;
  }

  grpc::Status ListServices(grpc::ServerContext*,
                            const v1::ListServicesRequest* request,
                            v1::ListServicesResponse* response) override {
    absl::MutexLock lock(&mu_);
    services_requests_.push_back(*request);
    // Pages of two, like ListInstances.
    size_t start = request->page_token().empty()
                       ? 0
                       : static_cast<size_t>(std::stoul(request->page_token()));
    for (size_t i = start; i < services_.size() && i < start + 2; ++i) {
      *response->add_services() = services_[i];
    }
    if (start + 2 < services_.size()) {
      response->set_next_page_token(absl::StrCat(start + 2));
    }
    response->set_revision(start == 0 ? 77 : 78);
    return grpc::Status::OK;
  }

  grpc::Status GetInstance(grpc::ServerContext*,
                           const v1::GetInstanceRequest* request,
                           v1::Instance* response) override {
    absl::MutexLock lock(&mu_);
    ++get_calls_;
    for (const v1::Instance& i : instances_) {
      if (i.service() == request->service() && i.id() == request->id()) {
        *response = i;
        return grpc::Status::OK;
      }
    }
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("instance \"", request->id(), "\" not found in service \"",
                     request->service(), "\""));
  }

  grpc::Status Heartbeat(grpc::ServerContext*,
                         const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    absl::MutexLock lock(&mu_);
    heartbeat_incarnations_.push_back(request->incarnation());
    if (!heartbeat_script_.empty()) {
      grpc::Status status = heartbeat_script_.front();
      heartbeat_script_.pop_front();
      if (!status.ok()) return status;
    }
    response->set_health(v1::HEALTH_PASSING);
    response->set_admin_state(v1::ADMIN_STATE_ENABLED);
    return grpc::Status::OK;
  }

  grpc::Status Register(grpc::ServerContext*,
                        const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++register_calls_;
    register_requests_.push_back(*request);
    const v1::Instance& in = request->instance();
    if (refused_ids_.count(in.id()) > 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("instance.id: \"", in.id(),
                                       "\" is refused by the test"));
    }
    *response->mutable_instance() = in;
    if (in.id().empty()) response->mutable_instance()->set_id("generated-1");
    response->mutable_instance()->set_create_revision(9);
    response->set_created(true);
    // An upsert of an existing instance keeps its incarnation, health and
    // admin state, as musterd's does.
    for (const v1::Instance& i : instances_) {
      if (i.service() == in.service() && i.id() == in.id()) {
        v1::Instance& out = *response->mutable_instance();
        out.set_create_revision(i.create_revision());
        out.set_health(i.health());
        out.set_admin_state(i.admin_state());
        response->set_created(false);
      }
    }
    response->set_revision(9);
    return grpc::Status::OK;
  }

  grpc::Status GetServerInfo(grpc::ServerContext*,
                             const v1::GetServerInfoRequest*,
                             v1::ServerInfo*) override {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store is read-only");
  }

  grpc::Status Ping(grpc::ServerContext*, const v1::PingRequest*,
                    v1::PingResponse*) override {
    return grpc::Status::OK;
  }

  grpc::Status Watch(grpc::ServerContext*, const v1::WatchRequest* request,
                     grpc::ServerWriter<v1::WatchResponse>* writer) override {
    WatchScript script;
    {
      absl::MutexLock lock(&mu_);
      watch_from_.push_back(request->from_revision());
      if (watch_scripts_.empty()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "no script left");
      }
      script = watch_scripts_.front();
      watch_scripts_.pop_front();
    }
    for (const v1::WatchResponse& r : script.responses) {
      if (!writer->Write(r)) return grpc::Status::CANCELLED;
    }
    return script.status;
  }

  void SetInstances(std::vector<v1::Instance> instances) {
    absl::MutexLock lock(&mu_);
    instances_ = std::move(instances);
  }
  void SetServices(std::vector<v1::ServiceSummary> services) {
    absl::MutexLock lock(&mu_);
    services_ = std::move(services);
  }
  // The statuses the next heartbeats fail with, in order; OK answers
  // PASSING. After the script, every heartbeat answers PASSING.
  void AddHeartbeatStatuses(std::vector<grpc::Status> statuses) {
    absl::MutexLock lock(&mu_);
    heartbeat_script_.insert(heartbeat_script_.end(), statuses.begin(),
                             statuses.end());
  }
  // Register answers INVALID_ARGUMENT for this instance id.
  void RefuseId(const std::string& id) {
    absl::MutexLock lock(&mu_);
    refused_ids_.insert(id);
  }
  std::vector<v1::RegisterRequest> register_requests() {
    absl::MutexLock lock(&mu_);
    return register_requests_;
  }
  void AddWatchScript(WatchScript script) {
    absl::MutexLock lock(&mu_);
    watch_scripts_.push_back(std::move(script));
  }
  std::vector<v1::ListInstancesRequest> list_requests() {
    absl::MutexLock lock(&mu_);
    return list_requests_;
  }
  std::vector<v1::ListServicesRequest> services_requests() {
    absl::MutexLock lock(&mu_);
    return services_requests_;
  }
  std::vector<uint64_t> heartbeat_incarnations() {
    absl::MutexLock lock(&mu_);
    return heartbeat_incarnations_;
  }
  std::vector<uint64_t> watch_from() {
    absl::MutexLock lock(&mu_);
    return watch_from_;
  }
  int get_calls() {
    absl::MutexLock lock(&mu_);
    return get_calls_;
  }
  int register_calls() {
    absl::MutexLock lock(&mu_);
    return register_calls_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::Instance> instances_ ABSL_GUARDED_BY(mu_);
  std::deque<WatchScript> watch_scripts_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ListInstancesRequest> list_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ServiceSummary> services_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ListServicesRequest> services_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> heartbeat_incarnations_ ABSL_GUARDED_BY(mu_);
  std::deque<grpc::Status> heartbeat_script_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RegisterRequest> register_requests_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> refused_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> watch_from_ ABSL_GUARDED_BY(mu_);
  int get_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int register_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// The fake daemon on 127.0.0.1:<port 0>, and a Context to run commands
// against it with a fixed clock and a recording sleep.
class Harness {
 public:
  Harness()
      : client_(std::make_unique<Client>(
            ConnectionOptions{server_.address(), absl::Seconds(5)})) {}

  Context MakeContext(Format format) {
    return Context{*client_,
                   "default",
                   OutputOptions{format, Colour::kOff},
                   out,
                   err,
                   [] { return absl::FromUnixSeconds(1700000000); },
                   [this](absl::Duration d) { sleeps.push_back(d); }};
  }

  FakeRegistry registry;
  std::ostringstream out;
  std::ostringstream err;
  std::vector<absl::Duration> sleeps;

 private:
  LoopbackServer server_{&registry};
  std::unique_ptr<Client> client_;
};

}  // namespace muster::cli
