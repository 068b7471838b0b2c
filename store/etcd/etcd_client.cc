#include "store/etcd/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "store/etcd/proto/rpc.grpc.pb.h"

namespace muster::etcd {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

// etcd's metadata keys (etcdserver/api/v3rpc/rpctypes): a member without
// a leader refuses calls that carry "hasleader: true"; "token" carries
// the auth token.
constexpr char kRequireLeaderKey[] = "hasleader";
constexpr char kRequireLeaderValue[] = "true";
constexpr char kTokenKey[] = "token";

// etcd's messages for the errors the client acts on.
constexpr char kCompactedMessage[] = "required revision has been compacted";
constexpr char kInvalidTokenMessage[] = "invalid auth token";
constexpr char kAuthOldRevisionMessage[] = "revision of auth store is old";

// Channel settings. A member that comes back is dialed again within
// seconds (gRPC's default backoff grows to two minutes). Keepalive pings
// on open calls notice a member that went away without closing its
// connections (a watch stream has no deadline); etcd's default
// --grpc-keepalive-min-time is 5 s, so pings every 10 s are accepted.
constexpr int kInitialReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 2000;
constexpr int kKeepaliveTimeMs = 10000;
constexpr int kKeepaliveTimeoutMs = 5000;

absl::Status FromGrpc(const grpc::Status& status, absl::string_view call,
                      absl::string_view endpoint) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("etcd ", call, " on ", endpoint, ": ",
                                   status.error_message()));
}

