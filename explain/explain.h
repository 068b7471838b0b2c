#pragma once

// `musterctl explain`: why an instance is or is not routable, in plain
// words, from the Instance alone (health_detail carries the checker's live
// state). Pure functions; thread-safe.

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "muster/v1/types.pb.h"

namespace muster::explain {

// The result of Explain: a verdict, findings in plain words, and hints.
struct Explanation {
  bool routable = false;
  // One sentence: "web/web-1 (realm "prod") is NOT routable: an operator
  // drained it."
  std::string verdict;
  // Labelled findings in a fixed order: "Admin state", "Health", "Check",
  // "TLS" (HTTP and gRPC checks only), "Last check", "Eviction". Each is one
  // line: the check output they quote is escaped with OneLine (the raw output
  // is in the Instance).
  std::vector<std::pair<std::string, std::string>> findings;
  // What an operator can do next; may be empty.
  std::vector<std::string> hints;
};

Explanation Explain(const v1::Instance& instance, absl::Time now);

// One line about a check spec: "HTTP GET http://10.0.0.7/health every 10s,
// timeout 2s, passing after 1 / critical after 3 results, evicted after 10m
// critical". Unset values read "default".
std::string DescribeCheck(const v1::CheckSpec& check);

// The TLS mode of an HTTP or gRPC check, in words: "plain http (no TLS)",
// "https, certificate verified against musterd's probe CAs
// (--probe-ca-file, else the system roots)", "gRPC over TLS as
// \"api.internal\", certificate NOT verified (tls_skip_verify)". Empty for
// the other kinds.
std::string DescribeCheckTls(const v1::CheckSpec& check);

}  // namespace muster::explain
