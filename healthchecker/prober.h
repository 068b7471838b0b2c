#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "checkapi/check_spec.h"

namespace muster::healthchecker {

// Check output kept per instance (status line, first bytes of the body,
// error text) is at most this long.
inline constexpr size_t kMaxProbeOutputBytes = 4096;
// An HTTP probe reads at most this much of a response body.
inline constexpr size_t kMaxProbeBodyBytes = 4096;

// What one probe concluded. Values are not persisted.
enum class ProbeResult { kSuccess, kWarning, kFailure };

absl::string_view ProbeResultName(ProbeResult result);

struct ProbeOutcome {
  ProbeResult result = ProbeResult::kFailure;
  // Readable and capped: "HTTP 503", "connect: connection refused",
  // "timeout after 2s", "grpc NOT_SERVING". Valid UTF-8.
  std::string output;
};

// One probe: where and how. `check.timeout` is the deadline of the whole
// probe (resolution included); the HTTP prober reads `check.http_*`, the
// gRPC prober `check.grpc_service`.
struct ProbeRequest {
  std::string address;
  uint32_t port = 0;
  CheckSpec check;
};

using ProbeCallback = std::function<void(ProbeOutcome)>;

// The certificates TLS probes (https, gRPC over TLS) verify targets
// against, one set for the whole checker; a check may only opt out of
// verification (CheckSpec::tls_skip_verify).
struct ProbeTrust {
  // A PEM bundle of CA certificates, read once when the prober is made;
  // empty: the system's roots.
  std::string ca_file;
};

// The PEM text of a CA bundle file. INVALID_ARGUMENT when it cannot be
// read or holds no PEM certificate (the message names the file, not an
// option).
absl::StatusOr<std::string> ReadCaFile(const std::string& path);

// The output of a probe whose TLS handshake failed: "TLS: <reason>",
// e.g. "TLS: certificate verify failed: unable to get local issuer
// certificate".
std::string TlsOutput(absl::string_view reason);

// An asynchronous probe transport (HTTP, TCP, gRPC). Thousands of probes
// may be in flight; none holds a thread. Thread-safe.
class Prober {
 public:
  virtual ~Prober() = default;
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Starts the prober's I/O. Called once, before any Probe().
  virtual absl::Status Start() = 0;
  // Idempotent, joining. Probes still in flight are abandoned: their
  // callbacks are destroyed without running. No callback runs after
  // Stop() returns.
  virtual void Stop() = 0;
  // Starts a probe. `done` runs exactly once (unless Stop() intervenes),
  // on a prober or library thread, possibly inside this call: callers
  // must not hold a lock that `done` takes.
  virtual void Probe(const ProbeRequest& request, ProbeCallback done) = 0;

 protected:
  Prober() = default;
};

// Makes `text` fit for an instance's output: invalid UTF-8 bytes become
// '?', control characters other than '\n' and '\t' become ' ', and the
// result is cut to kMaxProbeOutputBytes at a character boundary.
std::string SanitizeOutput(absl::string_view text);

// "timeout after 2s", "timeout after 300ms".
std::string TimeoutOutput(absl::Duration timeout);

// "connect: connection refused" for ECONNREFUSED: `what` and the
// lowercased strerror text.
std::string ErrnoOutput(absl::string_view what, int error_number);

}  // namespace muster::healthchecker
