#include "muster/client/registration.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "client/src/backoff.h"
#include "client/src/daemon_connection.h"
#include "client/src/registration_options.h"
#include "client/src/status_text.h"
#include "muster/client/health_server.h"
#include "muster/v1/registry.grpc.pb.h"

namespace muster::client {
namespace {

using std::chrono::milliseconds;
using Code = grpc::StatusCode;

// "PASSING" for HEALTH_PASSING; "" for HEALTH_UNSPECIFIED.
std::string HealthName(v1::Health health) {
  if (health == v1::HEALTH_UNSPECIFIED) return "";
  const std::string& name = v1::Health_Name(health);
  return name.rfind("HEALTH_", 0) == 0 ? name.substr(7) : name;
}

// Codes of a Register that no retry will change: musterd refused the
// instance, the realm, or the caller.
bool IsRefusal(Code code) {
  switch (code) {
    case Code::INVALID_ARGUMENT:
    case Code::NOT_FOUND:
    case Code::ALREADY_EXISTS:
    case Code::PERMISSION_DENIED:
    case Code::UNAUTHENTICATED:
    case Code::FAILED_PRECONDITION:
    case Code::OUT_OF_RANGE:
    case Code::UNIMPLEMENTED:
      return true;
    default:
      return false;
  }
}

class RegistrationImpl final : public Registration {
 public:
  RegistrationImpl(std::shared_ptr<Client> client, RegistrationOptions options)
      : client_(std::move(client)),
        connection_(client_->connection()),
        options_(std::move(options)),
        instance_(internal::BuildInstance(options_, client_->options().zone)),
        period_(internal::HeartbeatPeriod(options_)) {
    status_.id = instance_.id();
    thread_ = std::thread([this] { Run(); });
  }

  ~RegistrationImpl() override { Shutdown(); }

  bool WaitRegistered(milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [this] {
      const RegistrationState state = status_.state;
      return state != RegistrationState::kRegistering &&
             state != RegistrationState::kRetrying;
    });
    return status_.state == RegistrationState::kRegistered;
  }

  RegistrationStatus status() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

  grpc::Status Shutdown() override { return Shutdown(options_.drain_grace); }

  grpc::Status Shutdown(milliseconds grace) override {
    std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
    if (shut_down_) return shutdown_result_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    shutdown_result_ = DrainAndDeregister(grace);
    shut_down_ = true;
    return shutdown_result_;
  }

 private:
  // The background thread: register, then heartbeat (or check existence)
  // until Shutdown(), registering again whenever the instance is gone.
  void Run() {
    internal::Backoff backoff(options_.initial_backoff, options_.max_backoff,
                              internal::RandomSeed());
    bool registered = false;
    while (!Stopping()) {
      if (!registered) {
        const Step step = Register();
        if (step == Step::kGiveUp) return;
        registered = step == Step::kOk;
        if (registered) backoff.Reset();
        if (Wait(registered ? period_ : backoff.Next())) return;
        continue;
      }
      const Step step =
          options_.check == CheckType::kTtl ? Heartbeat() : CheckExists();
      switch (step) {
        case Step::kOk:
          backoff.Reset();
          if (Wait(period_)) return;
          break;
        case Step::kRegisterAgain:
          registered = false;
          break;
        case Step::kRetry:
        case Step::kGiveUp:
          if (Wait(std::min(period_, backoff.Next()))) return;
          break;
      }
    }
  }

  enum class Step {
    kOk,             // done; wait a period
    kRetry,          // failed for now; back off and try again
    kRegisterAgain,  // the instance is gone or was replaced
    kGiveUp,         // refused for good
  };

  Step Register() {
    v1::RegisterRequest request;
    request.set_realm(connection_.realm());
    *request.mutable_instance() = instance_;
    v1::RegisterResponse response;
    const grpc::Status status =
        connection_.Call(&v1::Registry::Stub::Register, request, &response);
    std::lock_guard<std::mutex> lock(mu_);
    if (status.ok()) {
      status_.state = RegistrationState::kRegistered;
      status_.incarnation = response.instance().create_revision();
      ++status_.registrations;
      status_.health = HealthName(response.instance().health());
      status_.last_error.clear();
      cv_.notify_all();
      return Step::kOk;
    }
    status_.last_error = internal::DescribeStatus("Register", status);
    if (!internal::IsConnectionFailure(status) &&
        IsRefusal(status.error_code())) {
      status_.state = RegistrationState::kFailed;
      cv_.notify_all();
      return Step::kGiveUp;
    }
    status_.state = RegistrationState::kRegistering;
    return Step::kRetry;
  }

  Step Heartbeat() {
    v1::HeartbeatRequest request;
    request.set_realm(connection_.realm());
    request.set_service(instance_.service());
    request.set_id(instance_.id());
    request.set_incarnation(incarnation());
    v1::HeartbeatResponse response;
    // On the Client's HeartbeatStream, shared by its registrations.
    const grpc::Status status = connection_.Heartbeat(request, &response);
    return Judge("Heartbeat", status, response.health(), false);
  }

  Step CheckExists() {
    v1::GetInstanceRequest request;
    request.set_realm(connection_.realm());
    request.set_service(instance_.service());
    request.set_id(instance_.id());
    v1::Instance response;
    const grpc::Status status =
        connection_.Call(&v1::Registry::Stub::GetInstance, request, &response);
    const bool replaced =
        status.ok() && response.create_revision() != incarnation();
    return Judge("GetInstance", status, response.health(), replaced);
  }

