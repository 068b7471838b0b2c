#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "healthchecker/prober.h"

namespace muster::healthchecker {

// The part of an HTTP probe that does not touch the network: how the
// bytes of a response body are kept, and how a status and that body
// become a verdict and a check output. HttpProber feeds it from libcurl's
// callbacks; the fuzz target fuzz/http_response_fuzzer.cc feeds it
// arbitrary responses.

// A response body kept up to kMaxProbeBodyBytes. Not thread-safe (one
// transfer's callbacks run on one thread).
class ProbeBody final {
 public:
  // Keeps as much of `data` as fits and returns how many bytes it took;
  // less than data.size() means the body was cut off (truncated() is then
  // true), which tells libcurl to end the transfer.
  size_t Append(absl::string_view data);

  const std::string& bytes() const { return bytes_; }
  bool truncated() const { return truncated_; }

 private:
  std::string bytes_;
  bool truncated_ = false;
};

// The outcome of a response whose status line arrived (`status` > 0):
// 2xx is a success, 429 a warning, anything else a failure; the output is
// "HTTP <status>", then a newline and the body when there is one, made
// fit by SanitizeOutput (valid UTF-8, no control characters but '\n' and
// '\t', at most kMaxProbeOutputBytes).
ProbeOutcome HttpResponseOutcome(long status, absl::string_view body);

}  // namespace muster::healthchecker
