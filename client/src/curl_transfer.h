#pragma once

// One HTTP try over a libcurl easy handle: the request set on the handle,
// the response (status, headers, body) collected, and libcurl's result
// put into words. Not thread-safe: one thread uses a transfer at a time.

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "muster/client/http_client.h"

struct curl_slist;

namespace muster::client::internal {

struct TryRequest {
  std::string method;
  std::string url;
  HttpHeaders headers;
  std::string body;
  std::chrono::milliseconds timeout{0};
};

enum class TryOutcome {
  kResponse,      // a status line and what followed
  kConnectError,  // nothing was sent: refused, unreachable, unresolved
  kTimeout,       // the try's timeout passed
  kOtherError,    // anything else (reset mid-response, TLS, ...)
};

struct TryResult {
  TryOutcome outcome = TryOutcome::kOtherError;
  int status = 0;
  // "" for kResponse; else in words ("connect: Connection refused").
  std::string error;
  HttpHeaders headers;
  std::string body;
};

// Sets up libcurl's global state once per process; false when it failed.
bool CurlGlobalInit();

// A connection and DNS cache shared by easy handles, so that one
// thread's synchronous tries reuse the connections of others.
// Thread-safe; outlives every transfer that uses it.
class CurlShare {
 public:
  CurlShare();
  ~CurlShare();

  CurlShare(const CurlShare&) = delete;
  CurlShare& operator=(const CurlShare&) = delete;

  // The CURLSH*; null when libcurl could not make one.
  void* handle() const { return share_; }

 private:
  void* share_ = nullptr;
  // One per curl_lock_data.
  std::array<std::mutex, 16> locks_;
};

class CurlTransfer {
 public:
  // A handle set up for `request` (copied into it), using `share` (a
  // CurlShare's handle) when not null.
  explicit CurlTransfer(TryRequest request, void* share = nullptr);
  ~CurlTransfer();

  CurlTransfer(const CurlTransfer&) = delete;
  CurlTransfer& operator=(const CurlTransfer&) = delete;

  // The easy handle (CURL*), for curl_multi_add_handle; null when
  // libcurl could not make one (Perform and Finish then say so).
  void* easy() const { return easy_; }

  // Runs the try on the calling thread.
  TryResult Perform();
  // The result once libcurl finished the transfer with `code` (a
  // CURLcode; from curl_multi_info_read).
  TryResult Finish(int code);

 private:
  static size_t OnBody(char* data, size_t size, size_t count, void* user);
  static size_t OnHeader(char* data, size_t size, size_t count, void* user);

  const TryRequest request_;
  void* easy_ = nullptr;
  curl_slist* header_list_ = nullptr;
  HttpHeaders response_headers_;
  std::string response_body_;
  std::string error_buffer_;
};

}  // namespace muster::client::internal
