// muster-bench: a closed-loop load generator for musterd.
//
// Starts a fresh musterd on free loopback ports with a temporary data dir,
// runs the selected scenarios against it (baseline Ping first, then lookup,
// register, heartbeat, watch, checker and scale, the last on a daemon of
// its own), and prints one Markdown table row per scenario and
// concurrency. Any failed request, any watch event missed, duplicated or
// out of order, or any acknowledged instance missing after the scale
// restart makes the exit code 1.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "muster/v1/realm.grpc.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"

#ifndef MUSTERD_PATH
#define MUSTERD_PATH "musterd"
#endif

namespace muster::bench {
namespace {

namespace v1 = ::muster::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double Millis(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

void SleepSeconds(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// ---------------------------------------------------------------------------
// The daemon under test.

struct DaemonStats {
  double cpu_seconds = 0;   // utime + stime
  double peak_rss_mib = 0;  // VmHWM
  double rss_mib = 0;       // VmRSS
};

// musterd under the bench, run by the test harness (testkit/) in a
// temporary dir of its own; its CPU time and RSS come from /proc.
class Daemon {
 public:
  explicit Daemon(std::string path) : path_(std::move(path)) {}
  ~Daemon() { Stop(); }

  // Starts musterd on free ports and waits until Ping answers. False
  // (with a message) on failure. The first start makes a temporary dir; a
  // start after Stop(/*keep_data=*/true) reopens the same data.
  bool Start() {
    if (dir_.empty()) {
      char dir_template[] = "/tmp/muster-bench-XXXXXX";
      if (mkdtemp(dir_template) == nullptr) {
        std::perror("muster-bench: mkdtemp");
        return false;
      }
      dir_ = dir_template;
      process_ = std::make_unique<testing::DaemonProcess>(
          path_, dir_ + "/data", dir_ + "/musterd.log",
          std::vector<std::string>{
              "--auto-create-realms", "--log-level", "warning",
              // Every bench target is on 127.0.0.1, one host to the
              // checker: lift the per-host bound to the global one.
              "--checker-max-in-flight-per-host", "1024"});
      // As deploy/musterd.service runs it, unless the caller says otherwise.
      if (std::getenv("GLIBC_TUNABLES") == nullptr) {
        process_->SetEnv({"GLIBC_TUNABLES=glibc.malloc.hugetlb=1"});
      }
    }
    if (!process_->Start(/*timeout_s=*/60)) {
      std::fprintf(stderr,
                   "muster-bench: musterd did not start; its log:\n%s\n",
                   process_->log().c_str());
      return false;
    }
    grpc_address_ = process_->address();
    http_address_ = process_->http_address();
    return true;
  }

  // SIGTERM, wait (SIGKILL after 10 s) and, unless `keep_data`, remove
  // the temporary dir.
  void Stop(bool keep_data = false) {
    if (process_ != nullptr && process_->running()) {
      process_->Terminate(/*timeout_s=*/10);
    }
    if (!dir_.empty() && !keep_data) {
      process_.reset();
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
      dir_.clear();
    }
  }

  DaemonStats Stats() const {
    DaemonStats stats;
    const pid_t pid = process_ != nullptr ? process_->pid() : -1;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    if (paren != std::string::npos) {
      std::istringstream fields(line.substr(paren + 2));
      std::vector<std::string> f;
      for (std::string s; fields >> s;) f.push_back(s);
      // Fields after the command: state is field 3; utime 14, stime 15.
      if (f.size() > 12) {
        const double ticks = sysconf(_SC_CLK_TCK);
        stats.cpu_seconds =
            (std::stod(f[11]) + std::stod(f[12])) / std::max(ticks, 1.0);
      }
    }
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
      if (line.rfind("VmHWM:", 0) == 0) {
        stats.peak_rss_mib = std::stod(line.substr(6)) / 1024.0;
      } else if (line.rfind("VmRSS:", 0) == 0) {
        stats.rss_mib = std::stod(line.substr(6)) / 1024.0;
      }
    }
    return stats;
  }

  // Bytes in the files under the data dir.
  uint64_t DataBytes() const {
    uint64_t bytes = 0;
    std::error_code error;
    for (auto it = std::filesystem::recursive_directory_iterator(dir_ + "/data",
                                                                 error);
         !error && it != std::filesystem::recursive_directory_iterator();
         it.increment(error)) {
      if (it->is_regular_file(error)) bytes += it->file_size(error);
    }
    return bytes;
  }

  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }

 private:
  const std::string path_;
  std::string dir_;
  std::unique_ptr<testing::DaemonProcess> process_;
  std::string grpc_address_;
  std::string http_address_;
};

// ---------------------------------------------------------------------------
// Results.

struct Row {
  std::string scenario;
  int in_flight = 0;
  double ops_per_second = 0;
  double ratio = 0;  // to baseline at the same in-flight; 0 = n/a
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  double cpu_share = 0;
  double peak_rss_mib = 0;
  std::string notes;
  // Scenario-specific figures, written to the JSON as they are.
  std::vector<std::pair<std::string, double>> extra;
};

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(q * (sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

void FillLatencies(std::vector<double> ms, Row* row) {
  std::sort(ms.begin(), ms.end());
  row->p50_ms = Percentile(ms, 0.50);
  row->p90_ms = Percentile(ms, 0.90);
  row->p99_ms = Percentile(ms, 0.99);
  row->max_ms = ms.empty() ? 0 : ms.back();
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf(
      "| scenario | in-flight | ops/s | x baseline | p50 ms | p90 ms | p99 ms "
      "| max ms | daemon CPU | peak RSS MiB | notes |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                r.scenario.c_str(), r.in_flight,
                Fixed(r.ops_per_second, 0).c_str(),
                r.ratio > 0 ? Fixed(r.ratio, 2).c_str() : "-",
                Fixed(r.p50_ms, 3).c_str(), Fixed(r.p90_ms, 3).c_str(),
                Fixed(r.p99_ms, 3).c_str(), Fixed(r.max_ms, 3).c_str(),
                Fixed(r.cpu_share, 2).c_str(), Fixed(r.peak_rss_mib, 1).c_str(),
                r.notes.c_str());
  }
  std::fflush(stdout);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

bool WriteJson(const std::string& path, const std::vector<Row>& rows,
               const std::vector<std::string>& failures) {
  std::ofstream out(path);
  out << "{\n  \"rows\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << "    {\"scenario\": " << JsonString(r.scenario)
        << ", \"in_flight\": " << r.in_flight
        << ", \"ops_per_second\": " << r.ops_per_second
        << ", \"x_baseline\": " << r.ratio << ", \"p50_ms\": " << r.p50_ms
        << ", \"p90_ms\": " << r.p90_ms << ", \"p99_ms\": " << r.p99_ms
        << ", \"max_ms\": " << r.max_ms
        << ", \"daemon_cpu_share\": " << r.cpu_share
        << ", \"peak_rss_mib\": " << r.peak_rss_mib
        << ", \"notes\": " << JsonString(r.notes);
    for (const auto& [name, value] : r.extra) {
      out << ", " << JsonString(name) << ": " << value;
    }
    out << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"failures\": [";
  for (size_t i = 0; i < failures.size(); ++i) {
    out << (i ? ", " : "") << JsonString(failures[i]);
  }
  out << "]\n}\n";
  return static_cast<bool>(out);
}

// ---------------------------------------------------------------------------
// Closed-loop unary load on one completion queue.

struct LoadResult {
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<double> latencies_ms;
  double wall_seconds = 0;
};

template <typename Req, typename Resp>
using StartFn =
    std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>(
        grpc::ClientContext*, const Req&, grpc::CompletionQueue*)>;

// Keeps `in_flight` calls outstanding until `seconds` pass (or, when
// `max_ops` is non-zero, until that many calls were issued). `make` fills
// request number `seq`; `on_ok` sees each successful response.
template <typename Req, typename Resp>
LoadResult RunClosedLoop(
    int in_flight, double seconds, uint64_t max_ops,
    const std::function<void(uint64_t, Req*)>& make,
    const StartFn<Req, Resp>& start,
    const std::function<void(uint64_t, const Resp&)>& on_ok = nullptr) {
  struct Call {
    uint64_t seq = 0;
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader;
    Clock::time_point sent;
  };
  grpc::CompletionQueue cq;
  LoadResult result;
  uint64_t next_seq = 0;
  int outstanding = 0;
  const auto begin = Clock::now();
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  auto issue = [&]() {
    if (max_ops != 0 ? next_seq >= max_ops : Clock::now() >= end) return;
    auto* call = new Call;
    call->seq = next_seq++;
    make(call->seq, &call->req);
    call->ctx.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(30));
    call->sent = Clock::now();
    call->reader = start(&call->ctx, call->req, &cq);
    call->reader->Finish(&call->resp, &call->status, call);
    ++outstanding;
  };
  for (int i = 0; i < in_flight; ++i) issue();
  while (outstanding > 0) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok)) break;
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    --outstanding;
    result.latencies_ms.push_back(Millis(Clock::now() - call->sent));
    if (ok && call->status.ok()) {
      ++result.ok;
      if (on_ok) on_ok(call->seq, call->resp);
    } else {
      if (result.errors++ == 0) {
        result.first_error = std::to_string(call->status.error_code()) + " " +
                             call->status.error_message();
      }
    }
    issue();
  }
  result.wall_seconds = Seconds(Clock::now() - begin);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

// ---------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------
// The benchmark.

struct Config {
  std::string musterd = MUSTERD_PATH;
  double duration = 5;
  bool quick = false;
  std::vector<std::string> scenarios;
  std::vector<int> in_flights = {1, 16, 64, 256};
  int lookup_instances = 100000;
  int heartbeat_instances = 100000;
  int checker_targets = 10000;
  int scale_instances = 1000000;
  std::vector<std::pair<int, int>> watch_loads = {{1000, 100}, {100, 1000}};
};

class Bench {
 public:
  Bench(const Config& config, Daemon& daemon)
      : config_(config),
        daemon_(daemon),
        channel_(grpc::CreateChannel(daemon.grpc_address(),
                                     grpc::InsecureChannelCredentials())),
        registry_(v1::Registry::NewStub(channel_)),
        realms_(v1::Realms::NewStub(channel_)) {}

