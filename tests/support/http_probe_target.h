#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace muster::testing {

// An HTTP server on 127.0.0.1 (port 0) for health-check tests, whose
// answer the test flips: a status and body, a hang (until the answer is
// flipped again or the server stops), a huge body, or a redirect. Every
// path answers the same, except /redirected, which always answers 200.
// StartTls serves https with a given certificate. Thread-safe.
class HttpProbeTarget final {
 public:
  static absl::StatusOr<std::unique_ptr<HttpProbeTarget>> Start();
  // https with the PEM certificate (chain) and key in these files.
  static absl::StatusOr<std::unique_ptr<HttpProbeTarget>> StartTls(
      const std::string& cert_file, const std::string& key_file);
  ~HttpProbeTarget();

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>" (https:// when started with TLS).
  std::string Url(absl::string_view path = "/health") const;

  void AnswerStatus(int status, std::string body = "");
  void AnswerHang();
  // 200 with `bytes` of 'x'.
  void AnswerHugeBody(size_t bytes);
  // 302 to `location`.
  void AnswerRedirect(std::string location);

  size_t requests() const;
  std::string last_method() const;
  // The last request's value of header `name`, or "".
  std::string last_header(const std::string& name) const;

  // Releases hanging requests, stops the server and joins its thread.
  void Stop();

 private:
  enum class Mode { kStatus, kHang, kHugeBody, kRedirect };
  HttpProbeTarget(std::unique_ptr<httplib::Server> server, std::string scheme);
  static absl::StatusOr<std::unique_ptr<HttpProbeTarget>> Serve(
      std::unique_ptr<HttpProbeTarget> target);

  std::unique_ptr<httplib::Server> server_;
  const std::string scheme_;  // "http" or "https"
  int port_ = 0;
  std::thread thread_;

  mutable absl::Mutex mu_;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kStatus;
  int status_ ABSL_GUARDED_BY(mu_) = 200;
  std::string body_ ABSL_GUARDED_BY(mu_) = "ok";
  size_t huge_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::string location_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_method_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, std::string> last_headers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace muster::testing
