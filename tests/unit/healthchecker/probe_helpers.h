#pragma once

#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "healthchecker/prober.h"

namespace muster::healthchecker::testing {

// Runs one real probe and waits for its result, bounded by a real
// timeout (an event wait, not a sleep). nullopt when none came.
inline std::optional<ProbeOutcome> ProbeAndWait(
    Prober& prober, const ProbeRequest& request,
    absl::Duration wait = absl::Seconds(10)) {
  struct Slot {
    absl::Notification done;
    ProbeOutcome outcome;
  };
  auto slot = std::make_shared<Slot>();
  prober.Probe(request, [slot](ProbeOutcome outcome) {
    slot->outcome = std::move(outcome);
    slot->done.Notify();
  });
  if (!slot->done.WaitForNotificationWithTimeout(wait)) return std::nullopt;
  return slot->outcome;
}

inline ProbeRequest HttpRequest(std::string url,
                                absl::Duration timeout = absl::Seconds(2)) {
  ProbeRequest request;
  request.address = "127.0.0.1";
  request.check.kind = CheckKind::kHttp;
  request.check.http_url = std::move(url);
  request.check.timeout = timeout;
  return request;
}

inline ProbeRequest SocketRequest(CheckKind kind, std::string address, int port,
                                  absl::Duration timeout = absl::Seconds(2)) {
  ProbeRequest request;
  request.address = std::move(address);
  request.port = static_cast<uint32_t>(port);
  request.check.kind = kind;
  request.check.timeout = timeout;
  return request;
}

}  // namespace muster::healthchecker::testing
