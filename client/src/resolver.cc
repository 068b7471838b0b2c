#include <grpcpp/support/sync_stream.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "client/src/backoff.h"
#include "client/src/resolver_impl.h"
#include "client/src/status_text.h"
#include "muster/v1/registry.grpc.pb.h"

namespace muster::client {

std::string Endpoint::host_port() const {
  if (address.find(':') != std::string::npos) {
    return "[" + address + "]:" + std::to_string(port);
  }
  return address + ":" + std::to_string(port);
}

std::shared_ptr<Resolver> Resolver::Create(std::shared_ptr<Client> client,
                                           ResolverOptions options) {
  if (client == nullptr) return nullptr;
  return std::make_shared<internal::ResolverImpl>(std::move(client),
                                                  std::move(options));
}

namespace internal {
namespace {

using std::chrono::milliseconds;

// Reconnect delays of a broken watch (full jitter, real time).
constexpr milliseconds kReconnectBase{100};
constexpr milliseconds kReconnectMax{5000};

bool SameEndpoint(const Endpoint& a, const Endpoint& b) {
  return a.service == b.service && a.id == b.id && a.address == b.address &&
         a.port == b.port && a.weight == b.weight && a.zone == b.zone &&
         a.version == b.version && a.tags == b.tags && a.metadata == b.metadata;
}

}  // namespace

bool IsRoutable(const v1::Instance& instance) {
  const bool enabled = instance.admin_state() == v1::ADMIN_STATE_ENABLED ||
                       instance.admin_state() == v1::ADMIN_STATE_UNSPECIFIED;
  const bool healthy = instance.health() == v1::HEALTH_PASSING ||
                       instance.health() == v1::HEALTH_WARNING;
  return enabled && healthy;
}

Endpoint ToEndpoint(const v1::Instance& instance) {
  Endpoint endpoint;
  endpoint.service = instance.service();
  endpoint.id = instance.id();
  endpoint.address = instance.address();
  endpoint.port = instance.port();
  endpoint.weight = std::max<uint32_t>(instance.weight(), 1);
  endpoint.zone = instance.zone();
  endpoint.version = instance.version();
  endpoint.tags.assign(instance.tags().begin(), instance.tags().end());
  endpoint.metadata.insert(instance.metadata().begin(),
                           instance.metadata().end());
  return endpoint;
}

bool SameEndpoints(const std::vector<Endpoint>& a,
                   const std::vector<Endpoint>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), SameEndpoint);
}

ResolverImpl::ResolverImpl(std::shared_ptr<Client> client,
                           ResolverOptions options)
    : client_(std::move(client)),
      connection_(client_->connection()),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()),
      zone_(!options_.zone.empty() ? options_.zone : client_->options().zone),
      outlier_options_{options_.ejection_failures, options_.ejection_base_time,
                       options_.ejection_max_time,
                       options_.max_ejection_share} {}

ResolverImpl::~ResolverImpl() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& [name, service] : services_) {
      if (service->context != nullptr) service->context->TryCancel();
    }
  }
  changed_.notify_all();
  for (auto& [name, service] : services_) {
    if (service->thread.joinable()) service->thread.join();
  }
}

ResolverImpl::Service& ResolverImpl::Acquire(
    const std::string& name, bool wait, std::unique_lock<std::mutex>& lock) {
  std::unique_ptr<Service>& slot = services_[name];
  if (slot == nullptr) {
    slot = std::make_unique<Service>(name, outlier_options_, clock_.get());
    slot->down_since = clock_->Now();
    slot->thread = std::thread(&ResolverImpl::Watch, this, slot.get());
  }
  Service& service = *slot;
  if (wait) {
    changed_.wait_for(lock, options_.first_sync_timeout, [&] {
      return service.synced || service.failed_hard || stopping_;
    });
  }
  return service;
}

