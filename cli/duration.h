#pragma once

// Durations as operators write them on the command line ("10s", "1m",
// "500ms", "1h30m", "2d") and as musterctl prints them.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "explain/text.h"
#include "google/protobuf/duration.pb.h"

namespace muster::cli {

using explain::FormatCompactDuration;
using explain::FromProtoDuration;

// Parses one or more <number><unit> parts, unit one of ns, us, ms, s, m, h,
// d; a number may have a fraction ("1.5s"). "0" alone is zero. Negative,
// unit-less, empty, infinite or overflowing values are a usage error
// naming `flag` (e.g. "--interval").
absl::StatusOr<absl::Duration> ParseDuration(const std::string& flag,
                                             const std::string& text);

// Conversions to and from google.protobuf.Duration (FromProtoDuration and
// FormatCompactDuration: explain/text.h).
google::protobuf::Duration ToProtoDuration(absl::Duration d);

}  // namespace muster::cli
