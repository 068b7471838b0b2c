#pragma once

#include "common/clock.h"
#include "common/log_limiter.h"
#include "common/metrics.h"

namespace muster::registry {

// Sends libprotobuf's log messages (for example "String field
// 'muster.v1.RegisterRequest.realm' contains invalid UTF-8 data when
// parsing a protocol buffer", one per bad request) through muster's
// logger, in its format and at its levels (protobuf's INFO, WARNING and
// ERROR; FATAL as error), instead of protobuf's own stderr lines. Any
// client can trigger them, so they are rate-limited (`limits`); what is
// dropped is counted in muster_protobuf_log_dropped_total and reported
// in the next line. Process-wide; call once before serving. `clock` and
// `metrics` must outlive the process's use of protobuf.
void RouteProtobufLogs(Clock& clock, Metrics& metrics,
                       LogLimiter::Options limits = {});

// Puts back the handler protobuf had before (tests).
void RestoreProtobufLogs();

}  // namespace muster::registry