  void Run() {
    // Baseline always runs first: every other row is a ratio to it.
    Baseline();
    if (Selected("lookup")) Lookup();
    if (Selected("register")) Register();
    if (Selected("heartbeat")) Heartbeat();
    if (Selected("watch")) Watch();
    if (Selected("checker")) Checker();
    if (Selected("scale")) Scale();
  }

  const std::vector<Row>& rows() const { return rows_; }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  bool Selected(const std::string& name) const {
    return config_.scenarios.empty() ||
           std::find(config_.scenarios.begin(), config_.scenarios.end(),
                     name) != config_.scenarios.end();
  }

  void Fail(const std::string& what) {
    std::fprintf(stderr, "muster-bench: FAIL: %s\n", what.c_str());
    failures_.push_back(what);
  }

  void CheckErrors(const std::string& what, const LoadResult& r) {
    if (r.errors > 0) {
      Fail(what + ": " + std::to_string(r.errors) + " of " +
           std::to_string(r.ok + r.errors) +
           " requests failed (first: " + r.first_error + ")");
    }
  }

  // Adds a row from a closed-loop result and the daemon stats around it.
  // `baseline` is the Ping rate measured just before at the same
  // concurrency (0: use the run's first baseline).
  Row& AddRow(const std::string& scenario, int in_flight, const LoadResult& r,
              const DaemonStats& before, const DaemonStats& after,
              double baseline = 0) {
    Row row;
    row.scenario = scenario;
    row.in_flight = in_flight;
    row.ops_per_second = r.ok / std::max(r.wall_seconds, 1e-9);
    FillLatencies(r.latencies_ms, &row);
    row.cpu_share = (after.cpu_seconds - before.cpu_seconds) /
                    std::max(r.wall_seconds, 1e-9);
    row.peak_rss_mib = after.peak_rss_mib;
    if (scenario == "baseline") {
      baseline_[in_flight] = row.ops_per_second;
    } else if (baseline > 0) {
      row.ratio = row.ops_per_second / baseline;
      row.extra.push_back({"baseline_ops_per_second", baseline});
    } else if (baseline_.count(in_flight) && baseline_[in_flight] > 0) {
      row.ratio = row.ops_per_second / baseline_[in_flight];
    }
    CheckErrors(scenario + "@" + std::to_string(in_flight), r);
    rows_.push_back(row);
    return rows_.back();
  }

