#pragma once

#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace muster {

// The single logging facade: one line per event on stderr,
// "2026-11-28T04:05:06.123Z INFO  message". Thread-safe.
enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug", "info", "warning"/"warn", "error".
bool ParseLogLevel(absl::string_view text, LogLevel* level);
void LogLine(LogLevel level, absl::string_view message);

}  // namespace muster

#define MUSTER_LOG(level, ...)                                  \
  do {                                                          \
    if (::muster::LogLevel::level >= ::muster::GetLogLevel()) { \
      ::muster::LogLine(::muster::LogLevel::level,              \
                        ::absl::StrFormat(__VA_ARGS__));        \
    }                                                           \
  } while (0)
