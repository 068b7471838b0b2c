// The checker scenario: instances with HTTP checks against loopback
// targets served by the bench, at several fleet sizes; probe rate,
// schedule lag, daemon CPU per probe and in cores.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/bench.h"

namespace muster::bench {
namespace {

// Probe targets for the checker scenario: one epoll thread per listener
// answering every request on every kept-alive connection with a fixed
// 200. Thread-per-connection servers cap the connections served at once
// at their pool size, and a kept-alive connection holds its worker for
// seconds, which would measure the target rather than the checker.

class HttpTarget {
 public:
  HttpTarget() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 ||
        bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, SOMAXCONN) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
            0) {
      std::perror("muster-bench: probe target");
      std::exit(2);
    }
    port_ = ntohs(addr.sin_port);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    Watch(listen_fd_);
    Watch(wake_fd_);
    thread_ = std::thread([this] { Loop(); });
  }

  ~HttpTarget() {
    const uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof(one)) < 0) std::perror("eventfd");
    thread_.join();
    for (auto& [fd, pending] : connections_) close(fd);
    close(listen_fd_);
    close(wake_fd_);
    close(epoll_fd_);
  }

  int port() const { return port_; }
  uint64_t answered() const { return answered_.load(); }

 private:
  void Watch(int fd) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }

  void Loop() {
    std::vector<epoll_event> events(256);
    char buffer[4096];
    while (true) {
      const int n = epoll_wait(epoll_fd_, events.data(),
                               static_cast<int>(events.size()), -1);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd_) return;
        if (fd == listen_fd_) {
          int client;
          while ((client = accept4(listen_fd_, nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
            connections_[client];
            Watch(client);
          }
          continue;
        }
        const ssize_t got = read(fd, buffer, sizeof(buffer));
        if (got <= 0) {
          if (got < 0 && errno == EAGAIN) continue;
          close(fd);  // also leaves the epoll set
          connections_.erase(fd);
          continue;
        }
        // Requests carry no body: each blank line ends one.
        std::string& pending = connections_[fd];
        pending.append(buffer, static_cast<size_t>(got));
        size_t requests = 0;
        size_t end;
        while ((end = pending.find("\r\n\r\n")) != std::string::npos) {
          pending.erase(0, end + 4);
          ++requests;
        }
        std::string out;
        for (size_t r = 0; r < requests; ++r) out += kResponse;
        // Responses are tiny and the peer reads them: a short write on a
        // loopback socket with an empty buffer does not happen here.
        if (!out.empty() && write(fd, out.data(), out.size()) < 0) {
          close(fd);
          connections_.erase(fd);
          continue;
        }
        answered_ += requests;
      }
    }
  }

  static constexpr char kResponse[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
      "2\r\n\r\nok";

  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::atomic<uint64_t> answered_{0};
  std::unordered_map<int, std::string> connections_;  // fd -> unread bytes
  std::thread thread_;
};

// Metrics scraping (Prometheus text) for the checker scenario.

struct CheckerSample {
  double http_success = 0;
  double http_other = 0;                               // warning or failure
  std::vector<std::pair<double, double>> lag_buckets;  // (le, cumulative)
};

CheckerSample ScrapeChecker(const std::string& http_address) {
  CheckerSample sample;
  httplib::Client client("http://" + http_address);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) return sample;
  std::istringstream in(res->body);
  for (std::string line; std::getline(in, line);) {
    const size_t space = line.rfind(' ');
    if (space == std::string::npos || line[0] == '#') continue;
    const double value = std::atof(line.c_str() + space + 1);
    if (line.rfind("muster_checker_probes_total{", 0) == 0 &&
        line.find("kind=\"http\"") != std::string::npos &&
        line.find("result=\"success\"") != std::string::npos) {
      sample.http_success = value;
    } else if (line.rfind("muster_checker_probes_total{", 0) == 0 &&
               line.find("kind=\"http\"") != std::string::npos) {
      sample.http_other += value;
    } else if (line.rfind("muster_checker_schedule_lag_seconds_bucket{", 0) ==
               0) {
      const size_t le = line.find("le=\"");
      if (le == std::string::npos) continue;
      const std::string bound =
          line.substr(le + 4, line.find('"', le + 4) - le - 4);
      sample.lag_buckets.emplace_back(
          bound == "+Inf" ? 1e9 : std::atof(bound.c_str()), value);
    }
  }
  return sample;
}