  void CreateRealm(const std::string& name) {
    grpc::ClientContext ctx;
    v1::CreateRealmRequest req;
    req.set_name(name);
    v1::Realm realm;
    grpc::Status s = realms_->CreateRealm(&ctx, req, &realm);
    if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      Fail("CreateRealm " + name + ": " + s.error_message());
    }
  }

  // The routable instances of a realm, from ListServices.
  uint64_t Routable(const std::string& realm) {
    grpc::ClientContext ctx;
    v1::ListServicesRequest req;
    req.set_realm(realm);
    v1::ListServicesResponse resp;
    if (!registry_->ListServices(&ctx, req, &resp).ok()) return 0;
    uint64_t routable = 0;
    for (const auto& service : resp.services())
      routable += service.routable_count();
    return routable;
  }

  // Removes a scenario's realm and its instances, so that no background
  // work of it (probes, TTL expiry) runs into the next scenario.
  void DeleteRealm(const std::string& name) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(120));
    v1::DeleteRealmRequest req;
    req.set_name(name);
    req.set_force(true);
    v1::DeleteRealmResponse resp;
    grpc::Status s = realms_->DeleteRealm(&ctx, req, &resp);
    if (!s.ok()) Fail("DeleteRealm " + name + ": " + s.error_message());
  }

  StartFn<v1::RegisterRequest, v1::RegisterResponse> RegisterCall() {
    return [this](grpc::ClientContext* ctx, const v1::RegisterRequest& req,
                  grpc::CompletionQueue* cq) {
      return registry_->AsyncRegister(ctx, req, cq);
    };
  }

  // Fills a plain (check-less, so always routable) instance.
  static void FillInstance(const std::string& realm, const std::string& service,
                           const std::string& id, v1::RegisterRequest* req) {
    req->set_realm(realm);
    v1::Instance* instance = req->mutable_instance();
    instance->set_service(service);
    instance->set_id(id);
    instance->set_address("127.0.0.1");
    instance->set_port(8000 + std::hash<std::string>()(id) % 50000);
  }

  // Registers `count` instances built by `make` with 256 in flight.
  LoadResult Preload(
      const std::string& what, uint64_t count,
      const std::function<void(uint64_t, v1::RegisterRequest*)>& make,
      const std::function<void(uint64_t, const v1::RegisterResponse&)>& on_ok =
          nullptr) {
    LoadResult r = RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
        256, 0, count, make, RegisterCall(), on_ok);
    CheckErrors("preload " + what, r);
    std::fprintf(stderr, "muster-bench: preloaded %s: %llu in %.1f s\n",
                 what.c_str(), static_cast<unsigned long long>(r.ok),
                 r.wall_seconds);
    return r;
  }

  // Ping's rate at `in_flight` over about a second, measured right before
  // a scenario's point: this machine's speed drifts within a run, and a
  // ratio to a baseline taken minutes earlier would carry that drift.
  double PingRate(int in_flight) {
    LoadResult r = RunPing(in_flight, std::min(1.0, config_.duration));
    CheckErrors("baseline before a point", r);
    return r.ok / std::max(r.wall_seconds, 1e-9);
  }

  // Closed-loop Ping calls for `seconds`.
  LoadResult RunPing(int in_flight, double seconds) {
    return RunClosedLoop<v1::PingRequest, v1::PingResponse>(
        in_flight, seconds, 0, [](uint64_t, v1::PingRequest*) {},
        [this](grpc::ClientContext* ctx, const v1::PingRequest& req,
               grpc::CompletionQueue* cq) {
          return registry_->AsyncPing(ctx, req, cq);
        });
  }

  void Baseline() {
    for (int n : config_.in_flights) {
      const DaemonStats before = daemon_.Stats();
      LoadResult r = RunPing(n, config_.duration);
      AddRow("baseline", n, r, before, daemon_.Stats()).notes = "Ping";
    }
  }

  void Lookup() {
    const std::string realm = "lookup";
    CreateRealm(realm);
    const int n = config_.lookup_instances;
    Preload(std::to_string(n) + " lookup instances", n,
            [&](uint64_t i, v1::RegisterRequest* req) {
              FillInstance(realm, "svc-" + std::to_string(i / 100),
                           "i-" + std::to_string(i), req);
            });
    Preload("10 target instances", 10,
            [&](uint64_t i, v1::RegisterRequest* req) {
              FillInstance(realm, "target", "t-" + std::to_string(i), req);
            });
    for (int inflight : config_.in_flights) {
      uint64_t wrong_size = 0;
      const double baseline = PingRate(inflight);
      const DaemonStats before = daemon_.Stats();
      LoadResult r =
          RunClosedLoop<v1::ListInstancesRequest, v1::ListInstancesResponse>(
              inflight, config_.duration, 0,
              [&](uint64_t, v1::ListInstancesRequest* req) {
                req->set_realm(realm);
                req->set_service("target");
                req->set_routable_only(true);
              },
              [this](grpc::ClientContext* ctx,
                     const v1::ListInstancesRequest& req,
                     grpc::CompletionQueue* cq) {
                return registry_->AsyncListInstances(ctx, req, cq);
              },
              [&](uint64_t, const v1::ListInstancesResponse& resp) {
                if (resp.instances_size() != 10) ++wrong_size;
              });
      AddRow("lookup", inflight, r, before, daemon_.Stats(), baseline).notes =
          "10 of " + std::to_string(n) + " instances, routable only";
      if (wrong_size > 0) {
        Fail("lookup: " + std::to_string(wrong_size) +
             " responses without exactly 10 instances");
      }
    }
  }

  void Register() {
    const std::string realm = "register";
    CreateRealm(realm);
    std::map<int, double> rate;
    for (int inflight : config_.in_flights) {
      const std::string prefix = "r" + std::to_string(inflight) + "-";
      const double baseline = PingRate(inflight);
      const DaemonStats before = daemon_.Stats();
      LoadResult r = RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
          inflight, config_.duration, 0,
          [&](uint64_t i, v1::RegisterRequest* req) {
            FillInstance(realm, "svc-" + std::to_string(i % 100),
                         prefix + std::to_string(i), req);
          },
          RegisterCall());
      Row& row =
          AddRow("register", inflight, r, before, daemon_.Stats(), baseline);
      rate[inflight] = row.ops_per_second;
      row.notes = "durable write";
      if (inflight != 1 && rate.count(1) && rate[1] > 0) {
        row.notes += ", " + Fixed(row.ops_per_second / rate[1], 1) +
                     "x register@1 (group commit)";
      }
    }
  }

  void Heartbeat() {
    const std::string realm = "heartbeat";
    CreateRealm(realm);
    const int n = config_.heartbeat_instances;
    std::vector<uint64_t> incarnation(n);
    auto id_of = [](uint64_t i) { return "h-" + std::to_string(i); };
    auto service_of = [](uint64_t i) {
      return "svc-" + std::to_string(i / 100);
    };
    Preload(
        std::to_string(n) + " TTL instances", n,
        [&](uint64_t i, v1::RegisterRequest* req) {
          FillInstance(realm, service_of(i), id_of(i), req);
          v1::CheckSpec* check = req->mutable_instance()->mutable_check();
          check->set_kind(v1::CHECK_KIND_TTL);
          // Longer than the whole run: no expiry (a burst of 100,000
          // health changes) lands in a later scenario.
          check->mutable_ttl()->set_seconds(3600);
        },
        [&](uint64_t i, const v1::RegisterResponse& resp) {
          incarnation[i] = resp.instance().create_revision();
        });
    auto make = [&](uint64_t seq, v1::HeartbeatRequest* req) {
      const uint64_t i = seq % n;
      req->set_realm(realm);
      req->set_service(service_of(i));
      req->set_id(id_of(i));
      req->set_incarnation(incarnation[i]);
    };
    StartFn<v1::HeartbeatRequest, v1::HeartbeatResponse> start =
        [this](grpc::ClientContext* ctx, const v1::HeartbeatRequest& req,
               grpc::CompletionQueue* cq) {
          return registry_->AsyncHeartbeat(ctx, req, cq);
        };
    // Warm-up: the first heartbeats of an instance move it from STARTING
    // to PASSING, a committed (durable) health change each. Heartbeat
    // every instance until all are routable, so that the measured ones
    // are steady-state heartbeats, which touch memory only.
    uint64_t routable = 0;
    for (int round = 0; round < 5 && routable < uint64_t(n); ++round) {
      CheckErrors("heartbeat warm-up",
                  RunClosedLoop<v1::HeartbeatRequest, v1::HeartbeatResponse>(
                      256, 0, n, make, start));
      // The health changes commit after the answers: wait for them.
      for (int poll = 0; poll < 100; ++poll) {
        routable = Routable(realm);
        if (routable >= uint64_t(n)) break;
        SleepSeconds(0.05);
      }
    }
    if (routable < uint64_t(n)) {
      Fail("heartbeat: after the warm-up " + std::to_string(routable) + " of " +
           std::to_string(n) + " instances are passing");
    }
    for (int inflight : config_.in_flights) {
      const double baseline = PingRate(inflight);
      const DaemonStats before = daemon_.Stats();
      LoadResult r = RunClosedLoop<v1::HeartbeatRequest, v1::HeartbeatResponse>(
          inflight, config_.duration, 0, make, start);
      AddRow("heartbeat", inflight, r, before, daemon_.Stats(), baseline)
          .notes = "round-robin over " + std::to_string(n) +
                   " passing TTL instances (after a warm-up)";
    }
    DeleteRealm(realm);
  }

  void Watch() {
    for (const auto& [watchers, rate] : config_.watch_loads) {
      WatchOnce(watchers, rate);
    }
  }

  // W watchers on a fresh realm while a paced writer registers `rate`
  // new instances per second.
  void WatchOnce(int watchers, int rate);

  void Checker();
  void Scale();

  const Config& config_;
  Daemon& daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Registry::Stub> registry_;
  std::unique_ptr<v1::Realms::Stub> realms_;
  std::map<int, double> baseline_;
  std::vector<Row> rows_;
  std::vector<std::string> failures_;
};

