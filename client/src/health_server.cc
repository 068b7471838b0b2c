#include "muster/client/health_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

namespace muster::client {
namespace {

class HealthServerImpl final : public HealthServer {
 public:
  // Binds; on failure leaves port() at -1 with `error` set.
  explicit HealthServerImpl(HealthServerOptions options)
      : options_(std::move(options)) {
    // httplib's default sets SO_REUSEPORT, which would let a second
    // server share a port in use; only SO_REUSEADDR here.
    server_.set_socket_options([](int socket) {
      int yes = 1;
      setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    // Two workers are plenty for probes; short keep-alive so that the
    // destructor is not held up by an idle prober connection.
    server_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    server_.set_keep_alive_timeout(1);
    server_.Get("/healthz", [](const httplib::Request&, httplib::Response& r) {
      r.set_content("ok", "text/plain");
    });
    server_.Get("/readyz",
                [this](const httplib::Request&, httplib::Response& response) {
                  if (Ready()) {
                    response.set_content("ready", "text/plain");
                  } else {
                    response.status = 503;
                    response.set_content("not ready", "text/plain");
                  }
                });
  }

  ~HealthServerImpl() override {
    if (!thread_.joinable()) return;
    // stop() does nothing before listen_after_bind() is running.
    while (!server_.is_running() && !listening_done_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server_.stop();
    thread_.join();
  }

  // Binds and starts serving; OK or the error naming host:port.
  grpc::Status Listen() {
    const std::string where =
        options_.host + ":" + std::to_string(options_.port);
    if (options_.port < 0 || options_.port > 65535) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "port: must be 0..65535, got " + std::to_string(options_.port));
    }
    // A checker that keeps its connection open would otherwise wait out
    // delayed ACKs (about 40 ms) on every probe.
    server_.set_tcp_nodelay(true);
    errno = 0;
    if (options_.port == 0) {
      port_ = server_.bind_to_any_port(options_.host);
    } else if (server_.bind_to_port(options_.host, options_.port)) {
      port_ = options_.port;
    }
    if (port_ <= 0) {
      const int error = errno;
      port_ = -1;
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          "health server: cannot listen on " + where + ": " +
              (error != 0 ? std::strerror(error) : "bind failed"));
    }
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      listening_done_ = true;
    });
    return grpc::Status::OK;
  }

  int port() const override { return port_; }

  std::string url(const std::string& path) const override {
    std::string host = options_.host;
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    if (host.find(':') != std::string::npos && host.front() != '[') {
      host = host == "::" ? "[::1]" : "[" + host + "]";
    }
    return "http://" + host + ":" + std::to_string(port_) + path;
  }

  void SetReady(bool ready) override { ready_ = ready; }

 private:
  bool Ready() const {
    if (!ready_.load()) return false;
    return !options_.ready || options_.ready();
  }

  // Constant after construction.
  const HealthServerOptions options_;

  httplib::Server server_;
  int port_ = -1;  // set by Listen() before serving starts
  std::atomic<bool> ready_{true};
  std::atomic<bool> listening_done_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<HealthServer> HealthServer::Start(HealthServerOptions options,
                                                  grpc::Status* status) {
  auto server = std::make_unique<HealthServerImpl>(std::move(options));
  const grpc::Status result = server->Listen();
  if (status != nullptr) *status = result;
  if (!result.ok()) return nullptr;
  return server;
}

}  // namespace muster::client