// Upper bound (ms) of the bucket holding quantile `q` of the observations
// made between `before` and `after`.
double BucketQuantileMs(const CheckerSample& before, const CheckerSample& after,
                        double q) {
  const auto& b = before.lag_buckets;
  const auto& a = after.lag_buckets;
  if (a.empty()) return 0;
  auto delta = [&](size_t i) {
    return a[i].second - (i < b.size() ? b[i].second : 0);
  };
  const double total = delta(a.size() - 1);
  if (total <= 0) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (delta(i) >= q * total) return a[i].first * 1000;
  }
  return a.back().first * 1000;
}

}  // namespace

void Bench::Checker() {
  // A few loopback HTTP targets answering 200 on every request.
  constexpr int kServers = 2;
  std::vector<std::unique_ptr<HttpTarget>> targets;
  std::vector<int> ports;
  for (int i = 0; i < kServers; ++i) {
    targets.push_back(std::make_unique<HttpTarget>());
    ports.push_back(targets.back()->port());
  }
  auto answered = [&] {
    uint64_t sum = 0;
    for (const auto& t : targets) sum += t->answered();
    return sum;
  };

  // The checker's cost per probe must not grow with the probes in flight:
  // one point per fleet size, each on a realm of its own.
  const std::vector<int> sizes =
      config_.quick ? std::vector<int>{config_.checker_targets / 2,
                                       config_.checker_targets}
                    : std::vector<int>{1000, 5000, 10000, 20000};
  for (const int k : sizes) {
    const std::string realm = "checker-" + std::to_string(k);
    CreateRealm(realm);
    Preload(std::to_string(k) + " HTTP-checked instances", k,
            [&](uint64_t i, v1::RegisterRequest* req) {
              const int port = ports[i % ports.size()];
              FillInstance(realm, "svc-" + std::to_string(i / 100),
                           "c-" + std::to_string(i), req);
              req->mutable_instance()->set_port(port);
              v1::CheckSpec* check = req->mutable_instance()->mutable_check();
              check->set_kind(v1::CHECK_KIND_HTTP);
              check->mutable_interval()->set_seconds(1);
              // The timeout must be shorter than the interval.
              check->mutable_timeout()->set_nanos(900 * 1000 * 1000);
              check->set_http_url("http://127.0.0.1:" + std::to_string(port) +
                                  "/health");
            });
    // Let the first round of probes (and its verdict writes) pass.
    SleepSeconds(1.5);

    const CheckerSample first = ScrapeChecker(daemon_.http_address());
    const uint64_t answered_before = answered();
    const DaemonStats before = daemon_.Stats();
    const auto begin = Clock::now();
    SleepSeconds(config_.duration);
    const CheckerSample last = ScrapeChecker(daemon_.http_address());
    const uint64_t answered_after = answered();
    const double wall = Seconds(Clock::now() - begin);
    const DaemonStats after = daemon_.Stats();

    const double cpu = after.cpu_seconds - before.cpu_seconds;
    const double probes = (last.http_success - first.http_success) +
                          (last.http_other - first.http_other);
    Row row;
    row.scenario = "checker";
    row.in_flight = k;
    row.ops_per_second = (last.http_success - first.http_success) / wall;
    row.p50_ms = BucketQuantileMs(first, last, 0.50);
    row.p90_ms = BucketQuantileMs(first, last, 0.90);
    row.p99_ms = BucketQuantileMs(first, last, 0.99);
    row.max_ms = BucketQuantileMs(first, last, 1.0);
    row.cpu_share = cpu / wall;
    row.peak_rss_mib = after.peak_rss_mib;
    const double us_per_probe = probes > 0 ? cpu / probes * 1e6 : 0;
    row.extra.push_back({"daemon_cpu_us_per_probe", us_per_probe});
    row.extra.push_back({"daemon_cores", cpu / wall});
    row.notes = std::to_string(k) +
                " HTTP checks every 1s (in_flight = " + "checks): daemon " +
                Fixed(us_per_probe, 1) + " us CPU per probe, " +
                Fixed(cpu / wall, 2) + " cores, " +
                Fixed((last.http_other - first.http_other) / wall, 0) +
                " failed probes/s, targets answered " +
                Fixed((answered_after - answered_before) / wall, 0) +
                "/s; ops = successful probes/s, latencies = "
                "schedule lag (bucket upper bounds)";
    rows_.push_back(row);
    if (last.lag_buckets.empty()) Fail("checker: no schedule lag histogram");
    if (probes <= 0) Fail("checker: no probe ran at " + std::to_string(k));
    // Stop the probes before the next point, and before the targets go
    // away and the next scenario runs.
    DeleteRealm(realm);
  }
}

}  // namespace muster::bench