// One Watch stream and what it has seen.
struct Watcher {
  grpc::ClientContext ctx;
  v1::WatchResponse resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncReader<v1::WatchResponse>> reader;
  uint64_t last_revision = 0;
  uint64_t events = 0;
  bool in_order = true;
  bool unknown_event = false;
  bool snapshot_done = false;
};

// Completion-queue tags: the watcher pointer with the operation in the low
// bits.
enum WatchOp : uintptr_t { kStarted = 0, kRead = 1, kFinished = 2 };

void* Tag(Watcher* w, WatchOp op) {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(w) | op);
}

void Bench::WatchOnce(int watchers, int rate) {
  const std::string realm =
      "watch-" + std::to_string(watchers) + "-" + std::to_string(rate);
  CreateRealm(realm);

  // Client-side send time of each Register, by instance id.
  std::mutex mu;
  std::unordered_map<std::string, Clock::time_point> sent;
  std::vector<double> latencies_ms;
  std::atomic<int> ready{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<int> finished{0};

  // Several connections so that no single HTTP/2 connection limits streams.
  std::vector<std::unique_ptr<v1::Registry::Stub>> stubs;
  for (int c = 0; c < std::max(1, watchers / 100); ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("muster.bench.channel", c);
    stubs.push_back(v1::Registry::NewStub(grpc::CreateCustomChannel(
        daemon_.grpc_address(), grpc::InsecureChannelCredentials(), args)));
  }
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Watcher>> all;
  for (int i = 0; i < watchers; ++i) {
    auto w = std::make_unique<Watcher>();
    v1::WatchRequest req;
    req.set_realm(realm);
    w->reader = stubs[i % stubs.size()]->AsyncWatch(&w->ctx, req, &cq,
                                                    Tag(w.get(), kStarted));
    all.push_back(std::move(w));
  }

  // The receiving thread: checks order and measures delivery latency.
  std::thread receiver([&] {
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
      const auto op =
          static_cast<WatchOp>(reinterpret_cast<uintptr_t>(tag) & 3);
      auto* w = reinterpret_cast<Watcher*>(reinterpret_cast<uintptr_t>(tag) &
                                           ~uintptr_t{3});
      if (op == kFinished) {
        ++finished;
        continue;
      }
      if (!ok) {
        w->reader->Finish(&w->status, Tag(w, kFinished));
        continue;
      }
      if (op == kRead) {
        const auto now = Clock::now();
        if (w->resp.kind() == v1::WatchResponse::SNAPSHOT_END &&
            !w->snapshot_done) {
          w->snapshot_done = true;
          ++ready;
        }
        if (w->resp.kind() == v1::WatchResponse::EVENTS) {
          for (const v1::Event& e : w->resp.events()) {
            if (e.revision() <= w->last_revision) w->in_order = false;
            w->last_revision = e.revision();
            ++w->events;
            std::lock_guard<std::mutex> lock(mu);
            auto it = sent.find(e.instance().id());
            if (it == sent.end()) {
              w->unknown_event = true;
            } else {
              latencies_ms.push_back(Millis(now - it->second));
            }
          }
          delivered += w->resp.events_size();
        }
      }
      w->reader->Read(&w->resp, Tag(w, kRead));
    }
  });

  auto wait_for = [](const std::function<bool()>& done, double seconds) {
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(seconds));
    while (!done() && Clock::now() < deadline) SleepSeconds(0.005);
    return done();
  };
  if (!wait_for([&] { return ready.load() == watchers; }, 30)) {
    Fail("watch: only " + std::to_string(ready.load()) + " of " +
         std::to_string(watchers) + " watchers got their snapshot");
  }

  // The paced writer: one Register every 1/rate s, answers drained by a
  // second thread.
  const DaemonStats before = daemon_.Stats();
  grpc::CompletionQueue write_cq;
  std::atomic<uint64_t> writes_ok{0}, write_errors{0};
  std::thread drainer([&] {
    void* tag = nullptr;
    bool ok = false;
    while (write_cq.Next(&tag, &ok)) {
      auto* call = static_cast<std::pair<grpc::Status, void*>*>(tag);
      (call->first.ok() && ok ? writes_ok : write_errors)++;
    }
  });
  struct Write {
    std::pair<grpc::Status, void*> status;  // first member: the tag
    grpc::ClientContext ctx;
    v1::RegisterRequest req;
    v1::RegisterResponse resp;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RegisterResponse>>
        reader;
  };
  std::vector<std::unique_ptr<Write>> writes;
  const auto begin = Clock::now();
  const uint64_t total = static_cast<uint64_t>(config_.duration * rate);
  for (uint64_t k = 0; k < total; ++k) {
    std::this_thread::sleep_until(
        begin + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(double(k) / rate)));
    auto w = std::make_unique<Write>();
    const std::string id = "w-" + std::to_string(k);
    FillInstance(realm, "svc", id, &w->req);
    {
      std::lock_guard<std::mutex> lock(mu);
      sent[id] = Clock::now();
    }
    w->reader = registry_->AsyncRegister(&w->ctx, w->req, &write_cq);
    w->reader->Finish(&w->resp, &w->status.first, &w->status);
    writes.push_back(std::move(w));
  }
  wait_for([&] { return writes_ok + write_errors == total; }, 30);
  const double write_seconds = Seconds(Clock::now() - begin);
  const uint64_t expected = writes_ok.load() * watchers;
  const bool all_delivered =
      wait_for([&] { return delivered.load() >= expected; }, 10);
  const double wall = Seconds(Clock::now() - begin);
  const DaemonStats after = daemon_.Stats();

  for (auto& w : all) w->ctx.TryCancel();
  wait_for([&] { return finished.load() == watchers; }, 10);
  cq.Shutdown();
  receiver.join();
  write_cq.Shutdown();
  drainer.join();

  bool complete = all_delivered && write_errors == 0;
  for (const auto& w : all) {
    if (!w->in_order || w->unknown_event || w->events != writes_ok.load()) {
      complete = false;
    }
  }
  Row row;
  row.scenario = "watch";
  row.in_flight = watchers;
  row.ops_per_second = delivered.load() / std::max(write_seconds, 1e-9);
  FillLatencies(latencies_ms, &row);
  row.cpu_share = (after.cpu_seconds - before.cpu_seconds) / wall;
  row.peak_rss_mib = after.peak_rss_mib;
  row.notes =
      std::to_string(watchers) + " watchers @ " + std::to_string(rate) +
      " writes/s, events/s delivered, complete: " + (complete ? "yes" : "no");
  rows_.push_back(row);
  if (write_errors > 0) {
    Fail("watch: " + std::to_string(write_errors.load()) + " writes failed");
  }
  if (!complete) {
    Fail("watch " + std::to_string(watchers) + "@" + std::to_string(rate) +
         ": delivered " + std::to_string(delivered.load()) + " of " +
         std::to_string(expected) +
         " events, or some were duplicated, unknown or out of order");
  }
}

