#include "testkit/event_log.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace muster::testing {

EventLog::EventLog(const std::shared_ptr<grpc::Channel>& channel,
                   const std::string& realm)
    : stub_(muster::v1::Registry::NewStub(channel)) {
  muster::v1::WatchRequest request;
  request.set_realm(realm);
  reader_ = stub_->Watch(&context_, request);
  thread_ = std::thread([this] {
    muster::v1::WatchResponse response;
    while (reader_->Read(&response)) {
      absl::MutexLock lock(&mu_);
      for (const auto& event : response.events()) events_.push_back(event);
      changed_.SignalAll();
    }
  });
}

EventLog::~EventLog() {
  context_.TryCancel();
  thread_.join();
  grpc::Status ignored = reader_->Finish();
  (void)ignored;  // cancelled on purpose
}

bool EventLog::WaitFor(
    const std::function<bool(const std::vector<muster::v1::Event>&)>& done,
    int seconds) {
  // A CondVar rather than Mutex::Await: `done` runs on this thread only,
  // never on the collector thread that adds the events.
  const absl::Time deadline = absl::Now() + absl::Seconds(seconds);
  absl::MutexLock lock(&mu_);
  while (!done(events_)) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) return done(events_);
  }
  return true;
}

std::vector<muster::v1::Event> EventLog::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

}  // namespace muster::testing
