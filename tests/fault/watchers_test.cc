// Hostile watchers against the real musterd: a thousand watch streams
// that never read and two hundred that read about 512 bytes a second,
// connecting (and reconnecting after each cut-off) while a writer
// registers about 2,000 instances a second. The daemon must stay up, cut
// the laggards off, keep its memory bounded while they are attached, and
// give it back once they are gone.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Under AddressSanitizer (the test command's second build) memory is
// ASan's: its shadow and quarantine make RSS meaningless, so the memory
// bounds are checked in the plain build only.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

int Scale() {
  const char* value = std::getenv("MUSTER_FAULT_SCALE");
  int scale = value != nullptr ? std::atoi(value) : 1;
  return scale > 0 ? scale : 1;
}

// Resident set of `pid` in MiB, from /proc (0 when it is gone).
double RssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      double kib = 0;
      fields >> kib;
      return kib / 1024.0;
    }
  }
  return 0;
}

bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // "pid (comm) S ...": a zombie (Z) or no entry means it died.
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] != 'Z';
}

// A value of the daemon's /metrics (0 when absent), read over plain HTTP.
double Metric(int http_port, const std::string& name) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(http_port));
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  const std::string request =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return -1;
  }
  std::string body;
  char buffer[8192];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    body.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0)
      return std::atof(line.c_str() + name.size());
  }
  return 0;
}

// One watch stream driven by the callback API: kNever starts the call and
// never reads; kSlow reads about `rate` bytes a second (the Pacer starts
// each next read).
class Watch final : public grpc::ClientReadReactor<muster::v1::WatchResponse> {
 public:
  enum class Mode { kNever, kSlow };

