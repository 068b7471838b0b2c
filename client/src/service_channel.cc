#include "muster/client/service_channel.h"

#include <arpa/inet.h>
#include <grpcpp/create_channel.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include "client/src/service_channel_target.h"

namespace muster::client {
namespace internal {
namespace {

// The address of `host` in `family` (AF_INET or AF_INET6; AF_UNSPEC: any),
// as a literal; "" when it does not resolve. Sets `*found_family`.
std::string Resolve(const std::string& host, int family, int* found_family) {
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    *found_family = AF_INET;
    return host;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    *found_family = AF_INET6;
    return host;
  }
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0 ||
      result == nullptr) {
    return "";
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* address =
      result->ai_family == AF_INET
          ? static_cast<const void*>(
                &reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr)
          : static_cast<const void*>(
                &reinterpret_cast<sockaddr_in6*>(result->ai_addr)->sin6_addr);
  *found_family = result->ai_family;
  const bool ok =
      inet_ntop(result->ai_family, address, text, sizeof(text)) != nullptr;
  freeaddrinfo(result);
  return ok ? text : "";
}

}  // namespace

std::string ChannelTarget(const std::vector<Endpoint>& endpoints) {
  int family = AF_UNSPEC;
  std::vector<std::string> addresses;
  for (const Endpoint& endpoint : endpoints) {
    int found = AF_UNSPEC;
    const std::string address = Resolve(endpoint.address, family, &found);
    if (address.empty()) continue;
    if (family == AF_UNSPEC) family = found;
    if (found != family) continue;
    addresses.push_back(family == AF_INET6
                            ? "[" + address +
                                  "]:" + std::to_string(endpoint.port)
                            : address + ":" + std::to_string(endpoint.port));
  }
  if (addresses.empty()) return "";
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()),
                  addresses.end());
  std::string target = family == AF_INET6 ? "ipv6:" : "ipv4:";
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (i > 0) target += ",";
    target += addresses[i];
  }
  return target;
}

namespace {

class ServiceChannelImpl final : public ServiceChannel {
 public:
  ServiceChannelImpl(std::shared_ptr<Resolver> resolver, std::string service,
                     std::shared_ptr<grpc::ChannelCredentials> credentials,
                     grpc::ChannelArguments arguments)
      : resolver_(std::move(resolver)),
        service_(std::move(service)),
        credentials_(credentials != nullptr
                         ? std::move(credentials)
                         : grpc::InsecureChannelCredentials()),
        arguments_(std::move(arguments)) {
    arguments_.SetLoadBalancingPolicyName("round_robin");
    channel_ = MakeChannel("");
    generation_ = 1;
  }

  ~ServiceChannelImpl() override { resolver_->Unsubscribe(subscription_); }

  void Start() {
    subscription_ = resolver_->Subscribe(
        service_, [this](const std::vector<Endpoint>& endpoints) {
          OnChange(endpoints);
        });
  }

  std::shared_ptr<grpc::Channel> channel() override {
    std::lock_guard<std::mutex> lock(mu_);
    return channel_;
  }
  std::string target() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return target_;
  }
  uint64_t generation() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return generation_;
  }

 private:
  // On the resolver's thread, one call at a time.
  void OnChange(const std::vector<Endpoint>& endpoints) {
    // Resolved outside the lock: getaddrinfo may take a while.
    const std::string target = ChannelTarget(endpoints);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (target == target_) return;
    }
    std::shared_ptr<grpc::Channel> channel = MakeChannel(target);
    std::lock_guard<std::mutex> lock(mu_);
    target_ = target;
    channel_ = std::move(channel);
    ++generation_;
  }

  std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) const {
    if (target.empty()) {
      // No instance: nothing can listen on port 0, so connecting to
      // 127.0.0.1:0 is refused at once and calls fail with UNAVAILABLE
      // (no connect timeout, no traffic leaves the host).
      return grpc::CreateCustomChannel(
          kNoInstanceTarget, grpc::InsecureChannelCredentials(), arguments_);
    }
    return grpc::CreateCustomChannel(target, credentials_, arguments_);
  }

  // Constant after construction.
  const std::shared_ptr<Resolver> resolver_;
  const std::string service_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  grpc::ChannelArguments arguments_;  // round_robin set; not changed after
  uint64_t subscription_ = 0;         // set by Start()

  mutable std::mutex mu_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string target_;
  uint64_t generation_ = 0;
};

}  // namespace
}  // namespace internal

std::unique_ptr<ServiceChannel> ServiceChannel::Create(
    std::shared_ptr<Resolver> resolver, std::string service,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    grpc::ChannelArguments arguments) {
  if (resolver == nullptr) return nullptr;
  // Waits for the first snapshot, so that the subscription below calls
  // back at once and channel() is usable as soon as Create returns.
  resolver->View(service);
  auto channel = std::make_unique<internal::ServiceChannelImpl>(
      std::move(resolver), std::move(service), std::move(credentials),
      std::move(arguments));
  channel->Start();
  return channel;
}

}  // namespace muster::client
