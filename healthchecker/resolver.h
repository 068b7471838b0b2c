#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "healthchecker/ip_address.h"

namespace muster::healthchecker {

// Resolves hostnames with getaddrinfo on a few threads of its own, so that
// no probe thread ever blocks on DNS; IP literals are answered inline.
// Used by the TCP and gRPC probers (libcurl resolves for itself).
// Thread-safe.
class Resolver final {
 public:
  // NOT_FOUND "resolve db.internal: name or service not known" and the
  // like when resolution fails.
  using Callback = std::function<void(absl::StatusOr<std::vector<IpAddress>>)>;

  explicit Resolver(size_t threads);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void Start();
  // Idempotent, joining. Queued lookups are dropped without running their
  // callbacks; a lookup in progress finishes first (getaddrinfo cannot be
  // interrupted; the system resolver's own timeouts bound it).
  void Stop();

  // `done` runs exactly once unless Stop() intervenes: inline for an IP
  // literal, else on a resolver thread.
  void Resolve(std::string host, Callback done);

 private:
  struct Lookup {
    std::string host;
    Callback done;
  };
  void Loop();
  static absl::StatusOr<std::vector<IpAddress>> ResolveNow(
      const std::string& host);

  const size_t thread_count_;
  absl::Mutex mu_;
  std::deque<Lookup> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // Touched only by Start() and Stop().
};

}  // namespace muster::healthchecker