  Watch(muster::v1::Registry::Stub& stub, Mode mode) : mode_(mode) {
    request_.set_realm("default");
    stub.async()->Watch(&context_, &request_, this);
    if (mode_ == Mode::kSlow) StartRead(&response_);
    StartCall();
    started_ = Clock::now();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    absl::MutexLock lock(&mu_);
    bytes_read_ += response_.ByteSizeLong();
    want_read_ = true;
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  // Starts the next read once the stream is within its byte rate.
  void MaybeRead(double bytes_per_second) {
    {
      absl::MutexLock lock(&mu_);
      if (!want_read_ || done_) return;
      const double elapsed =
          std::chrono::duration<double>(Clock::now() - started_).count();
      if (static_cast<double>(bytes_read_) > elapsed * bytes_per_second) return;
      want_read_ = false;
    }
    StartRead(&response_);
  }

  void Cancel() { context_.TryCancel(); }

  bool WaitDone(Clock::time_point deadline) {
    const absl::Duration timeout = absl::FromChrono(deadline - Clock::now());
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  grpc::StatusCode code() {
    absl::MutexLock lock(&mu_);
    return status_.error_code();
  }
  Mode mode() const { return mode_; }

 private:
  const Mode mode_;
  grpc::ClientContext context_;
  muster::v1::WatchRequest request_;
  muster::v1::WatchResponse response_;
  Clock::time_point started_;
  absl::Mutex mu_;
  size_t bytes_read_ ABSL_GUARDED_BY(mu_) = 0;
  bool want_read_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

muster::v1::RegisterRequest Registration(int writer, int i) {
  muster::v1::RegisterRequest request;
  auto* instance = request.mutable_instance();
  instance->set_service("svc" + std::to_string(i % 50));
  instance->set_id("w" + std::to_string(writer) + "-" + std::to_string(i));
  instance->set_address("10.1.0.1");
  instance->set_port(8000 + writer);
  // About a kilobyte per event, so the laggards' backlog is bytes, not
  // only a count.
  for (int m = 0; m < 4; ++m) {
    (*instance->mutable_metadata())["key" + std::to_string(m)] =
        std::string(240, static_cast<char>('a' + m));
  }
  return request;
}

}  // namespace

TEST_CASE(
    "non-reading and slow watchers, connects and writes do not crash "
    "musterd, and their memory is bounded and comes back",
    "[fault][watchers]") {
  const int scale = Scale();
  const int kNever = 1000;
  const int kSlow = 200;
  const int kChannels = 40;
  const double kSlowBytesPerSecond = 512;
  const int kWritesPerSecond = 2000;
  const auto kLoadFor = std::chrono::seconds(8 * scale);
  // The total budget for what musterd holds for watchers, made small so
  // that the test reaches it.
  const int kWatchMemoryMiB = 64;

  TempDir dir;
  // MUSTER_TEST_MUSTERD runs the test against another build of musterd;
  // MUSTER_TEST_DEFAULT_LIMITS leaves its watch memory flags at their
  // defaults (for a build that does not know them).
  const char* binary = std::getenv("MUSTER_TEST_MUSTERD");
  std::vector<std::string> args = {"--no-checker"};
  if (std::getenv("MUSTER_TEST_DEFAULT_LIMITS") == nullptr) {
    args.push_back("--watch-memory-limit");
    args.push_back(std::to_string(kWatchMemoryMiB) + "MiB");
  }
  DaemonProcess daemon(binary != nullptr ? binary : MUSTERD_PATH,
                       dir.File("data"), dir.File("musterd.log"), args);
  REQUIRE(daemon.Start());
  const pid_t pid = daemon.pid();

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<muster::v1::Registry::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) {
    grpc::ChannelArguments args;
    // Distinct arguments: one connection per channel, not one shared.
    args.SetInt("muster.test.channel", c);
    args.SetMaxReceiveMessageSize(-1);
    channels.push_back(grpc::CreateCustomChannel(
        daemon.address(), grpc::InsecureChannelCredentials(), args));
    stubs.push_back(muster::v1::Registry::NewStub(channels.back()));
  }

  // A few instances first (small snapshots, as a registry starting up):
  // the baseline includes the registry.
  auto writer_stub = muster::v1::Registry::NewStub(daemon.channel());
  std::atomic<int> next_id{0};
  auto register_one = [&](muster::v1::Registry::Stub& stub) {
    muster::v1::RegisterResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    return stub
        .Register(&context, Registration(0, next_id.fetch_add(1)), &response)
        .ok();
  };
  for (int i = 0; i < 200; ++i) REQUIRE(register_one(*writer_stub));
  const double baseline_rss = RssMiB(pid);

  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::atomic<int> failed_writes{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&] {
      auto stub = muster::v1::Registry::NewStub(daemon.channel());
      const auto start = Clock::now();
      int mine = 0;
      while (!stop) {
        // Paced: the four writers together make kWritesPerSecond.
        const auto due =
            start + std::chrono::microseconds(static_cast<int64_t>(mine) * 4 *
                                              1000000 / kWritesPerSecond);
        if (Clock::now() < due) {
          std::this_thread::sleep_until(due);
          continue;
        }
        ++mine;
        if (register_one(*stub)) {
          ++acked;
        } else {
          ++failed_writes;
        }
      }
    });
  }

  // Watchers connect while the writes run; each that ends is replaced, so
  // connects and cut-offs keep interleaving with the writes.
  struct Watches {
    absl::Mutex mu;
    std::vector<std::unique_ptr<Watch>> live ABSL_GUARDED_BY(mu);
    std::vector<std::unique_ptr<Watch>> ended ABSL_GUARDED_BY(mu);
  } watches;
  std::mt19937 random(42);
  auto open = [&](Watch::Mode mode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(watches.mu) {
    auto& stub = *stubs[random() % stubs.size()];
    watches.live.push_back(std::make_unique<Watch>(stub, mode));
  };
  int opened = 0;
  double peak_rss = baseline_rss;
  const auto load_until = Clock::now() + kLoadFor;
  while (Clock::now() < load_until && Alive(pid)) {
    {
      absl::MutexLock lock(&watches.mu);
      // Ramp up over the first two seconds, then top up what was cut off.
      int never = 0;
      int slow = 0;
      for (auto it = watches.live.begin(); it != watches.live.end();) {
        if ((*it)->done()) {
          watches.ended.push_back(std::move(*it));
          it = watches.live.erase(it);
          continue;
        }
        ((*it)->mode() == Watch::Mode::kNever ? never : slow)++;
        ++it;
      }
      // At most 50 + 10 connects per round (every 100 ms): a new
      // watcher's snapshot costs the daemon the whole realm.
      for (int i = 0; i < 50 && never < kNever; ++i, ++never, ++opened)
        open(Watch::Mode::kNever);
      for (int i = 0; i < 10 && slow < kSlow; ++i, ++slow, ++opened)
        open(Watch::Mode::kSlow);
      for (auto& watch : watches.live) watch->MaybeRead(kSlowBytesPerSecond);
    }
    peak_rss = std::max(peak_rss, RssMiB(pid));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const bool alive_under_load = Alive(pid);
  stop = true;
  for (auto& writer : writers) writer.join();

  // Every watcher goes away: cancel, then wait for each stream to end.
  // Streams the daemon ended while the load ran (a watcher that is not
  // reading is reset: it cannot read a status).
  size_t ended_count = 0;
  size_t never_done = 0;
  {
    absl::MutexLock lock(&watches.mu);
    ended_count = watches.ended.size();
    for (auto& watch : watches.live) watch->Cancel();
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    for (auto& watch : watches.live) {
      if (!watch->WaitDone(deadline)) ++never_done;
    }
  }
  channels.clear();
  stubs.clear();

  // The daemon notices the closed streams; wait (bounded) until it counts
  // no watcher, then for its memory to settle.
  const bool alive_after = Alive(pid);
  double open_watchers = -1;
  const auto settle_until = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < settle_until) {
    open_watchers = Metric(daemon.http_port(), "muster_watchers_open");
    if (open_watchers == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // What the writes themselves added stays (the instances, RocksDB's
  // memtable, the recent-events tail): a generous 4 KiB per write.
  const double settled_bound = baseline_rss + 80 + acked.load() * 4.0 / 1024;
  double after_rss = RssMiB(pid);
  while (!kSanitized && Clock::now() < settle_until &&
         after_rss > settled_bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    after_rss = RssMiB(pid);
  }
  const double cut_off_total =
      Metric(daemon.http_port(), "muster_watchers_cut_off_total");

  std::printf(
      "FAULT-RESULT watchers scale=%d opened=%d cut_off=%.0f writes=%d "
      "failed_writes=%d rss_baseline_mib=%.0f rss_peak_mib=%.0f "
      "rss_after_mib=%.0f crashed=%d\n",
      scale, opened, cut_off_total, acked.load(), failed_writes.load(),
      baseline_rss, peak_rss, after_rss, alive_after ? 0 : 1);
  std::fflush(stdout);

  INFO("musterd log:\n" << daemon.log());
  REQUIRE(alive_under_load);
  REQUIRE(alive_after);
  // The writer was never held up by the watchers.
  CHECK(failed_writes == 0);
  CHECK(acked > 0);
  // The laggards were cut off and their streams ended.
  CHECK(cut_off_total > 0);
  CHECK(ended_count > 0);
  CHECK(never_done == 0);
  CHECK(open_watchers == 0);
  // Memory: while attached, bounded (the budget counts the events' bytes;
  // the streams, the transport and the allocator add to it: 270-340 MiB
  // here on a quiet machine, up to about 600 MiB when other builds take
  // the cores and the daemon resets streams later; musterd without the
  // budget reached 1.7-2.3 GB with 2,000 instances in the snapshots);
  // afterwards back near the baseline (it stayed at 2.1 GB, or 3-4 times
  // the baseline with small snapshots).
  if (!kSanitized) {
    CHECK(peak_rss < baseline_rss + 1024);
    CHECK(after_rss < settled_bound);
  }

  // Still serving: a new watcher and a write go through.
  auto stub = muster::v1::Registry::NewStub(daemon.channel());
  CHECK(register_one(*stub));
  REQUIRE(daemon.Terminate() == 0);
}

TEST_CASE("bad watch memory flags exit 2 naming the flag",
          "[fault][watchers]") {
  TempDir dir;
  DaemonProcess size(MUSTERD_PATH, dir.File("data"), dir.File("size.log"),
                     {"--watch-memory-limit", "lots"});
  CHECK(size.RunToExit() == 2);
  CHECK_THAT(size.log(), Catch::Contains("--watch-memory-limit: \"lots\""));
  DaemonProcess order(
      MUSTERD_PATH, dir.File("data"), dir.File("order.log"),
      {"--watch-buffer-bytes", "64MiB", "--watch-memory-limit", "32MiB"});
  CHECK(order.RunToExit() == 2);
  CHECK_THAT(order.log(), Catch::Contains("--watch-buffer-bytes"));
}

}  // namespace muster::testing