  // Records the outcome of a heartbeat or existence check.
  Step Judge(const char* call, const grpc::Status& status, v1::Health health,
             bool replaced) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.state == RegistrationState::kDraining) {
      // The grace's heartbeats: the state stays kDraining.
      if (status.ok()) status_.health = HealthName(health);
      return status.ok() ? Step::kOk : Step::kRetry;
    }
    if (status.ok() && !replaced) {
      status_.state = RegistrationState::kRegistered;
      status_.health = HealthName(health);
      status_.last_error.clear();
      cv_.notify_all();
      return Step::kOk;
    }
    if (replaced || status.error_code() == Code::NOT_FOUND ||
        status.error_code() == Code::FAILED_PRECONDITION) {
      status_.last_error =
          replaced ? std::string(call) + ": the instance was re-registered"
                   : internal::DescribeStatus(call, status);
      status_.state = RegistrationState::kRegistering;
      cv_.notify_all();
      return Step::kRegisterAgain;
    }
    // Unreachable, or an answer we cannot act on: the instance is kept by
    // musterd meanwhile, so keep trying.
    status_.last_error = internal::DescribeStatus(call, status);
    status_.state = RegistrationState::kRetrying;
    cv_.notify_all();
    return Step::kRetry;
  }

  // Runs on the Shutdown() caller's thread once the loop has ended.
  grpc::Status DrainAndDeregister(milliseconds grace) {
    uint64_t incarnation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      incarnation = status_.incarnation;
      if (incarnation == 0 || status_.state == RegistrationState::kFailed) {
        // Nothing of ours is registered.
        status_.state = RegistrationState::kStopped;
        cv_.notify_all();
        return grpc::Status::OK;
      }
      status_.state = RegistrationState::kDraining;
      cv_.notify_all();
    }
    if (options_.health_server != nullptr) {
      options_.health_server->SetReady(false);
    }

    // Best effort: a drain that fails still ends in a deregistration.
    v1::SetAdminStateRequest drain;
    drain.set_realm(connection_.realm());
    drain.set_service(instance_.service());
    drain.set_id(instance_.id());
    drain.set_admin_state(v1::ADMIN_STATE_DRAINING);
    drain.set_reason("shutting down");
    v1::Instance drained;
    const grpc::Status drain_status =
        connection_.Call(&v1::Registry::Stub::SetAdminState, drain, &drained);
    if (!drain_status.ok())
      SetLastError(internal::DescribeStatus("SetAdminState", drain_status));

    // The grace, heartbeating so that a TTL instance stays PASSING.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (true) {
      const auto remaining = std::chrono::duration_cast<milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (remaining.count() <= 0) break;
      if (options_.check == CheckType::kTtl) Heartbeat();
      std::this_thread::sleep_for(std::min(period_, remaining));
    }

    v1::DeregisterRequest request;
    request.set_realm(connection_.realm());
    request.set_service(instance_.service());
    request.set_id(instance_.id());
    request.set_incarnation(incarnation);
    v1::DeregisterResponse response;
    grpc::Status status =
        connection_.Call(&v1::Registry::Stub::Deregister, request, &response);
    // Gone already (evicted, deregistered, or replaced by a newer
    // incarnation): nothing of ours is left.
    if (status.error_code() == Code::NOT_FOUND ||
        status.error_code() == Code::FAILED_PRECONDITION) {
      status = grpc::Status::OK;
    }
    std::lock_guard<std::mutex> lock(mu_);
    status_.state = RegistrationState::kStopped;
    if (!status.ok())
      status_.last_error = internal::DescribeStatus("Deregister", status);
    cv_.notify_all();
    return status;
  }

  bool Stopping() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

  // Waits `duration` or until Shutdown(); true when stopping.
  bool Wait(milliseconds duration) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, duration, [this] { return stop_; });
  }

  uint64_t incarnation() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_.incarnation;
  }

  void SetLastError(std::string error) {
    std::lock_guard<std::mutex> lock(mu_);
    status_.last_error = std::move(error);
  }

  // Constant after construction.
  const std::shared_ptr<Client> client_;
  internal::DaemonConnection& connection_;
  const RegistrationOptions options_;
  const v1::Instance instance_;
  const milliseconds period_;

  // Serializes Shutdown() calls; guards the two members after it.
  std::mutex shutdown_mu_;
  bool shut_down_ = false;
  grpc::Status shutdown_result_;

  // Guards the members below; cv_ is notified on every state change and
  // on stop_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  RegistrationStatus status_;
  bool stop_ = false;

  // Started by the constructor, joined by Shutdown().
  std::thread thread_;
};

}  // namespace

const char* StateName(RegistrationState state) {
  switch (state) {
    case RegistrationState::kRegistering:
      return "registering";
    case RegistrationState::kRegistered:
      return "registered";
    case RegistrationState::kRetrying:
      return "retrying";
    case RegistrationState::kFailed:
      return "failed";
    case RegistrationState::kDraining:
      return "draining";
    case RegistrationState::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::unique_ptr<Registration> Registration::Start(
    std::shared_ptr<Client> client, RegistrationOptions options,
    grpc::Status* status) {
  grpc::Status result =
      client == nullptr
          ? grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "client: is null")
          : internal::CheckRegistrationOptions(options);
  if (status != nullptr) *status = result;
  if (!result.ok()) return nullptr;
  return std::make_unique<RegistrationImpl>(std::move(client),
                                            std::move(options));
}

}  // namespace muster::client
