#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <array>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/metrics.h"
#include "rpc/grpc_status.h"

namespace muster::registry {

// Counts finished RPCs by method and status code without a map lookup on
// the hot path: every counter is created up front. Thread-safe.
class RpcMetrics final {
 public:
  RpcMetrics(Metrics& metrics, const std::string& service,
             const std::vector<std::string>& methods) {
    for (const std::string& method : methods) {
      std::array<Counter*, kCodes> row{};
      for (int code = 0; code < kCodes; ++code) {
        row[code] = &metrics.GetCounter(
            "muster_rpcs_total", "Finished RPCs by method and status code.",
            {{"method", service + "/" + method},
             {"code",
              absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}});
      }
      counters_.push_back(row);
    }
  }

  // `method` is the index into the constructor's `methods`.
  void Count(size_t method, const absl::Status& status) {
    int code = static_cast<int>(status.code());
    if (code < 0 || code >= kCodes)
      code = static_cast<int>(absl::StatusCode::kUnknown);
    counters_[method][code]->Increment();
  }

  // Counts and finishes a unary call that answers `status` now, on the
  // call's default reactor; the services' Finish.
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                   size_t method, const absl::Status& status) {
    Count(method, status);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }

 private:
  static constexpr int kCodes = 17;
  std::vector<std::array<Counter*, kCodes>> counters_;
};

}  // namespace muster::registry