std::optional<Endpoint> ResolverImpl::Pick(
    const std::string& service_name, const std::vector<std::string>& exclude,
    std::string* why) {
  std::string reason;
  std::optional<Endpoint> picked;
  if (service_name.empty()) {
    reason = "service: must not be empty";
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    Service& service = Acquire(service_name, /*wait=*/true, lock);
    if (!service.synced) {
      if (service.failed_hard) {
        reason = "cannot watch " + service_name + ": " + service.last_error;
      } else {
        reason = "musterd unreachable and nothing cached for " + service_name;
        if (!service.last_error.empty()) {
          reason += " (" + service.last_error + ")";
        }
      }
    } else {
      Picker::Failure failure;
      picked = service.picker.Pick(zone_, service.outliers.Ejected(), exclude,
                                   &failure);
      if (failure == Picker::Failure::kNoEndpoints) {
        reason = "no routable instance of " + service_name;
      } else if (failure == Picker::Failure::kAllExcluded) {
        reason = "every routable instance of " + service_name + " was excluded";
      }
    }
  }
  if (!picked && why != nullptr) *why = reason;
  return picked;
}

void ResolverImpl::Report(const Endpoint& endpoint, bool success) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = services_.find(endpoint.service);
  if (it == services_.end()) return;
  Service& service = *it->second;
  const std::vector<Endpoint>& endpoints = service.picker.endpoints();
  const bool known =
      std::any_of(endpoints.begin(), endpoints.end(),
                  [&](const Endpoint& e) { return e.id == endpoint.id; });
  if (known) service.outliers.Report(endpoint.id, success, endpoints.size());
}

ServiceView ResolverImpl::View(const std::string& service_name) {
  if (service_name.empty()) return ServiceView();
  std::unique_lock<std::mutex> lock(mu_);
  return ViewLocked(Acquire(service_name, /*wait=*/true, lock));
}

ServiceView ResolverImpl::ViewLocked(const Service& service) const {
  ServiceView view;
  view.routable = service.picker.endpoints();
  view.synced = service.synced;
  view.connected = service.connected;
  if (!service.connected) {
    view.staleness = std::chrono::duration_cast<milliseconds>(
        clock_->Now() - service.down_since);
  }
  view.revision = service.revision;
  return view;
}

uint64_t ResolverImpl::Subscribe(const std::string& service_name,
                                 Callback on_change) {
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->service = service_name;
  subscriber->on_change = std::move(on_change);
  // Held from before the watch thread can see the subscriber until the
  // first call returned: a change published meanwhile waits, so the
  // calls arrive in order.
  std::lock_guard<std::recursive_mutex> running(subscriber->running);
  uint64_t id;
  bool synced = false;
  std::vector<Endpoint> endpoints;
  {
    std::unique_lock<std::mutex> lock(mu_);
    id = next_subscriber_++;
    subscribers_[id] = subscriber;
    if (!service_name.empty()) {
      Service& service = Acquire(service_name, /*wait=*/false, lock);
      synced = service.synced;
      if (synced) endpoints = service.picker.endpoints();
    }
  }
  if (synced) subscriber->on_change(endpoints);
  return id;
}

void ResolverImpl::Unsubscribe(uint64_t id) {
  std::shared_ptr<Subscriber> subscriber;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subscribers_.find(id);
    if (it == subscribers_.end()) return;
    subscriber = std::move(it->second);
    subscribers_.erase(it);
  }
  std::lock_guard<std::recursive_mutex> running(subscriber->running);
  subscriber->active = false;
}

void ResolverImpl::Notify(const std::vector<std::shared_ptr<Subscriber>>& to,
                          const std::vector<Endpoint>& endpoints) {
  for (const std::shared_ptr<Subscriber>& subscriber : to) {
    std::lock_guard<std::recursive_mutex> running(subscriber->running);
    if (subscriber->active) subscriber->on_change(endpoints);
  }
}

