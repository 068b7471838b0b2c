#include "testkit/event_log.h"

#include <chrono>

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
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& event : response.events()) events_.push_back(event);
      changed_.notify_all();
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
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, std::chrono::seconds(seconds),
                           [&] { return done(events_); });
}

std::vector<muster::v1::Event> EventLog::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

}  // namespace muster::testing
