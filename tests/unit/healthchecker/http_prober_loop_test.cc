// The HTTP prober's event loop under load: many probes in flight at once
// against real sockets on 127.0.0.1, some answering at once, some hanging
// past their timeout, some closing the connection, some answering slowly
// in pieces. A loop that misses a socket event, loses libcurl's timer or
// confuses a reused descriptor leaves probes without an answer or with
// the wrong one.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "healthchecker/http_prober.h"
#include "tests/unit/healthchecker/probe_helpers.h"

namespace muster::healthchecker {
namespace {

using testing::HttpRequest;
using testing::ProbeAndWait;

// An HTTP/1.1 server on 127.0.0.1 (port 0) on one epoll thread, so that a
// thousand connections at once cost it nothing, whose answer depends on
// the request's path:
//   /ok                 200 "ok", the connection kept alive
//   /hang               never answers (until the server stops)
//   /close              closes the connection without answering
//   /answer-close       200 "ok", then closes the connection (without
//                       saying so: the client finds out on reuse)
//   /slow/<n>/<gap_ms>[/<body bytes>]
//                       200 with a body of 'a'..'z' (default 26 bytes),
//                       the whole response (status line included) written
//                       in n pieces, gap_ms apart
class ScriptedHttpServer {
 public:
  ScriptedHttpServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), length) == 0);
    REQUIRE(listen(listen_fd_, SOMAXCONN) == 0);
    REQUIRE(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr),
                        &length) == 0);
    port_ = ntohs(addr.sin_port);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(epoll_fd_ >= 0);
    REQUIRE(wake_fd_ >= 0);
    Watch(listen_fd_);
    Watch(wake_fd_);
    thread_ = std::thread([this] { Loop(); });
  }

  ~ScriptedHttpServer() {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
    for (const auto& [fd, connection] : connections_) close(fd);
    close(listen_fd_);
    close(wake_fd_);
    close(epoll_fd_);
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  uint64_t accepted() const { return accepted_.load(); }

  static std::string SlowBody(size_t bytes) {
    std::string body;
    for (size_t i = 0; i < bytes; ++i) body.push_back('a' + i % 26);
    return body;
  }

 private:
  struct Connection {
    uint64_t id = 0;
    std::string unread;
  };
  struct Piece {
    uint64_t connection;
    int fd;
    std::string bytes;
    bool last;
  };

  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void Watch(int fd) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }

  void Drop(int fd) {
    close(fd);  // Also leaves the epoll set.
    connections_.erase(fd);
  }

  static std::string Ok() {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
           "Content-Length: 2\r\n\r\nok";
  }

  // Answers one request for `path` on `fd`; false when `fd` was closed.
  bool Answer(int fd, uint64_t connection, const std::string& path) {
    if (path == "/ok") {
      const std::string out = Ok();
      if (write(fd, out.data(), out.size()) < 0) {
        Drop(fd);
        return false;
      }
      return true;
    }
    if (path == "/hang") return true;
    if (path == "/close") {
      Drop(fd);
      return false;
    }
    if (path == "/answer-close") {
      const std::string out = Ok();
      (void)!write(fd, out.data(), out.size());
      Drop(fd);
      return false;
    }
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    // "", "slow", n, gap[, bytes]
    size_t pieces = 0;
    int64_t gap_ms = 0;
    size_t bytes = 26;
    if (parts.size() >= 4 && parts[1] == "slow" &&
        absl::SimpleAtoi(parts[2], &pieces) &&
        absl::SimpleAtoi(parts[3], &gap_ms) && pieces > 0 &&
        (parts.size() == 4 || absl::SimpleAtoi(parts[4], &bytes))) {
      const std::string body = SlowBody(bytes);
      const std::string out = absl::StrCat(
          "HTTP/1.1 200 OK\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
      const size_t step = (out.size() + pieces - 1) / pieces;
      int64_t when = NowMs();
      for (size_t at = 0; at < out.size(); at += step, when += gap_ms) {
        pieces_.emplace(when, Piece{connection, fd, out.substr(at, step),
                                    at + step >= out.size()});
      }
      return true;
    }
    const std::string out =
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    (void)!write(fd, out.data(), out.size());
    return true;
  }

  void WriteDuePieces() {
    const int64_t now = NowMs();
    while (!pieces_.empty() && pieces_.begin()->first <= now) {
      Piece piece = std::move(pieces_.begin()->second);
      pieces_.erase(pieces_.begin());
      auto it = connections_.find(piece.fd);
      // The client gave up (timed out) and the descriptor may be another
      // connection's by now.
      if (it == connections_.end() || it->second.id != piece.connection) {
        continue;
      }
      // Pieces are small and the client reads them: no short writes on
      // loopback.
      if (write(piece.fd, piece.bytes.data(), piece.bytes.size()) < 0) {
        Drop(piece.fd);
      }
    }
  }

  int WaitMs() const {
    if (pieces_.empty()) return -1;
    return static_cast<int>(
        std::max<int64_t>(0, pieces_.begin()->first - NowMs()));
  }

  void Loop() {
    std::vector<epoll_event> events(512);
    char buffer[16 * 1024];
    while (true) {
      const int n = epoll_wait(epoll_fd_, events.data(),
                               static_cast<int>(events.size()), WaitMs());
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd_) return;
        if (fd == listen_fd_) {
          int client;
          while ((client = accept4(listen_fd_, nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
            connections_[client] = Connection{++next_connection_, ""};
            ++accepted_;
            Watch(client);
          }
          continue;
        }
        auto it = connections_.find(fd);
        if (it == connections_.end()) continue;
        const ssize_t got = read(fd, buffer, sizeof(buffer));
        if (got <= 0) {
          if (got < 0 && errno == EAGAIN) continue;
          Drop(fd);
          continue;
        }
        it->second.unread.append(buffer, static_cast<size_t>(got));
        // Requests carry no body: a blank line ends each.
        size_t end;
        while (true) {
          auto conn = connections_.find(fd);
          if (conn == connections_.end()) break;
          std::string& unread = conn->second.unread;
          if ((end = unread.find("\r\n\r\n")) == std::string::npos) break;
          const std::string head = unread.substr(0, end);
          unread.erase(0, end + 4);
          // "GET /path HTTP/1.1"
          std::vector<std::string> words =
              absl::StrSplit(head.substr(0, head.find("\r\n")), ' ');
          const std::string path = words.size() >= 2 ? words[1] : "/";
          if (!Answer(fd, conn->second.id, path)) break;
        }
      }
      WriteDuePieces();
    }
  }

  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::atomic<uint64_t> accepted_{0};
  // Server thread only.
  uint64_t next_connection_ = 0;
  std::unordered_map<int, Connection> connections_;
  std::multimap<int64_t, Piece> pieces_;  // by when (ms, steady)
  std::thread thread_;
};

