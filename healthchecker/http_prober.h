#pragma once

#include <cstdint>
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
// transfer (thousands in flight) and keeps connections for reuse. The
// thread waits in epoll on the sockets libcurl names and on libcurl's one
// timer, and hands libcurl only what became ready
// (curl_multi_socket_action), so a wake-up costs in proportion to the
// sockets that are ready, not to the transfers in flight. Method
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

  HttpProber(NetworkPolicy policy, std::string ca_pem, void* multi,
             int epoll_fd, int wake_fd);
  void SetTlsOptions(void* easy, const CheckSpec& check) const;
  void Loop();
  // libcurl's socket and timer callbacks (CURLMOPT_SOCKETFUNCTION,
  // CURLMOPT_TIMERFUNCTION), on the transfer thread.
  static int OnSocket(void* easy, int fd, int what, void* user, void* socketp);
  static int OnTimer(void* multi, long timeout_ms, void* user);
  // Hands libcurl the readiness of `fd` (or its timer, for
  // CURL_SOCKET_TIMEOUT), then finishes the transfers that ended.
  void SocketAction(int fd, int events);
  // How long epoll_wait may sleep before libcurl's timer is due, in ms;
  // -1 when no timer is set.
  int TimerWaitMs() const;
  void ReadFinished();
  void StartTransfer(ProbeRequest request, ProbeCallback done);
  void FinishTransfer(void* easy, int code);

  const NetworkPolicy policy_;
  // The CA bundle's PEM text, or empty for the system's roots. libcurl
  // borrows it (CURL_BLOB_NOCOPY) for every transfer.
  const std::string ca_pem_;
  void* const multi_;   // CURLM*, owned.
  const int epoll_fd_;  // Owned: libcurl's sockets and wake_fd_.
  const int wake_fd_;   // Owned eventfd: Probe() and Stop() wake the loop.

  absl::Mutex mu_;
  std::vector<std::pair<ProbeRequest, ProbeCallback>> pending_
      ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Transfer thread only (libcurl calls OnSocket/OnTimer there, and from
  // the destructor's curl_multi_cleanup after the thread has ended).
  // Keyed by the easy handle.
  absl::flat_hash_map<void*, std::unique_ptr<Transfer>> active_;
  // Finished easy handles, reset to libcurl's defaults, for reuse.
  std::vector<void*> idle_easy_;
  // When libcurl's timer is due (steady clock, ns), or -1 for none.
  int64_t timer_due_ns_ = -1;
  std::thread thread_;  // Touched only by Start() and Stop().
};

}  // namespace muster::healthchecker