std::vector<std::shared_ptr<ResolverImpl::Subscriber>>
ResolverImpl::ApplyLocked(Service& service, const v1::WatchResponse& response) {
  switch (response.kind()) {
    case v1::WatchResponse::SNAPSHOT:
      for (const v1::Event& event : response.events()) {
        service.snapshot[event.instance().id()] = event.instance();
      }
      return {};
    case v1::WatchResponse::SNAPSHOT_END:
      service.instances.swap(service.snapshot);
      service.snapshot.clear();
      service.synced = true;
      service.revision = response.revision();
      break;
    case v1::WatchResponse::EVENTS:
      for (const v1::Event& event : response.events()) {
        const std::string& id = event.instance().id();
        if (event.type() == v1::Event::DELETE) {
          service.instances.erase(id);
        } else {
          service.instances[id] = event.instance();
        }
        service.revision = std::max(service.revision, event.revision());
      }
      service.revision = std::max(service.revision, response.revision());
      break;
    default:  // PROGRESS
      service.revision = std::max(service.revision, response.revision());
      break;
  }
  service.connected = true;
  service.last_error.clear();
  service.failed_hard = false;
  if (response.kind() == v1::WatchResponse::SNAPSHOT_END) {
    changed_.notify_all();
  }
  if (response.kind() == v1::WatchResponse::PROGRESS) return {};
  return RefreshLocked(service);
}

std::vector<std::shared_ptr<ResolverImpl::Subscriber>>
ResolverImpl::RefreshLocked(Service& service) {
  if (!service.synced) return {};
  std::vector<Endpoint> routable;
  std::set<std::string> ids;
  for (const auto& [id, instance] : service.instances) {
    if (!IsRoutable(instance)) continue;
    routable.push_back(ToEndpoint(instance));
    ids.insert(id);
  }
  if (service.published &&
      SameEndpoints(routable, service.picker.endpoints())) {
    return {};
  }
  service.outliers.Retain(ids);
  service.picker.SetEndpoints(std::move(routable));
  service.published = true;
  std::vector<std::shared_ptr<Subscriber>> to;
  for (const auto& [id, subscriber] : subscribers_) {
    if (subscriber->service == service.name) to.push_back(subscriber);
  }
  return to;
}

void ResolverImpl::Watch(Service* service) {
  Backoff backoff(kReconnectBase, kReconnectMax, RandomSeed());
  uint64_t from_revision = 0;
  for (;;) {
    const size_t index = connection_.current();
    grpc::ClientContext context;
    connection_.Prepare(context, milliseconds(0));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      service->context = &context;
      service->snapshot.clear();
    }
    v1::WatchRequest request;
    request.set_realm(connection_.realm());
    request.set_service(service->name);
    request.set_from_revision(from_revision);
    request.set_progress_notify(true);
    std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
        connection_.registry(index).Watch(&context, request);
    v1::WatchResponse response;
    bool received = false;
    while (reader->Read(&response)) {
      received = true;
      // The resume rule: every change up to `revision` has been sent
      // (not yet true inside a snapshot).
      if (response.kind() != v1::WatchResponse::SNAPSHOT) {
        from_revision = response.revision() + 1;
      }
      std::vector<std::shared_ptr<Subscriber>> to;
      std::vector<Endpoint> endpoints;
      {
        std::lock_guard<std::mutex> lock(mu_);
        to = ApplyLocked(*service, response);
        if (!to.empty()) endpoints = service->picker.endpoints();
      }
      Notify(to, endpoints);
    }
    const grpc::Status status = reader->Finish();
    const grpc::StatusCode code = status.error_code();
    if (IsConnectionFailure(status)) connection_.Failover(index);
    if (code == grpc::StatusCode::OUT_OF_RANGE) from_revision = 0;
    if (received) backoff.Reset();

    std::unique_lock<std::mutex> lock(mu_);
    service->context = nullptr;
    if (service->connected) {
      service->connected = false;
      service->down_since = clock_->Now();
    }
    if (stopping_) return;
    service->last_error = StatusCodeName(code) + ": " + status.error_message();
    service->failed_hard = !IsConnectionFailure(status) &&
                           code != grpc::StatusCode::OUT_OF_RANGE &&
                           code != grpc::StatusCode::RESOURCE_EXHAUSTED &&
                           code != grpc::StatusCode::CANCELLED &&
                           code != grpc::StatusCode::OK;
    changed_.notify_all();
    // A compacted revision: list again at once.
    if (code == grpc::StatusCode::OUT_OF_RANGE) continue;
    changed_.wait_for(lock, backoff.Next(), [&] { return stopping_; });
    if (stopping_) return;
  }
}

}  // namespace internal
}  // namespace muster::client
