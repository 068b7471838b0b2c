#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "muster/v1/registry.pb.h"
#include "registry/watch_hub.h"

namespace muster::registry {

// One Watch stream: pulls batches from its Watcher and writes them with at
// most one write in flight. Woken by the hub when events arrive; never
// blocks. Deletes itself in OnDone. Thread-safe.
class WatchReactor final
    : public grpc::ServerWriteReactor<muster::v1::WatchResponse> {
 public:
  // Opens the watcher; on failure the stream finishes at once with the
  // error. `on_finish` runs once with the final status (for metrics).
  WatchReactor(WatchHub& hub, const WatchSpec& spec,
               std::function<void(const absl::Status&)> on_finish);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;
  ~WatchReactor() override;

 private:
  void Wake();
  void Pump();
  void FinishOnce(const absl::Status& status);
  // Takes the shared event messages out of response_ without deleting
  // them. REQUIRES: no write in flight.
  void ReturnBorrowed();

  WatchHub& hub_;
  std::function<void(const absl::Status&)> on_finish_;
  std::shared_ptr<Watcher> watcher_;
  muster::v1::WatchResponse response_;
  // The shared messages response_.events() points at, kept alive until
  // the write that sends them completes.
  std::vector<std::shared_ptr<const muster::v1::Event>> borrowed_;
  // True while a write is in flight or a thread is preparing one.
  std::atomic<bool> busy_{false};
  // Set by Wake; tells the busy thread to look again.
  std::atomic<bool> dirty_{false};
  std::atomic<bool> cancelled_{false};
  // Finish was called. REQUIRES for FinishOnce: the caller holds busy_.
  std::atomic<bool> finished_{false};
};

}  // namespace muster::registry