std::unique_ptr<HttpProber> StartProber() {
  absl::StatusOr<NetworkPolicy> policy = NetworkPolicy::Create({});
  REQUIRE(policy.ok());
  absl::StatusOr<std::unique_ptr<HttpProber>> prober =
      HttpProber::Create(*policy);
  INFO(prober.status());
  REQUIRE(prober.ok());
  REQUIRE((*prober)->Start().ok());
  return *std::move(prober);
}

// What the completions (on the prober's thread) reported, by probe.
struct Results {
  struct Result {
    ProbeOutcome outcome;
    std::chrono::steady_clock::time_point at;
  };
  absl::Mutex mu;
  std::vector<std::optional<Result>> by_probe ABSL_GUARDED_BY(mu);
  size_t done ABSL_GUARDED_BY(mu) = 0;
  size_t twice ABSL_GUARDED_BY(mu) = 0;

  explicit Results(size_t probes) : by_probe(probes) {}

  ProbeCallback Callback(size_t i) {
    return [this, i](ProbeOutcome outcome) {
      absl::MutexLock lock(&mu);
      if (by_probe[i].has_value()) {
        ++twice;
        return;
      }
      by_probe[i] =
          Result{std::move(outcome), std::chrono::steady_clock::now()};
      ++done;
    };
  }

