#pragma once

// A real musterd for the end-to-end tests: started on free 127.0.0.1
// ports with its own data dir, ready once it answers Ping, stoppable and
// restartable on the same port and data. Not thread-safe.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/e2e/cli/process.h"

namespace muster::e2e {

class Musterd final {
 public:
  // Starts musterd with --data-dir `data_dir` and `extra_flags`, logging
  // to `data_dir`.log. Picks free ports, retrying when another process
  // takes one first.
  static absl::StatusOr<std::unique_ptr<Musterd>> Start(
      const std::string& data_dir, std::vector<std::string> extra_flags = {});
  ~Musterd();
  Musterd(const Musterd&) = delete;
  Musterd& operator=(const Musterd&) = delete;

  // "127.0.0.1:PORT" of the gRPC API.
  std::string address() const;

  // SIGTERM, and wait for a clean exit (SIGKILL after a deadline).
  absl::Status Stop();
  // Start again on the same ports and data dir; waits until ready.
  absl::Status Restart();

  // The daemon's log so far (for failure messages).
  std::string Log() const;

 private:
  Musterd(std::string data_dir, std::vector<std::string> extra_flags);
  absl::Status Launch();

  const std::string data_dir_;
  const std::string log_path_;
  const std::vector<std::string> extra_flags_;
  int port_ = 0;
  int http_port_ = 0;
  std::unique_ptr<Child> child_;
};

}  // namespace muster::e2e
