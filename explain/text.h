#pragma once

// Plain-text helpers for muster.v1 messages shared by `musterctl` and the
// explanation (explain/explain.h): enum names, ages and timestamps,
// durations, one-line escaping. Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "muster/v1/types.pb.h"

namespace muster::explain {

// The enum value without its prefix: "PASSING", "DRAINING", "HTTP",
// "PUT", "REGISTERED"; "-" for the UNSPECIFIED values.
std::string HealthName(v1::Health health);
std::string AdminStateName(v1::AdminState state);
std::string CheckKindName(v1::CheckKind kind);
std::string EventTypeName(v1::Event::Type type);
std::string EventCauseName(v1::Event::Cause cause);

// Routable: ENABLED and PASSING or WARNING (DESIGN, "Health").
bool IsRoutable(const v1::Instance& instance);

// An unset Timestamp (0s, 0ns) is nullopt.
std::optional<absl::Time> FromProtoTimestamp(
    const google::protobuf::Timestamp& t);

// How long ago `then` was, coarsely: "just now", "45s ago", "3m ago",
// "5h ago", "2d ago"; a future time reads "in 3m".
std::string FormatAge(absl::Time then, absl::Time now);
// FormatAge of a proto timestamp, "-" when unset.
std::string FormatAge(const google::protobuf::Timestamp& then, absl::Time now);

// RFC 3339 in UTC with whole seconds: "2024-05-01T10:00:00Z"; "-" when
// the proto timestamp is unset.
std::string FormatRfc3339(absl::Time t);
std::string FormatRfc3339(const google::protobuf::Timestamp& t);

// `text` made safe to show on one line of a table or of `explain`, for
// strings the daemon passes on as it read them (check output, and event
// reasons that quote it). A backslash is doubled; newline, carriage
// return and tab become the two characters \n, \r and \t; every other
// control character (C0, DEL, C1) and every byte that is not part of
// valid UTF-8 becomes \xNN (lowercase hex). Other text is kept, so the
// escaped form reads back unambiguously.
std::string OneLine(std::string_view text);

// Compact form that ParseDuration reads back: "0s", "500ms", "1m30s",
// "2h", "30d", "1s250ms". Sub-millisecond parts are dropped.
std::string FormatCompactDuration(absl::Duration d);

// google.protobuf.Duration as an absl::Duration.
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

}  // namespace muster::explain