// A dead, stopped or partitioned member: move to the next endpoint.
bool IsEndpointFailure(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// A token etcd no longer accepts: authenticate again.
bool IsStaleToken(const grpc::Status& status) {
  return (status.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
          absl::StrContains(status.error_message(), kInvalidTokenMessage)) ||
         (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
          absl::StrContains(status.error_message(), kAuthOldRevisionMessage));
}

absl::Status CheckEndpoint(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(endpoint.substr(colon + 1), &port) || port <= 0 ||
      port > 65535 || absl::StrContains(endpoint, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd option endpoints: \"", endpoint,
                     "\" is not host:port (e.g. 127.0.0.1:2379; no scheme)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadTlsFile(absl::string_view option,
                                        const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  if (in) contents << in.rdbuf();
  if (!in || in.bad()) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd option ", option, ": cannot read \"", path, "\""));
  }
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(
    const EtcdClientOptions& options) {
  if (options.ca_file.empty() && options.cert_file.empty() &&
      options.key_file.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadTlsFile("ca_file", options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert =
        ReadTlsFile("cert_file", options.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadTlsFile("key_file", options.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

// One member: its channel and the stubs on it. Constant after
// construction; the stubs are thread-safe.
struct Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
  std::unique_ptr<etcdserverpb::Auth::Stub> auth;
};

// The watch stream: a reader thread moves responses into queue_; Next
// takes them out.
class WatchStreamImpl final : public EtcdWatchStream {
 public:
  WatchStreamImpl(Endpoint* endpoint, const std::string& token,
                  const etcdserverpb::WatchCreateRequest& create)
      : endpoint_address_(endpoint->address) {
    context_.AddMetadata(kRequireLeaderKey, kRequireLeaderValue);
    if (!token.empty()) context_.AddMetadata(kTokenKey, token);
    stream_ = endpoint->watch->Watch(&context_);
    WatchRequest request;
    *request.mutable_create_request() = create;
    // A failed write shows as the end of the stream, which the reader
    // reports.
    stream_->Write(request);
    reader_ = std::thread([this] { ReadLoop(); });
  }

  ~WatchStreamImpl() override { Close(); }

  absl::StatusOr<std::optional<WatchResponse>> Next(
      absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &WatchStreamImpl::Ready),
                         timeout);
    if (closed_) return absl::CancelledError("etcd watch: closed");
    if (!queue_.empty()) {
      WatchResponse response = std::move(queue_.front());
      queue_.pop_front();
      return std::optional<WatchResponse>(std::move(response));
    }
    if (end_.has_value()) return *end_;
    return std::optional<WatchResponse>();
  }

  bool RequestProgress() override {
    absl::MutexLock lock(&write_mu_);
    if (finished_) return false;
    WatchRequest request;
    request.mutable_progress_request();
    return stream_->Write(request);
  }

  void Close() override {
    absl::MutexLock close_lock(&close_mu_);
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    context_.TryCancel();
    if (reader_.joinable()) reader_.join();
  }

 private:
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || !queue_.empty() || end_.has_value();
  }

  void ReadLoop() {
    WatchResponse response;
    bool canceled_by_etcd = false;
    std::string cancel_reason;
    while (stream_->Read(&response)) {
      canceled_by_etcd = response.canceled();
      cancel_reason = response.cancel_reason();
      {
        absl::MutexLock lock(&mu_);
        queue_.push_back(std::move(response));
      }
      response = WatchResponse();
      // etcd keeps the stream open after canceling its one watch; this
      // stream ends there.
      if (canceled_by_etcd) {
        context_.TryCancel();
        break;
      }
    }
    grpc::Status status;
    {
      absl::MutexLock lock(&write_mu_);
      // Drain what the cancel left, so that Finish may be called.
      if (canceled_by_etcd) {
        while (stream_->Read(&response)) {
        }
      }
      status = stream_->Finish();
      finished_ = true;
    }
    absl::Status end;
    if (canceled_by_etcd) {
      end = absl::CancelledError(absl::StrCat(
          "etcd watch on ", endpoint_address_, ": canceled by etcd",
          cancel_reason.empty() ? "" : ": ", cancel_reason));
    } else if (status.ok()) {
      end = absl::UnavailableError(
          absl::StrCat("etcd watch on ", endpoint_address_,
                       ": the member ended the stream"));
    } else {
      end = FromGrpc(status, "Watch", endpoint_address_);
    }
    absl::MutexLock lock(&mu_);
    end_ = end;
  }

  // Constant after construction.
  const std::string endpoint_address_;
  grpc::ClientContext context_;  // TryCancel is thread-safe
  std::unique_ptr<grpc::ClientReaderWriter<WatchRequest, WatchResponse>>
      stream_;
  std::thread reader_;  // joined by the first Close, under close_mu_

  absl::Mutex close_mu_;
  // Writes, and Finish, one at a time.
  absl::Mutex write_mu_;
  bool finished_ ABSL_GUARDED_BY(write_mu_) = false;

  absl::Mutex mu_;
  std::deque<WatchResponse> queue_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// A stream that failed before it opened (its member could not give an
// auth token).
class FailedWatchStream final : public EtcdWatchStream {
 public:
  explicit FailedWatchStream(absl::Status status)
      : status_(std::move(status)) {}
  absl::StatusOr<std::optional<WatchResponse>> Next(absl::Duration) override {
    if (closed_) return absl::CancelledError("etcd watch: closed");
    return status_;
  }
  bool RequestProgress() override { return false; }
  void Close() override { closed_ = true; }

 private:
  const absl::Status status_;
  std::atomic<bool> closed_{false};
};

class EtcdClientImpl final : public EtcdClient {
 public:
  EtcdClientImpl(EtcdClientOptions options,
                 std::vector<std::unique_ptr<Endpoint>> endpoints)
      : options_(std::move(options)), endpoints_(std::move(endpoints)) {}

  absl::StatusOr<etcdserverpb::RangeResponse> Range(
      const etcdserverpb::RangeRequest& request) override {
    return Call<etcdserverpb::RangeResponse>(
        "Range", /*retry_elsewhere=*/true,
        [&](Endpoint& e, grpc::ClientContext* c,
            etcdserverpb::RangeResponse* r) {
          return e.kv->Range(c, request, r);
        });
  }

  absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      const etcdserverpb::TxnRequest& request) override {
    return Call<etcdserverpb::TxnResponse>(
        "Txn", /*retry_elsewhere=*/false,
        [&](Endpoint& e, grpc::ClientContext* c, etcdserverpb::TxnResponse* r) {
          return e.kv->Txn(c, request, r);
        });
  }

  absl::Status Compact(int64_t revision) override {
    etcdserverpb::CompactionRequest request;
    request.set_revision(revision);
    absl::StatusOr<etcdserverpb::CompactionResponse> response =
        Call<etcdserverpb::CompactionResponse>(
            "Compact", /*retry_elsewhere=*/false,
            [&](Endpoint& e, grpc::ClientContext* c,
                etcdserverpb::CompactionResponse* r) {
              return e.kv->Compact(c, request, r);
            });
    if (response.status().code() == absl::StatusCode::kOutOfRange &&
        absl::StrContains(response.status().message(), kCompactedMessage)) {
      return absl::OkStatus();
    }
    return response.status();
  }

  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(
      int64_t ttl_seconds) override {
    etcdserverpb::LeaseGrantRequest request;
    request.set_ttl(ttl_seconds);
    absl::StatusOr<etcdserverpb::LeaseGrantResponse> response =
        Call<etcdserverpb::LeaseGrantResponse>(
            "LeaseGrant", /*retry_elsewhere=*/false,
            [&](Endpoint& e, grpc::ClientContext* c,
                etcdserverpb::LeaseGrantResponse* r) {
              return e.lease->LeaseGrant(c, request, r);
            });
    if (response.ok() && !response->error().empty()) {
      return absl::InternalError(
          absl::StrCat("etcd LeaseGrant: ", response->error()));
    }
    return response;
  }

  absl::Status LeaseRevoke(int64_t lease_id) override {
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(lease_id);
    return Call<etcdserverpb::LeaseRevokeResponse>(
               "LeaseRevoke", /*retry_elsewhere=*/false,
               [&](Endpoint& e, grpc::ClientContext* c,
                   etcdserverpb::LeaseRevokeResponse* r) {
                 return e.lease->LeaseRevoke(c, request, r);
               })
        .status();
  }

  // Refreshing a lease twice does no harm, so a keep-alive is retried on
  // the next endpoint like a read.
  absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t lease_id) override {
    etcdserverpb::LeaseKeepAliveRequest request;
    request.set_id(lease_id);
    absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse> response =
        Call<etcdserverpb::LeaseKeepAliveResponse>(
            "LeaseKeepAlive", /*retry_elsewhere=*/true,
            [&](Endpoint& e, grpc::ClientContext* c,
                etcdserverpb::LeaseKeepAliveResponse* r) {
              auto stream = e.lease->LeaseKeepAlive(c);
              bool answered = false;
              if (stream->Write(request)) {
                answered = stream->Read(r);
                stream->WritesDone();
              }
              grpc::Status status = stream->Finish();
              if (status.ok() && !answered) {
                return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    "the stream ended without an answer");
              }
              return status;
            });
    if (!response.ok()) return response.status();
    return response->ttl();
  }

  absl::StatusOr<etcdserverpb::StatusResponse> Status(
      const std::string& endpoint) override {
    for (const std::unique_ptr<Endpoint>& e : endpoints_) {
      if (e->address != endpoint) continue;
      etcdserverpb::StatusResponse response;
      absl::Status status = CallOn(
          *e, "Status",
          [&](Endpoint& e, grpc::ClientContext* c) {
            return e.maintenance->Status(c, etcdserverpb::StatusRequest(),
                                         &response);
          },
          /*failure=*/nullptr);
      if (!status.ok()) return status;
      return response;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd Status: \"", endpoint, "\" is not one of the endpoints"));
  }

  std::unique_ptr<EtcdWatchStream> Watch(
      const etcdserverpb::WatchCreateRequest& create) override {
    const size_t index = CurrentIndex();
    Endpoint& endpoint = *endpoints_[index];
    grpc::Status failure;
    absl::StatusOr<std::string> token = Token(endpoint, &failure);
    if (!token.ok()) {
      if (IsEndpointFailure(failure)) RotateFrom(index);
      return std::make_unique<FailedWatchStream>(token.status());
    }
    return std::make_unique<WatchStreamImpl>(&endpoint, *token, create);
  }

  std::string CurrentEndpoint() const override {
    return endpoints_[CurrentIndex()]->address;
  }

  void RotateEndpoint() override { RotateFrom(CurrentIndex()); }

 private:
  size_t CurrentIndex() const {
    absl::MutexLock lock(&mu_);
    return current_;
  }

  // Moves the current endpoint past `index`, unless another call moved
  // it already.
  void RotateFrom(size_t index) {
    absl::MutexLock lock(&mu_);
    if (current_ == index) current_ = (index + 1) % endpoints_.size();
  }

  void SetUpContext(grpc::ClientContext* context, const std::string& token) {
    context->AddMetadata(kRequireLeaderKey, kRequireLeaderValue);
    if (!token.empty()) context->AddMetadata(kTokenKey, token);
    context->set_deadline(std::chrono::system_clock::now() +
                          absl::ToChronoMilliseconds(options_.call_timeout));
  }

  // The auth token to send ("" without a username), authenticating on
  // `endpoint` when there is none. On an error, `*failure` is the gRPC
  // status of Authenticate.
  absl::StatusOr<std::string> Token(Endpoint& endpoint, grpc::Status* failure) {
    if (options_.username.empty()) return std::string();
    {
      absl::MutexLock lock(&mu_);
      if (!token_.empty()) return token_;
    }
    etcdserverpb::AuthenticateRequest request;
    request.set_name(options_.username);
    request.set_password(options_.password);
    etcdserverpb::AuthenticateResponse response;
    grpc::ClientContext context;
    SetUpContext(&context, "");
    *failure = endpoint.auth->Authenticate(&context, request, &response);
    if (!failure->ok()) {
      return FromGrpc(*failure, "Authenticate", endpoint.address);
    }
    absl::MutexLock lock(&mu_);
    token_ = response.token();
    return token_;
  }

  void DropToken(const std::string& token) {
    absl::MutexLock lock(&mu_);
    if (token_ == token) token_.clear();
  }

  // One call on `endpoint`, authenticating first when needed and once
  // more when etcd refuses the token. `*failure` (when not null) is the
  // gRPC status of the failed call or Authenticate.
  template <typename Invoke>
  absl::Status CallOn(Endpoint& endpoint, absl::string_view name,
                      const Invoke& invoke, grpc::Status* failure) {
    grpc::Status ignored;
    if (failure == nullptr) failure = &ignored;
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<std::string> token = Token(endpoint, failure);
      if (!token.ok()) return token.status();
      grpc::ClientContext context;
      SetUpContext(&context, *token);
      *failure = invoke(endpoint, &context);
      if (failure->ok()) return absl::OkStatus();
      if (attempt == 0 && !options_.username.empty() &&
          IsStaleToken(*failure)) {
        DropToken(*token);
        continue;
      }
      return FromGrpc(*failure, name, endpoint.address);
    }
  }

  // A call on the current endpoint. A member failure moves the current
  // endpoint on; with `retry_elsewhere` the call is then made once more
  // there.
  template <typename Response, typename Invoke>
  absl::StatusOr<Response> Call(absl::string_view name, bool retry_elsewhere,
                                const Invoke& invoke) {
    for (int attempt = 0;; ++attempt) {
      const size_t index = CurrentIndex();
      Response response;
      grpc::Status failure;
      absl::Status status = CallOn(
          *endpoints_[index], name,
          [&](Endpoint& e, grpc::ClientContext* c) {
            return invoke(e, c, &response);
          },
          &failure);
      if (status.ok()) return response;
      if (!IsEndpointFailure(failure)) return status;
      RotateFrom(index);
      if (!retry_elsewhere || attempt > 0 || endpoints_.size() == 1) {
        return status;
      }
    }
  }

  // Constant after construction.
  const EtcdClientOptions options_;
  const std::vector<std::unique_ptr<Endpoint>> endpoints_;

  mutable absl::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  std::string token_ ABSL_GUARDED_BY(mu_);  // "" until authenticated
};

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(
    EtcdClientOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError(
        "etcd option endpoints: at least one host:port is required");
  }
  for (const std::string& endpoint : options.endpoints) {
    if (absl::Status status = CheckEndpoint(endpoint); !status.ok()) {
      return status;
    }
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    const bool key_missing = options.key_file.empty();
    return absl::InvalidArgumentError(
        absl::StrCat("etcd option ", key_missing ? "key_file" : "cert_file",
                     ": empty while ", key_missing ? "cert_file" : "key_file",
                     " is set; a client certificate needs both"));
  }
  if (options.username.empty() && !options.password.empty()) {
    return absl::InvalidArgumentError(
        "etcd option password: set without a username");
  }
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "etcd option call_timeout: must be positive");
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeCredentials(options);
  if (!credentials.ok()) return credentials.status();

  std::vector<std::unique_ptr<Endpoint>> endpoints;
  for (const std::string& address : options.endpoints) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                kInitialReconnectBackoffMs);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // Each client its own connections: one client's backoff after a
    // member died does not hold back another's.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // A watch response carries a whole revision (a realm deleted with all
    // its instances); etcd is trusted not to flood its client.
    args.SetMaxReceiveMessageSize(-1);
    auto endpoint = std::make_unique<Endpoint>();
    endpoint->address = address;
    endpoint->channel = grpc::CreateCustomChannel(address, *credentials, args);
    endpoint->kv = etcdserverpb::KV::NewStub(endpoint->channel);
    endpoint->watch = etcdserverpb::Watch::NewStub(endpoint->channel);
    endpoint->lease = etcdserverpb::Lease::NewStub(endpoint->channel);
    endpoint->maintenance =
        etcdserverpb::Maintenance::NewStub(endpoint->channel);
    endpoint->auth = etcdserverpb::Auth::NewStub(endpoint->channel);
    endpoints.push_back(std::move(endpoint));
  }
  return std::unique_ptr<EtcdClient>(
      new EtcdClientImpl(std::move(options), std::move(endpoints)));
}

}  // namespace muster::etcd