  bool AwaitAll(absl::Duration limit) {
    absl::MutexLock lock(&mu);
    auto all = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return done == by_probe.size();
    };
    return mu.AwaitWithTimeout(absl::Condition(&all), limit);
  }
};

TEST_CASE("http probes in flight at once each get their own answer",
          "[http_prober][loop]") {
  ScriptedHttpServer server;
  auto prober = StartProber();
  // Kinds, interleaved, so that every wake-up of the loop sees a mix.
  enum Kind { kOk, kHang, kClose, kSlow, kKinds };
  constexpr size_t kProbes = 1200;
  // Longer than the fast probes could take even on a loaded machine:
  // they must all be answered before the first hanging one times out.
  const absl::Duration hang_timeout = absl::Seconds(5);
  Results results(kProbes);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kProbes; ++i) {
    switch (i % kKinds) {
      case kOk:
        prober->Probe(HttpRequest(server.Url("/ok"), absl::Seconds(20)),
                      results.Callback(i));
        break;
      case kHang:
        prober->Probe(HttpRequest(server.Url("/hang"), hang_timeout),
                      results.Callback(i));
        break;
      case kClose:
        prober->Probe(HttpRequest(server.Url("/close"), absl::Seconds(20)),
                      results.Callback(i));
        break;
      case kSlow:
        prober->Probe(HttpRequest(server.Url("/slow/5/40"), absl::Seconds(20)),
                      results.Callback(i));
        break;
    }
  }
  REQUIRE(results.AwaitAll(absl::Seconds(60)));

  absl::MutexLock lock(&results.mu);
  REQUIRE(results.twice == 0);
  std::chrono::steady_clock::time_point first_timeout =
      std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point last_other =
      std::chrono::steady_clock::time_point::min();
  const std::string slow_output =
      "HTTP 200\n" + ScriptedHttpServer::SlowBody(26);
  for (size_t i = 0; i < kProbes; ++i) {
    const Results::Result& result = *results.by_probe[i];
    INFO("probe " << i << ": " << result.outcome.output);
    switch (i % kKinds) {
      case kOk:
        REQUIRE(result.outcome.result == ProbeResult::kSuccess);
        REQUIRE(result.outcome.output == "HTTP 200\nok");
        break;
      case kHang:
        REQUIRE(result.outcome.result == ProbeResult::kFailure);
        REQUIRE(result.outcome.output == "timeout after 5s");
        first_timeout = std::min(first_timeout, result.at);
        break;
      case kClose:
        REQUIRE(result.outcome.result == ProbeResult::kFailure);
        REQUIRE(result.outcome.output == "http: Empty reply from server");
        break;
      case kSlow:
        REQUIRE(result.outcome.result == ProbeResult::kSuccess);
        REQUIRE(result.outcome.output == slow_output);
        break;
    }
    if (i % kKinds != kHang) last_other = std::max(last_other, result.at);
  }
  // Timeouts come from libcurl's timer, not from a socket's event: none
  // fired early, and the answers did not wait for them.
  REQUIRE(first_timeout - start >= std::chrono::milliseconds(5000));
  REQUIRE(last_other < first_timeout);
}

TEST_CASE("http probe of a response dribbling past its timeout times out",
          "[http_prober][loop]") {
  ScriptedHttpServer server;
  auto prober = StartProber();
  // 20 pieces, 100 ms apart: the socket is busy all along, and its
  // activity must not keep the transfer alive past 500 ms.
  const auto start = std::chrono::steady_clock::now();
  std::optional<ProbeOutcome> outcome = ProbeAndWait(
      *prober, HttpRequest(server.Url("/slow/20/100"), absl::Milliseconds(500)),
      absl::Seconds(30));
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->result == ProbeResult::kFailure);
  REQUIRE(outcome->output == "timeout after 500ms");
  REQUIRE(took >= std::chrono::milliseconds(500));
  // Not at the end of the response (about 1.9 s).
  REQUIRE(took < std::chrono::milliseconds(1800));
}

