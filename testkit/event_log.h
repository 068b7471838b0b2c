#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "muster/v1/registry.grpc.pb.h"

namespace muster::testing {

// Collects every event of one realm's Watch on a thread of its own.
// Thread-safe.
class EventLog final {
 public:
  EventLog(const std::shared_ptr<grpc::Channel>& channel,
           const std::string& realm);
  // Cancels the watch and joins its thread.
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Waits until `done` holds for the events so far; false after `seconds`.
  bool WaitFor(
      const std::function<bool(const std::vector<muster::v1::Event>&)>& done,
      int seconds);
  std::vector<muster::v1::Event> events() const;

 private:
  std::unique_ptr<muster::v1::Registry::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<muster::v1::WatchResponse>> reader_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // signalled when events_ grows
  std::vector<muster::v1::Event> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::testing
