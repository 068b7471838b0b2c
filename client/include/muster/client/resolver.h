#pragma once

// A smart client's view of the registry: a local cache of each service's
// routable instances, fed by a Watch on musterd, and the choice of one
// instance per call.
//
// - The first Pick() or View() of a service starts its watch and waits
//   (up to first_sync_timeout) for the snapshot. The watch resumes from
//   the last revision it saw after a broken stream, on the next daemon
//   address when one fails, and lists again after OUT_OF_RANGE.
// - Routable: ENABLED and PASSING or WARNING. A drained instance stops
//   being picked as soon as its event arrives.
// - Pick() is weighted round robin over the routable instances of the
//   caller's zone while that zone has any, of every zone otherwise; it
//   skips instances ejected as outliers and those in `exclude`.
// - While musterd is unreachable, the last known set keeps being served;
//   View().staleness says for how long it has not been confirmed.
// - Outlier ejection: an instance whose last `ejection_failures` calls
//   (Report) all failed is skipped for ejection_base_time, doubled each
//   time it is ejected again (up to ejection_max_time), and never more
//   than max_ejection_share of a service's instances at once.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "muster/client/client.h"
#include "muster/client/clock.h"

namespace muster::client {

struct Endpoint {
  std::string service;
  std::string id;
  std::string address;
  uint32_t port = 0;
  // >= 1 (musterd's 0 is reported as 1).
  uint32_t weight = 1;
  std::string zone;
  std::string version;
  std::vector<std::string> tags;
  std::map<std::string, std::string> metadata;

  // "address:port", with brackets around an IPv6 literal.
  std::string host_port() const;
};

// What HttpClient needs from a resolver; tests substitute their own.
class EndpointPicker {
 public:
  virtual ~EndpointPicker() = default;
  // One routable endpoint of `service` whose id is not in `exclude`;
  // std::nullopt when there is none (`*why`, when given, says why:
  // "no routable instance of identity", "musterd unreachable and nothing
  // cached for identity", ...).
  virtual std::optional<Endpoint> Pick(const std::string& service,
                                       const std::vector<std::string>& exclude,
                                       std::string* why = nullptr) = 0;
  // The outcome of one call to `endpoint`: feeds outlier ejection.
  virtual void Report(const Endpoint& endpoint, bool success) = 0;
};

struct ResolverOptions {
  // Empty: the Client's zone.
  std::string zone;
  // How long the first Pick()/View() of a service waits for its snapshot.
  std::chrono::milliseconds first_sync_timeout{5000};
  // Outlier ejection (see above); ejection_failures 0 turns it off.
  int ejection_failures = 5;
  std::chrono::milliseconds ejection_base_time{10000};
  std::chrono::milliseconds ejection_max_time{300000};
  double max_ejection_share = 0.5;
  // Null: Clock::Real().
  std::shared_ptr<Clock> clock;
};

struct ServiceView {
  // Routable instances (ejected ones included), sorted by id.
  std::vector<Endpoint> routable;
  // A snapshot has been received at least once.
  bool synced = false;
  // The watch stream is up now.
  bool connected = false;
  // Zero while the watch is up; else how long since it last was (the
  // cache may miss changes made since).
  std::chrono::milliseconds staleness{0};
  // The last revision the cache holds.
  uint64_t revision = 0;
};

class Resolver : public EndpointPicker {
 public:
  static std::shared_ptr<Resolver> Create(std::shared_ptr<Client> client,
                                          ResolverOptions options = {});
  // Stops every watch.
  ~Resolver() override = default;

  // The service's current state (starting its watch if needed, waiting
  // for the first snapshot as Pick does).
  virtual ServiceView View(const std::string& service) = 0;

  // Calls `on_change` with the routable set (as View().routable) now and
  // after every change of it, on the resolver's thread; keep it short.
  // Returns an id for Unsubscribe.
  virtual uint64_t Subscribe(
      const std::string& service,
      std::function<void(const std::vector<Endpoint>&)> on_change) = 0;
  // After it returns, `on_change` is not running and will not be called.
  virtual void Unsubscribe(uint64_t id) = 0;
};

}  // namespace muster::client
