#include "tests/support/http_probe_target.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace muster::testing {
namespace {

// A hanging request gives up after this, so a broken test cannot wedge
// the server forever.
constexpr absl::Duration kMaxHang = absl::Seconds(30);
// Answered before the server counts as started; not counted.
constexpr char kReadyPath[] = "/__ready";

// cpp-httplib 0.11 listens with a compiled-in backlog of 5, and the
// concurrency tests connect hundreds of probes at once: widen the backlog
// of its listening socket, found by its port (listen() again on a
// listening socket only changes the backlog).
void WidenBacklog(int port) {
  for (int fd = 0; fd < 4096; ++fd) {
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    int listening = 0;
    socklen_t flag_length = sizeof(listening);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        address.sin_family != AF_INET || ntohs(address.sin_port) != port ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &flag_length) !=
            0 ||
        listening == 0) {
      continue;
    }
    listen(fd, SOMAXCONN);
    return;
  }
}

}  // namespace

HttpProbeTarget::HttpProbeTarget(std::unique_ptr<httplib::Server> server,
                                 std::string scheme)
    : server_(std::move(server)), scheme_(std::move(scheme)) {}

absl::StatusOr<std::unique_ptr<HttpProbeTarget>> HttpProbeTarget::Start() {
  return Serve(std::unique_ptr<HttpProbeTarget>(
      new HttpProbeTarget(std::make_unique<httplib::Server>(), "http")));
}

absl::StatusOr<std::unique_ptr<HttpProbeTarget>> HttpProbeTarget::StartTls(
    const std::string& cert_file, const std::string& key_file) {
  auto server =
      std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
  if (!server->is_valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("http probe target: cannot use certificate ", cert_file,
                     " and key ", key_file));
  }
  return Serve(std::unique_ptr<HttpProbeTarget>(
      new HttpProbeTarget(std::move(server), "https")));
}

absl::StatusOr<std::unique_ptr<HttpProbeTarget>> HttpProbeTarget::Serve(
    std::unique_ptr<HttpProbeTarget> target) {
  HttpProbeTarget* self = target.get();
  auto handler = [self](const httplib::Request& request,
                        httplib::Response& response) {
    absl::MutexLock lock(&self->mu_);
    if (request.path == kReadyPath) return;
    ++self->requests_;
    self->last_method_ = request.method;
    self->last_headers_ = {request.headers.begin(), request.headers.end()};
    if (request.path == "/redirected") {
      response.status = 200;
      response.set_content("redirect target", "text/plain");
      return;
    }
    if (self->mode_ == Mode::kHang) {
      const uint64_t generation = self->generation_;
      auto released = [self,
                       generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
        return self->stopping_ || self->generation_ != generation;
      };
      self->mu_.AwaitWithTimeout(absl::Condition(&released), kMaxHang);
      response.status = 503;
      response.set_content("released", "text/plain");
      return;
    }
    switch (self->mode_) {
      case Mode::kHugeBody:
        response.status = 200;
        response.set_content(std::string(self->huge_bytes_, 'x'), "text/plain");
        break;
      case Mode::kRedirect:
        response.status = 302;
        response.set_header("Location", self->location_);
        break;
      default:
        response.status = self->status_;
        response.set_content(self->body_, "text/plain");
        break;
    }
  };
  httplib::Server& server = *target->server_;
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Delete(".*", handler);
  server.Patch(".*", handler);
  server.Options(".*", handler);
  // A connection per request: an idle keep-alive connection would hold a
  // worker, and concurrency tests open hundreds.
  server.set_keep_alive_max_count(1);
  server.new_task_queue = [] { return new httplib::ThreadPool(16); };
  // Binds and listens now; connections queue until the thread accepts.
  target->port_ = server.bind_to_any_port("127.0.0.1");
  if (target->port_ <= 0)
    return absl::UnavailableError("http probe target: bind failed");
  WidenBacklog(target->port_);
  target->thread_ = std::thread([self] { self->server_->listen_after_bind(); });
  // httplib's stop() is a no-op until its accept loop runs, so wait for an
  // answer: a Stop() from now on really stops the server.
  // The self-check trusts any certificate: the tests decide what a
  // prober should trust.
  httplib::Client client(
      absl::StrCat(target->scheme_, "://127.0.0.1:", target->port_));
  client.enable_server_certificate_verification(false);
  client.set_connection_timeout(10);
  client.set_read_timeout(10);
  if (!client.Get(kReadyPath)) {
    return absl::UnavailableError("http probe target: no answer from itself");
  }
  return target;
}

HttpProbeTarget::~HttpProbeTarget() { Stop(); }

std::string HttpProbeTarget::Url(absl::string_view path) const {
  return absl::StrCat(scheme_, "://127.0.0.1:", port_, path);
}

void HttpProbeTarget::AnswerStatus(int status, std::string body) {
  absl::MutexLock lock(&mu_);
  mode_ = Mode::kStatus;
  status_ = status;
  body_ = std::move(body);
  ++generation_;
}

void HttpProbeTarget::AnswerHang() {
  absl::MutexLock lock(&mu_);
  mode_ = Mode::kHang;
  ++generation_;
}

void HttpProbeTarget::AnswerHugeBody(size_t bytes) {
  absl::MutexLock lock(&mu_);
  mode_ = Mode::kHugeBody;
  huge_bytes_ = bytes;
  ++generation_;
}

void HttpProbeTarget::AnswerRedirect(std::string location) {
  absl::MutexLock lock(&mu_);
  mode_ = Mode::kRedirect;
  location_ = std::move(location);
  ++generation_;
}

size_t HttpProbeTarget::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

std::string HttpProbeTarget::last_method() const {
  absl::MutexLock lock(&mu_);
  return last_method_;
}

std::string HttpProbeTarget::last_header(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = last_headers_.find(name);
  return it == last_headers_.end() ? "" : it->second;
}

void HttpProbeTarget::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace muster::testing
