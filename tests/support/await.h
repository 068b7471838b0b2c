#pragma once

// Waits for an asynchronous registry call (a Callback<T>) in a test.

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"

namespace muster::testing {

// Runs `call` with a callback and waits for its result.
template <typename T, typename Call>
absl::StatusOr<T> Await(Call call) {
  absl::Notification done;
  absl::StatusOr<T> result = absl::UnknownError("not called");
  call([&](absl::StatusOr<T> r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

// The same for a Callback<void>.
inline absl::Status AwaitStatus(
    const std::function<void(std::function<void(absl::Status)>)>& call) {
  absl::Notification done;
  absl::Status result = absl::UnknownError("not called");
  call([&](absl::Status s) {
    result = s;
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

}  // namespace muster::testing
