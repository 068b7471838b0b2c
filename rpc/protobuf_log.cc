#include "rpc/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/logging.h"

namespace muster::registry {
namespace {

struct Route {
  Route(Clock& clock, Metrics& metrics, LogLimiter::Options limits)
      : limiter(clock, limits),
        dropped(metrics.GetCounter(
            "muster_protobuf_log_dropped_total",
            "libprotobuf log lines dropped by the rate limit")) {}
  LogLimiter limiter;
  Counter& dropped;
};

// Set once per RouteProtobufLogs; never freed while protobuf may log.
std::atomic<Route*> g_route{nullptr};
// protobuf's handler before ours.
google::protobuf::LogHandler* g_previous = nullptr;

LogLevel LevelOf(google::protobuf::LogLevel level) {
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      return LogLevel::kInfo;
    case google::protobuf::LOGLEVEL_WARNING:
      return LogLevel::kWarning;
    default:
      return LogLevel::kError;
  }
}

void Handle(google::protobuf::LogLevel level, const char* /*filename*/,
            int /*line*/, const std::string& message) {
  Route* route = g_route.load();
  const LogLevel ours = LevelOf(level);
  if (route == nullptr || ours < GetLogLevel()) return;
  uint64_t dropped = 0;
  if (!route->limiter.Allow(&dropped)) {
    route->dropped.Increment();
    return;
  }
  // One line, whatever the message holds.
  std::string text = absl::StrCat(
      "protobuf: ", absl::StrReplaceAll(message, {{"\n", " "}, {"\r", " "}}));
  if (dropped > 0) {
    absl::StrAppend(&text, " (", dropped,
                    " earlier protobuf messages dropped by the rate limit)");
  }
  LogLine(ours, text);
}

}  // namespace

void RouteProtobufLogs(Clock& clock, Metrics& metrics,
                       LogLimiter::Options limits) {
  // Leaked on purpose: protobuf may log from any thread until exit.
  g_route.store(new Route(clock, metrics, limits));
  google::protobuf::LogHandler* previous =
      google::protobuf::SetLogHandler(&Handle);
  if (previous != &Handle) g_previous = previous;
}

void RestoreProtobufLogs() { google::protobuf::SetLogHandler(g_previous); }

}  // namespace muster::registry
