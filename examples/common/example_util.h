#pragma once

// Small helpers the two example programs share: command-line flags,
// durations, JSON strings, wall-clock timestamps and termination signals.
// Standard library and POSIX only, so that the examples show the client
// library and nothing else of muster. Not thread-safe unless stated.

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace muster_examples {

// "--name value" and "--name=value" flags; every flag takes a value.
class Flags {
 public:
  // `known`: the flag names (without "--") the program accepts.
  explicit Flags(std::vector<std::string> known) : known_(std::move(known)) {}

  // False, with error() set, on an unknown flag, a missing value or a
  // positional argument.
  bool Parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) {
        error_ = "unexpected argument '" + arg + "' (flags start with --)";
        return false;
      }
      std::string name = arg.substr(2);
      std::string value;
      const size_t equals = name.find('=');
      if (equals != std::string::npos) {
        value = name.substr(equals + 1);
        name = name.substr(0, equals);
      } else if (name != "help") {
        if (i + 1 >= argc) {
          error_ = "--" + name + ": missing value";
          return false;
        }
        value = argv[++i];
      }
      bool is_known = name == "help";
      for (const std::string& k : known_) is_known = is_known || k == name;
      if (!is_known) {
        error_ = "unknown flag --" + name;
        return false;
      }
      values_[name] = value;
    }
    return true;
  }

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def) const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  const std::string& error() const { return error_; }

 private:
  const std::vector<std::string> known_;
  std::map<std::string, std::string> values_;
  std::string error_;
};

// A whole number in [min, max]; std::nullopt otherwise.
inline std::optional<long> ParseInt(const std::string& text, long min,
                                    long max) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (*end != '\0' || value < min || value > max) return std::nullopt;
  return value;
}

// "250ms", "2s", "1.5s", "1m", "0"; std::nullopt when malformed or
// negative.
inline std::optional<std::chrono::milliseconds> ParseDuration(
    const std::string& text) {
  if (text == "0") return std::chrono::milliseconds(0);
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || number < 0) return std::nullopt;
  const std::string unit = end;
  double ms = 0;
  if (unit == "ms") {
    ms = number;
  } else if (unit == "s") {
    ms = number * 1000;
  } else if (unit == "m") {
    ms = number * 60000;
  } else {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

// `text` as a JSON string literal, quotes included.
inline std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Microseconds since the Unix epoch (CLOCK_REALTIME), for log lines that
// other processes' clocks can be compared with.
inline int64_t RealtimeMicros() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it
// starts afterwards, so that WaitForTermination() receives them. Call
// first thing in main().
inline sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Waits for SIGINT or SIGTERM, at most `timeout` when it is positive.
// The signal's number, or 0 on timeout.
inline int WaitForTermination(const sigset_t& signals,
                              std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) {
    int signal_number = 0;
    while (sigwait(&signals, &signal_number) != 0) {
    }
    return signal_number;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    timespec wait;
    wait.tv_sec = left.count() / 1000000000;
    wait.tv_nsec = left.count() % 1000000000;
    const int signal_number = sigtimedwait(&signals, nullptr, &wait);
    if (signal_number > 0) return signal_number;
    // EAGAIN: timed out (checked above); EINTR: wait again.
  }
}

}  // namespace muster_examples