void Bench::Checker() {
  // A few loopback HTTP targets answering 200 on every request.
  constexpr int kServers = 2;
  std::vector<std::unique_ptr<HttpTarget>> targets;
  std::vector<int> ports;
  for (int i = 0; i < kServers; ++i) {
    targets.push_back(std::make_unique<HttpTarget>());
    ports.push_back(targets.back()->port());
  }

  const std::string realm = "checker";
  CreateRealm(realm);
  const int k = config_.checker_targets;
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
  SleepSeconds(1.5);  // let the first round of probes get scheduled

  auto answered = [&] {
    uint64_t sum = 0;
    for (const auto& t : targets) sum += t->answered();
    return sum;
  };
  const CheckerSample first = ScrapeChecker(daemon_.http_address());
  const uint64_t answered_before = answered();
  const DaemonStats before = daemon_.Stats();
  const auto begin = Clock::now();
  SleepSeconds(config_.duration);
  const CheckerSample last = ScrapeChecker(daemon_.http_address());
  const uint64_t answered_after = answered();
  const double wall = Seconds(Clock::now() - begin);
  const DaemonStats after = daemon_.Stats();

  Row row;
  row.scenario = "checker";
  row.in_flight = k;
  row.ops_per_second = (last.http_success - first.http_success) / wall;
  row.p50_ms = BucketQuantileMs(first, last, 0.50);
  row.p90_ms = BucketQuantileMs(first, last, 0.90);
  row.p99_ms = BucketQuantileMs(first, last, 0.99);
  row.max_ms = BucketQuantileMs(first, last, 1.0);
  row.cpu_share = (after.cpu_seconds - before.cpu_seconds) / wall;
  row.peak_rss_mib = after.peak_rss_mib;
  row.notes = std::to_string(k) + " HTTP checks every 1s, " +
              Fixed((last.http_other - first.http_other) / wall, 0) +
              " failed probes/s, targets answered " +
              Fixed((answered_after - answered_before) / wall, 0) +
              "/s; ops = successful probes/s, latencies = "
              "schedule lag (bucket upper bounds)";
  rows_.push_back(row);
  if (last.lag_buckets.empty()) Fail("checker: no schedule lag histogram");
  // Stop the probes before the targets go away and the next scenario runs.
  DeleteRealm(realm);
}

