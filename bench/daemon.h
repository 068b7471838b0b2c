#pragma once

#include <grpcpp/security/credentials.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/noise.h"
#include "testkit/daemon_process.h"

namespace muster::bench {

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
  // With more flags (appended to the bench's own) and, for a musterd
  // serving TLS, the credentials the harness dials it with.
  Daemon(std::string path, std::vector<std::string> extra_args,
         std::shared_ptr<grpc::ChannelCredentials> credentials)
      : path_(std::move(path)),
        extra_args_(std::move(extra_args)),
        credentials_(std::move(credentials)) {}
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
      std::vector<std::string> args = {
          "--auto-create-realms", "--log-level", "warning",
          // Every bench target is on 127.0.0.1, one host to the
          // checker: lift the per-host bound to the global one.
          "--checker-max-in-flight-per-host", "1024"};
      args.insert(args.end(), extra_args_.begin(), extra_args_.end());
      process_ = std::make_unique<testing::DaemonProcess>(
          path_, dir_ + "/data", dir_ + "/musterd.log", std::move(args));
      if (credentials_ != nullptr) {
        process_->SetChannelCredentials(credentials_);
      }
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
    pid_ = process_->pid();
    // Its CPU is the work measured, not noise.
    NoiseGuard::Global().Watch(pid_);
    return true;
  }

  // SIGTERM, wait (SIGKILL after 10 s) and, unless `keep_data`, remove
  // the temporary dir.
  void Stop(bool keep_data = false) {
    if (pid_ > 0) NoiseGuard::Global().Unwatch(pid_);
    pid_ = -1;
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
    return StatsOf(process_ != nullptr ? process_->pid() : -1);
  }

  // The CPU time and RSS of any process (etcd's too).
  static DaemonStats StatsOf(pid_t pid) {
    DaemonStats stats;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    if (std::optional<uint64_t> ticks = ParseProcessTicks(line)) {
      stats.cpu_seconds = static_cast<double>(*ticks) /
                          std::max<double>(sysconf(_SC_CLK_TCK), 1.0);
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
  // The temporary dir (its data dir is dir() + "/data"); empty before the
  // first Start().
  const std::string& dir() const { return dir_; }
  const std::string& http_address() const { return http_address_; }

 private:
  const std::string path_;
  const std::vector<std::string> extra_args_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string dir_;
  std::unique_ptr<testing::DaemonProcess> process_;
  std::string grpc_address_;
  std::string http_address_;
  pid_t pid_ = -1;  // while running
};

}  // namespace muster::bench
