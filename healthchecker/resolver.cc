#include "healthchecker/resolver.h"

#include <netdb.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace muster::healthchecker {

Resolver::Resolver(size_t threads)
    : thread_count_(std::max<size_t>(threads, 1)) {}

Resolver::~Resolver() { Stop(); }

void Resolver::Start() {
  if (!threads_.empty()) return;
  for (size_t i = 0; i < thread_count_; ++i)
    threads_.emplace_back([this] { Loop(); });
}

void Resolver::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
  }
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void Resolver::Resolve(std::string host, Callback done) {
  if (std::optional<IpAddress> literal = IpAddress::Parse(host);
      literal.has_value()) {
    done(std::vector<IpAddress>{*literal});
    return;
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.push_back(Lookup{std::move(host), std::move(done)});
}

absl::StatusOr<std::vector<IpAddress>> Resolver::ResolveNow(
    const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* results = nullptr;
  const int error = getaddrinfo(host.c_str(), nullptr, &hints, &results);
  if (error != 0) {
    return absl::NotFoundError(absl::StrCat(
        "resolve ", host, ": ", absl::AsciiStrToLower(gai_strerror(error))));
  }
  std::vector<IpAddress> addresses;
  for (const addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    std::optional<IpAddress> address = IpAddress::FromSockaddr(ai->ai_addr);
    if (address.has_value()) addresses.push_back(*address);
  }
  freeaddrinfo(results);
  if (addresses.empty()) {
    return absl::NotFoundError(absl::StrCat("resolve ", host, ": no address"));
  }
  return addresses;
}

void Resolver::Loop() {
  while (true) {
    Lookup lookup;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      lookup = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::StatusOr<std::vector<IpAddress>> result = ResolveNow(lookup.host);
    {
      // Stop() drops callbacks that have not run yet, this one included.
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    lookup.done(std::move(result));
  }
}

}  // namespace muster::healthchecker