TEST_CASE("http probe of a large body sent in pieces is cut at 4 KiB",
          "[http_prober][loop]") {
  ScriptedHttpServer server;
  auto prober = StartProber();
  std::optional<ProbeOutcome> outcome =
      ProbeAndWait(*prober, HttpRequest(server.Url("/slow/16/10/20000")));
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->result == ProbeResult::kSuccess);
  REQUIRE(outcome->output.rfind("HTTP 200\nabcdefghij", 0) == 0);
  REQUIRE(outcome->output.size() <= kMaxProbeOutputBytes);
}

TEST_CASE("http probes survive connections the target closes after answering",
          "[http_prober][loop]") {
  ScriptedHttpServer server;
  auto prober = StartProber();
  // Each answer leaves a dead connection in libcurl's cache, and each new
  // socket likely reuses the closed one's descriptor number.
  for (int i = 0; i < 50; ++i) {
    std::optional<ProbeOutcome> outcome =
        ProbeAndWait(*prober, HttpRequest(server.Url("/answer-close")));
    INFO("probe " << i);
    REQUIRE(outcome.has_value());
    REQUIRE(outcome->result == ProbeResult::kSuccess);
    REQUIRE(outcome->output == "HTTP 200\nok");
  }
  REQUIRE(server.accepted() == 50);
  // Interleaved with kept-alive ones, in batches.
  constexpr size_t kProbes = 400;
  Results results(kProbes);
  for (size_t i = 0; i < kProbes; ++i) {
    prober->Probe(HttpRequest(server.Url(i % 2 == 0 ? "/answer-close" : "/ok"),
                              absl::Seconds(20)),
                  results.Callback(i));
  }
  REQUIRE(results.AwaitAll(absl::Seconds(60)));
  absl::MutexLock lock(&results.mu);
  for (size_t i = 0; i < kProbes; ++i) {
    INFO("probe " << i << ": " << results.by_probe[i]->outcome.output);
    REQUIRE(results.by_probe[i]->outcome.output == "HTTP 200\nok");
  }
}

TEST_CASE("http kept-alive connections are reused across rounds",
          "[http_prober][loop]") {
  ScriptedHttpServer server;
  auto prober = StartProber();
  // One after another: every probe on the first one's connection.
  for (int i = 0; i < 20; ++i) {
    std::optional<ProbeOutcome> outcome =
        ProbeAndWait(*prober, HttpRequest(server.Url("/ok")));
    REQUIRE(outcome.has_value());
    REQUIRE(outcome->output == "HTTP 200\nok");
  }
  REQUIRE(server.accepted() == 1);
  // Rounds of probes, each after the previous ended, as a checker's
  // schedule does: cached connections and new ones side by side.
  constexpr size_t kPerRound = 50;
  for (int round = 0; round < 5; ++round) {
    Results results(kPerRound);
    for (size_t i = 0; i < kPerRound; ++i) {
      prober->Probe(HttpRequest(server.Url("/ok"), absl::Seconds(20)),
                    results.Callback(i));
    }
    REQUIRE(results.AwaitAll(absl::Seconds(30)));
    absl::MutexLock lock(&results.mu);
    for (size_t i = 0; i < kPerRound; ++i) {
      REQUIRE(results.by_probe[i]->outcome.output == "HTTP 200\nok");
    }
  }
  REQUIRE(server.accepted() < 1 + 5 * kPerRound);
}

TEST_CASE("http stop abandons many hanging probes at once",
          "[http_prober][loop]") {
  ScriptedHttpServer server;
  auto prober = StartProber();
  auto called = std::make_shared<std::atomic<int>>(0);
  // Some done before Stop, so that the cache holds connections too.
  for (int i = 0; i < 20; ++i) {
    REQUIRE(ProbeAndWait(*prober, HttpRequest(server.Url("/ok"))).has_value());
  }
  for (int i = 0; i < 300; ++i) {
    prober->Probe(HttpRequest(server.Url("/hang"), absl::Seconds(30)),
                  [called](ProbeOutcome) { ++*called; });
  }
  // Until the server has seen them all, so that they are truly in flight.
  for (int i = 0; i < 1000 && server.accepted() < 300; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto start = std::chrono::steady_clock::now();
  prober->Stop();
  REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  REQUIRE(called->load() == 0);
  prober.reset();
  REQUIRE(called->load() == 0);
}

}  // namespace
}  // namespace muster::healthchecker