void Bench::Scale() {
  // A daemon of its own, so that the other scenarios' data does not count.
  Daemon daemon(config_.musterd);
  if (!daemon.Start()) {
    Fail("scale: musterd did not start");
    return;
  }
  auto registry = v1::Registry::NewStub(grpc::CreateChannel(
      daemon.grpc_address(), grpc::InsecureChannelCredentials()));
  const std::string realm = "scale";
  const uint64_t n = config_.scale_instances;
  const DaemonStats idle = daemon.Stats();
  uint64_t payload_bytes = 0;
  LoadResult r = RunClosedLoop<v1::RegisterRequest, v1::RegisterResponse>(
      256, 0, n,
      [&](uint64_t i, v1::RegisterRequest* req) {
        FillInstance(realm, "svc-" + std::to_string(i / 100),
                     "s-" + std::to_string(i), req);
        v1::Instance* instance = req->mutable_instance();
        instance->set_zone(i % 2 == 0 ? "zone-a" : "zone-b");
        instance->add_tags("scale");
        (*instance->mutable_metadata())["build"] = std::to_string(i % 1000);
        payload_bytes += instance->ByteSizeLong();
      },
      [&registry](grpc::ClientContext* ctx, const v1::RegisterRequest& req,
                  grpc::CompletionQueue* cq) {
        return registry->AsyncRegister(ctx, req, cq);
      });
  const DaemonStats loaded = daemon.Stats();
  CheckErrors("scale: register", r);
  const uint64_t data_bytes = daemon.DataBytes();

  // Restart on the same data: time until Ping answers, and until the
  // daemon reports every instance.
  daemon.Stop(/*keep_data=*/true);
  const auto restart_begin = Clock::now();
  if (!daemon.Start()) {
    Fail("scale: musterd did not restart on its data");
    return;
  }
  const double to_ping = Seconds(Clock::now() - restart_begin);
  registry = v1::Registry::NewStub(grpc::CreateChannel(
      daemon.grpc_address(), grpc::InsecureChannelCredentials()));
  uint64_t recovered = 0;
  const auto deadline = restart_begin + std::chrono::seconds(120);
  while (Clock::now() < deadline) {
    grpc::ClientContext ctx;
    v1::ServerInfo info;
    if (registry->GetServerInfo(&ctx, v1::GetServerInfoRequest(), &info).ok()) {
      recovered = info.instance_count();
      if (recovered >= r.ok) break;
    }
    SleepSeconds(0.01);
  }
  const double to_serving = Seconds(Clock::now() - restart_begin);
  if (recovered != r.ok) {
    Fail("scale: after the restart musterd holds " + std::to_string(recovered) +
         " instances, " + std::to_string(r.ok) + " were acknowledged");
  }
  {
    grpc::ClientContext ctx;
    v1::ListInstancesRequest req;
    req.set_realm(realm);
    req.set_service("svc-0");
    req.set_page_size(1000);
    v1::ListInstancesResponse resp;
    const grpc::Status s = registry->ListInstances(&ctx, req, &resp);
    const int want = static_cast<int>(std::min<uint64_t>(n, 100));
    if (!s.ok() || resp.instances_size() != want) {
      Fail("scale: svc-0 lists " + std::to_string(resp.instances_size()) +
           " instances after the restart, want " + std::to_string(want));
    }
  }
  const DaemonStats restarted = daemon.Stats();
  daemon.Stop();

  const double mib = 1024.0 * 1024.0;
  const double count = static_cast<double>(std::max<uint64_t>(r.ok, 1));
  const double payload = payload_bytes / static_cast<double>(std::max(n, 1ul));
  const double per_instance = (loaded.rss_mib - idle.rss_mib) * mib / count;
  const double per_instance_restarted =
      (restarted.rss_mib - idle.rss_mib) * mib / count;
  Row row;
  row.scenario = "scale";
  row.in_flight = 256;
  row.ops_per_second = r.ok / std::max(r.wall_seconds, 1e-9);
  FillLatencies(r.latencies_ms, &row);
  row.cpu_share =
      (loaded.cpu_seconds - idle.cpu_seconds) / std::max(r.wall_seconds, 1e-9);
  row.peak_rss_mib = loaded.peak_rss_mib;
  row.notes =
      std::to_string(r.ok) + " durable registrations in " +
      Fixed(r.wall_seconds, 1) + " s; RSS " + Fixed(loaded.rss_mib, 0) +
      " MiB (" + Fixed(per_instance, 0) + " B/instance over idle, payload " +
      Fixed(payload, 0) + " B); data dir " + Fixed(data_bytes / mib, 0) +
      " MiB; restart: Ping in " + Fixed(to_ping, 2) + " s, all instances in " +
      Fixed(to_serving, 2) + " s, RSS then " + Fixed(restarted.rss_mib, 0) +
      " MiB (" + Fixed(per_instance_restarted, 0) + " B/instance)";
  row.extra = {{"instances", static_cast<double>(r.ok)},
               {"idle_rss_mib", idle.rss_mib},
               {"rss_mib", loaded.rss_mib},
               {"rss_bytes_per_instance", per_instance},
               {"payload_bytes_per_instance", payload},
               {"data_dir_mib", data_bytes / mib},
               {"restart_to_ping_s", to_ping},
               {"restart_to_all_instances_s", to_serving},
               {"restarted_rss_mib", restarted.rss_mib},
               {"restarted_rss_bytes_per_instance", per_instance_restarted}};
  rows_.push_back(row);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int Main(int argc, char** argv) {
  Config config;
  std::string scenarios;
  std::string json;
  CLI::App app{"muster-bench: closed-loop load generator for musterd",
               "muster-bench"};
  app.add_option("--musterd", config.musterd, "musterd binary to start")
      ->capture_default_str();
  CLI::Option* duration = app.add_option("--duration", config.duration,
                                         "Seconds per scenario and concurrency")
                              ->capture_default_str();
  app.add_flag("--quick", config.quick,
               "1 s per scenario and small data sets (a smoke test)");
  app.add_option("--scenarios", scenarios,
                 "Comma-separated subset of baseline,lookup,register,"
                 "heartbeat,watch,checker,scale (baseline always runs)");
  app.add_option("--json", json, "Also write the results as JSON here");
  CLI11_PARSE(app, argc, argv);

  config.scenarios = Split(scenarios);
  if (config.quick) {
    if (duration->count() == 0) config.duration = 1;
    config.lookup_instances = 1000;
    config.heartbeat_instances = 1000;
    config.checker_targets = 200;
    config.scale_instances = 5000;
    config.watch_loads = {{20, 100}};
  }
  signal(SIGPIPE, SIG_IGN);

  Daemon daemon(config.musterd);
  if (!daemon.Start()) return 2;
  Bench bench(config, daemon);
  bench.Run();
  daemon.Stop();

  PrintTable(bench.rows());
  if (!json.empty() && !WriteJson(json, bench.rows(), bench.failures())) {
    std::fprintf(stderr, "muster-bench: cannot write %s\n", json.c_str());
    return 1;
  }
  if (!bench.failures().empty()) {
    std::fprintf(stderr, "muster-bench: %zu failure(s); see above\n",
                 bench.failures().size());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace muster::bench

int main(int argc, char** argv) { return muster::bench::Main(argc, argv); }
