#include "muster/client/http_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <utility>

#include "client/src/backoff.h"
#include "client/src/curl_event_loop.h"
#include "client/src/curl_transfer.h"
#include "client/src/retry_after.h"
#include "client/src/retry_budget.h"
#include "client/src/service_url.h"

namespace muster::client {
namespace {

using internal::TryOutcome;
using internal::TryRequest;
using internal::TryResult;
using std::chrono::milliseconds;

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper((unsigned char)c));
  return text;
}

bool IdempotentMethod(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" ||
         method == "DELETE" || method == "OPTIONS";
}

bool ValidMethod(const std::string& method) {
  if (method.empty()) return false;
  for (char c : method) {
    if (!std::isalpha(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string FirstHeader(const HttpHeaders& headers, const std::string& name) {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

std::string Ms(milliseconds duration) {
  return std::to_string(duration.count()) + " ms";
}

// The shared state of one client: what every request reads and counts.
struct Shared {
  std::shared_ptr<EndpointPicker> picker;
  HttpClientOptions options;
  std::shared_ptr<Clock> clock;
  internal::RetryBudget budget;
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> tries{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> budget_exhausted{0};

  Shared(std::shared_ptr<EndpointPicker> picker_in,
         HttpClientOptions options_in, std::shared_ptr<Clock> clock_in)
      : picker(std::move(picker_in)),
        options(std::move(options_in)),
        clock(std::move(clock_in)),
        budget(options.budget_ratio, options.budget_window,
               options.budget_min_per_second, clock) {}
};

// One request's tries, without I/O: which try to send next, and whether
// to retry (after which wait) once a try's result is in. The synchronous
// and asynchronous paths both drive it. Not thread-safe.
class Call {
 public:
  enum class Action { kSend, kWait, kDone };

  Call(Shared& shared, HttpRequest request)
      : shared_(shared),
        request_(std::move(request)),
        backoff_(shared.options.backoff_base, shared.options.backoff_max,
                 internal::RandomSeed()) {
    shared_.requests.fetch_add(1, std::memory_order_relaxed);
    request_.method = Upper(request_.method);
    if (request_.per_try_timeout <= milliseconds(0)) {
      request_.per_try_timeout = shared_.options.per_try_timeout;
    }
    if (request_.deadline <= milliseconds(0)) {
      request_.deadline = shared_.options.deadline;
    }
    deadline_ = shared_.clock->Now() + request_.deadline;
    idempotent_ =
        request_.idempotent.value_or(IdempotentMethod(request_.method));
  }

  // The first step: kSend (see next_try()) or kDone.
  Action Start() {
    if (!ValidMethod(request_.method)) {
      return Done("method \"" + request_.method + "\" is not an HTTP method");
    }
    std::string error;
    std::optional<internal::TargetUrl> target =
        internal::ParseTargetUrl(request_.url, &error);
    if (!target.has_value()) return Done(error);
    if (target->is_service() && shared_.picker == nullptr) {
      return Done("url \"" + request_.url +
                  "\": service:// needs a resolver, and the client has none");
    }
    target_ = std::move(*target);
    return PrepareTry();
  }

  // REQUIRES: the last action was kSend.
  const TryRequest& next_try() const { return next_try_; }
  // REQUIRES: the last action was kWait.
  milliseconds wait() const { return wait_; }

  // After a try's result: kWait (then AfterWait()) or kDone.
  Action OnResult(TryResult result) {
    const bool response = result.outcome == TryOutcome::kResponse;
    const int status = result.status;
    if (endpoint_.has_value()) {
      shared_.picker->Report(*endpoint_, response && status < 500);
    }
    response_.status = status;
    response_.error = std::move(result.error);
    response_.headers = std::move(result.headers);
    response_.body = std::move(result.body);
    const bool retryable =
        result.outcome == TryOutcome::kConnectError ||
        result.outcome == TryOutcome::kTimeout ||
        (response && (status == 502 || status == 503 || status == 504));
    if (!retryable || !idempotent_ ||
        response_.attempts >= shared_.options.max_attempts) {
      return Action::kDone;
    }
    milliseconds wait = backoff_.Next();
    if (response) {
      const std::string retry_after = response_.header("Retry-After");
      if (!retry_after.empty()) {
        // Measured from the server's own Date, when it sent one, so that
        // the hosts' clock skew does not count; else from the wall clock
        // (Clock is monotonic only).
        std::optional<std::chrono::system_clock::time_point> now =
            internal::ParseHttpDate(response_.header("Date"));
        std::optional<milliseconds> asked = internal::ParseRetryAfter(
            retry_after, now.value_or(std::chrono::system_clock::now()));
        if (asked.has_value()) wait = std::max(wait, *asked);
      }
    }
    if (shared_.clock->Now() + wait >= deadline_) {
      return Stop("deadline of " + Ms(request_.deadline) + " reached");
    }
    if (!shared_.budget.TryWithdraw()) {
      shared_.budget_exhausted.fetch_add(1, std::memory_order_relaxed);
      return Stop("retry budget exhausted");
    }
    wait_ = wait;
    return Action::kWait;
  }

  // After the wait: kSend or kDone.
  Action AfterWait() {
    if (shared_.clock->Now() >= deadline_) {
      return Stop("deadline of " + Ms(request_.deadline) + " reached");
    }
    return PrepareTry();
  }

  HttpResponse TakeResponse() { return std::move(response_); }

 private:
  Action Done(std::string error) {
    response_.error = std::move(error);
    return Action::kDone;
  }

  // The loop ends before max_attempts: when the last try got no
  // response, the error says why there was no other.
  Action Stop(const std::string& why) {
    if (!response_.error.empty()) {
      response_.error = why + " (last try: " + response_.error + ")";
    }
    return Action::kDone;
  }

  Action PrepareTry() {
    const auto remaining = std::chrono::duration_cast<milliseconds>(
        deadline_ - shared_.clock->Now());
    if (remaining <= milliseconds(0)) {
      // An asynchronous request may wait its turn past its deadline.
      const std::string why =
          "deadline of " + Ms(request_.deadline) + " reached";
      if (response_.attempts == 0) return Done(why + " before the first try");
      return Stop(why);
    }
    next_try_ = TryRequest{request_.method, "", request_.headers, request_.body,
                           request_.per_try_timeout};
    if (target_.is_service()) {
      std::string why;
      std::optional<Endpoint> endpoint =
          shared_.picker->Pick(target_.service, tried_, &why);
      if (!endpoint.has_value() && !tried_.empty()) {
        // No other routable instance: one already tried will do.
        endpoint = shared_.picker->Pick(target_.service, {}, &why);
      }
      if (!endpoint.has_value()) {
        if (response_.attempts > 0) return Action::kDone;
        return Done(
            !why.empty() ? why : "no routable instance of " + target_.service);
      }
      tried_.push_back(endpoint->id);
      response_.instance_id = endpoint->id;
      response_.host_port = internal::HostPort(*endpoint);
      next_try_.url = target_.ForHost(response_.host_port);
      endpoint_ = std::move(endpoint);
    } else {
      next_try_.url = target_.rest;
    }
    next_try_.timeout =
        std::max(milliseconds(1), std::min(next_try_.timeout, remaining));
    if (response_.attempts == 0) {
      shared_.budget.Deposit();
    } else {
      shared_.retries.fetch_add(1, std::memory_order_relaxed);
    }
    shared_.tries.fetch_add(1, std::memory_order_relaxed);
    ++response_.attempts;
    return Action::kSend;
  }

  Shared& shared_;
  HttpRequest request_;
  internal::TargetUrl target_;
  Clock::TimePoint deadline_;
  bool idempotent_ = false;
  internal::Backoff backoff_;
  std::vector<std::string> tried_;
  std::optional<Endpoint> endpoint_;
  TryRequest next_try_;
  milliseconds wait_{0};
  HttpResponse response_;
};

// HttpClient over libcurl: Send on the caller's thread (an easy handle
// per try), SendAsync on `loop_` (one multi handle). Thread-safe.
class HttpClientImpl final : public HttpClient {
 public:
  HttpClientImpl(std::shared_ptr<EndpointPicker> picker,
                 HttpClientOptions options, std::shared_ptr<Clock> clock)
      : shared_(std::move(picker), std::move(options), clock),
        loop_(std::move(clock)) {
    loop_.Start();
  }

  ~HttpClientImpl() override { loop_.Stop(); }

  HttpResponse Send(HttpRequest request) override {
    Call call(shared_, std::move(request));
    Call::Action action = call.Start();
    while (action != Call::Action::kDone) {
      if (action == Call::Action::kWait) {
        shared_.clock->SleepFor(call.wait());
        action = call.AfterWait();
        continue;
      }
      internal::CurlTransfer transfer(call.next_try(), share_.handle());
      action = call.OnResult(transfer.Perform());
    }
    return call.TakeResponse();
  }

  void SendAsync(HttpRequest request,
                 std::function<void(HttpResponse)> done) override {
    auto call = std::make_shared<AsyncCall>(shared_, std::move(request),
                                            std::move(done));
    loop_.Post([this, call] { Admit(call); });
  }

  HttpClientStats stats() const override {
    HttpClientStats stats;
    stats.requests = shared_.requests.load(std::memory_order_relaxed);
    stats.tries = shared_.tries.load(std::memory_order_relaxed);
    stats.retries = shared_.retries.load(std::memory_order_relaxed);
    stats.budget_exhausted =
        shared_.budget_exhausted.load(std::memory_order_relaxed);
    return stats;
  }

 private:
  struct AsyncCall {
    AsyncCall(Shared& shared, HttpRequest request,
              std::function<void(HttpResponse)> done_in)
        : call(shared, std::move(request)), done(std::move(done_in)) {}
    Call call;
    std::function<void(HttpResponse)> done;
  };
  using AsyncCallPtr = std::shared_ptr<AsyncCall>;

  // Loop thread only, from here down.
  void Admit(AsyncCallPtr call) {
    const int limit = std::max(1, shared_.options.max_async_in_flight);
    if (in_flight_ >= limit) {
      waiting_.push_back(std::move(call));
      return;
    }
    ++in_flight_;
    Drive(call, call->call.Start());
  }

  void Drive(const AsyncCallPtr& call, Call::Action action) {
    switch (action) {
      case Call::Action::kSend:
        loop_.Add(
            std::make_unique<internal::CurlTransfer>(call->call.next_try()),
            [this, call](std::unique_ptr<internal::CurlTransfer>,
                         TryResult result) {
              Drive(call, call->call.OnResult(std::move(result)));
            });
        return;
      case Call::Action::kWait:
        loop_.RunAt(shared_.clock->Now() + call->call.wait(),
                    [this, call] { Drive(call, call->call.AfterWait()); });
        return;
      case Call::Action::kDone:
        break;
    }
    --in_flight_;
    if (!waiting_.empty()) {
      AsyncCallPtr next = std::move(waiting_.front());
      waiting_.pop_front();
      Admit(std::move(next));
    }
    std::function<void(HttpResponse)> done = std::move(call->done);
    if (done) done(call->call.TakeResponse());
  }

  Shared shared_;
  // Send()'s connection cache.
  internal::CurlShare share_;
  // Loop thread only.
  int in_flight_ = 0;
  std::deque<AsyncCallPtr> waiting_;
  // Last: stopped (and drained) first, while the rest is alive.
  internal::CurlEventLoop loop_;
};

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  return FirstHeader(headers, name);
}

std::unique_ptr<HttpClient> HttpClient::Create(
    std::shared_ptr<EndpointPicker> picker, HttpClientOptions options) {
  std::shared_ptr<Clock> clock =
      options.clock != nullptr ? options.clock : Clock::Real();
  return std::make_unique<HttpClientImpl>(std::move(picker), std::move(options),
                                          clock);
}

std::future<HttpResponse> HttpClient::SendAsync(HttpRequest request) {
  auto promise = std::make_shared<std::promise<HttpResponse>>();
  std::future<HttpResponse> future = promise->get_future();
  SendAsync(std::move(request), [promise](HttpResponse response) {
    promise->set_value(std::move(response));
  });
  return future;
}

HttpResponse HttpClient::Get(const std::string& url) {
  HttpRequest request;
  request.url = url;
  return Send(std::move(request));
}

HttpResponse HttpClient::Delete(const std::string& url) {
  HttpRequest request;
  request.method = "DELETE";
  request.url = url;
  return Send(std::move(request));
}

namespace {

HttpRequest WithBody(const char* method, const std::string& url,
                     std::string body, const std::string& content_type) {
  HttpRequest request;
  request.method = method;
  request.url = url;
  request.headers.emplace_back("Content-Type", content_type);
  request.body = std::move(body);
  return request;
}

}  // namespace

HttpResponse HttpClient::Post(const std::string& url, std::string body,
                              const std::string& content_type) {
  return Send(WithBody("POST", url, std::move(body), content_type));
}

HttpResponse HttpClient::Put(const std::string& url, std::string body,
                             const std::string& content_type) {
  return Send(WithBody("PUT", url, std::move(body), content_type));
}

std::future<HttpResponse> HttpClient::GetAsync(const std::string& url) {
  HttpRequest request;
  request.url = url;
  return SendAsync(std::move(request));
}

}  // namespace muster::client
