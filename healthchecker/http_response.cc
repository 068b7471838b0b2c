#include "healthchecker/http_response.h"

#include "absl/strings/str_cat.h"

namespace muster::healthchecker {
namespace {

ProbeResult ResultOfStatus(long status) {
  if (status >= 200 && status < 300) return ProbeResult::kSuccess;
  if (status == 429) return ProbeResult::kWarning;
  return ProbeResult::kFailure;
}

}  // namespace

size_t ProbeBody::Append(absl::string_view data) {
  const size_t room = kMaxProbeBodyBytes - bytes_.size();
  if (data.size() > room) {
    // Taking less than offered makes libcurl abort the transfer
    // (CURLE_WRITE_ERROR); the status line has been read by now.
    bytes_.append(data.data(), room);
    truncated_ = true;
    return room;
  }
  bytes_.append(data.data(), data.size());
  return data.size();
}

ProbeOutcome HttpResponseOutcome(long status, absl::string_view body) {
  ProbeOutcome outcome;
  outcome.result = ResultOfStatus(status);
  outcome.output = absl::StrCat("HTTP ", status);
  if (!body.empty()) absl::StrAppend(&outcome.output, "\n", body);
  outcome.output = SanitizeOutput(outcome.output);
  return outcome;
}

}  // namespace muster::healthchecker
