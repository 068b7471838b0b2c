#pragma once

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "healthchecker/network_policy.h"
#include "healthchecker/prober.h"

namespace muster::healthchecker {

// HTTP(S) checks with libcurl's multi interface: one thread drives every
// transfer (thousands in flight) and keeps connections for reuse. Method
// GET unless the check names another (HEAD, POST, ...), the check's
// headers, its timeout for the whole transfer, redirects only when the
// check asks (at most 5), http/https only, no proxy. 2xx is a success,
// 429 a warning, anything else a failure; at most kMaxProbeBodyBytes of
// body are read (a longer transfer is cut off and still judged by its
// status). Every address libcurl resolves passes the network policy
// before a socket is opened. https verifies the target's certificate
// chain and name against the trust (the system's roots unless a CA file
// is given) unless the check sets tls_skip_verify; tls_server_name is the
// name verified and sent as SNI and Host. The only includer of <curl/...>.
// Thread-safe.
class HttpProber final : public Prober {
 public:
  // INTERNAL when libcurl cannot be initialised; INVALID_ARGUMENT when
  // trust.ca_file cannot be read (see ReadCaFile).
  static absl::StatusOr<std::unique_ptr<HttpProber>> Create(
      NetworkPolicy policy, const ProbeTrust& trust = ProbeTrust());
  ~HttpProber() override;

  absl::Status Start() override;
  void Stop() override;
  void Probe(const ProbeRequest& request, ProbeCallback done) override;

 private:
  struct Transfer;  // Defined in the .cc, next to the libcurl calls.

  HttpProber(NetworkPolicy policy, std::string ca_pem, void* multi);
  void SetTlsOptions(void* easy, const CheckSpec& check) const;
  void Loop();
  void StartTransfer(ProbeRequest request, ProbeCallback done);
  void FinishTransfer(void* easy, int code);

  const NetworkPolicy policy_;
  // The CA bundle's PEM text, or empty for the system's roots. libcurl
  // borrows it (CURL_BLOB_NOCOPY) for every transfer.
  const std::string ca_pem_;
  void* const multi_;  // CURLM*, owned.

  absl::Mutex mu_;
  std::vector<std::pair<ProbeRequest, ProbeCallback>> pending_
      ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Transfer thread only; keyed by the easy handle.
  absl::flat_hash_map<void*, std::unique_ptr<Transfer>> active_;
  std::thread thread_;  // Touched only by Start() and Stop().
};

}  // namespace muster::healthchecker
