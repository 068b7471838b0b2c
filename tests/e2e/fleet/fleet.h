#pragma once

// The example fleet as real processes for the end-to-end tests: one
// musterd (testkit's DaemonProcess), identity instances and a frontend
// (examples/), each child's output in a file of the test's temp dir, and
// the daemon's gRPC API and the children's /stats for the assertions.
// Not thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/child_process.h"
#include "testkit/daemon_process.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace muster::fleet {

using ::muster::testing::Eventually;

// GET http://127.0.0.1:<port><path> parsed as a JSON object; nullopt when
// nothing answers 200 with JSON.
std::optional<google::protobuf::Struct> GetJson(int port,
                                                const std::string& path);

// The HTTP status of GET http://127.0.0.1:<port><path>; 0 when nothing
// answers.
int GetStatus(int port, const std::string& path);

// The number at `path` (object keys) in `doc`; -1 when absent.
double Number(const google::protobuf::Struct& doc,
              const std::vector<std::string>& path);
// The string at `path`; "" when absent.
std::string String(const google::protobuf::Struct& doc,
                   const std::vector<std::string>& path);
// The strings of the list at `path`.
std::vector<std::string> Strings(const google::protobuf::Struct& doc,
                                 const std::vector<std::string>& path);
// The object of numbers at `name` ({"id": count, ...}).
std::map<std::string, uint64_t> Counts(const google::protobuf::Struct& doc,
                                       const std::string& name);

// Microseconds since the Unix epoch (CLOCK_REALTIME), as identity logs.
int64_t RealtimeMicros();

// One line of identity's request log.
struct ServedRequest {
  int64_t time_us = 0;
  std::string method;
  std::string path;
  int status = 0;
};
std::vector<ServedRequest> ParseIdentityLog(const std::string& text);

// One line of frontend's --log.
struct FrontendRequest {
  uint64_t revision = 0;  // the resolver's, read before the pick
  std::string instance;   // "-" when none answered
  int status = 0;
  int attempts = 0;
};
std::vector<FrontendRequest> ParseFrontendLog(const std::string& text);

struct Identity {
  std::string id;
  int port = 0;
  std::string log_path;  // stdout: the request log
  std::string err_path;  // stderr
  std::unique_ptr<testing::Child> child;

  std::optional<google::protobuf::Struct> Stats() const {
    return GetJson(port, "/stats");
  }
};

class Fleet {
 public:
  // A musterd with `daemon_args` added to testkit's. Start() it.
  explicit Fleet(std::vector<std::string> daemon_args = {});
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  testing::DaemonProcess& daemon() { return *daemon_; }
  const testing::TempDir& dir() const { return dir_; }

  // Starts identity `id` on a free port (with `extra_args`); nullptr
  // when it could not be spawned.
  Identity* StartIdentity(const std::string& id,
                          std::vector<std::string> extra_args = {});
  Identity* identity(const std::string& id);

  // Starts the frontend at `rate` requests a second, with --log and a
  // --stats-port; false when it could not be spawned.
  bool StartFrontend(int rate, std::vector<std::string> extra_args = {});
  int frontend_stats_port() const { return frontend_stats_port_; }
  std::optional<google::protobuf::Struct> FrontendStats() const {
    return GetJson(frontend_stats_port_, "/stats");
  }
  // SIGTERM to the frontend; its exit code (or -1 when it did not exit
  // within 15 s). Its final stats are then in frontend_out_path().
  int StopFrontend();
  std::string frontend_log_path() const { return dir_.File("frontend.log"); }
  std::string frontend_out_path() const { return dir_.File("frontend.out"); }
  std::string frontend_err_path() const { return dir_.File("frontend.err"); }

  // The daemon's view, through its gRPC API, of service identity in realm
  // default.
  std::vector<v1::Instance> Instances(bool routable_only);
  grpc::Status SetAdminState(const std::string& id, v1::AdminState state,
                             v1::Instance* instance);
  // Every retained event of service identity, oldest first.
  std::vector<v1::Event> Events();

  // Waits until `ids` are all routable and PASSING in musterd.
  bool AwaitRoutable(const std::vector<std::string>& ids,
                     std::chrono::milliseconds timeout);
  // Waits until the frontend's answers came from each of `ids`, at least
  // `min_each` times.
  bool AwaitServedBy(const std::vector<std::string>& ids, uint64_t min_each,
                     std::chrono::milliseconds timeout);
  // Waits until the frontend has completed `more` requests beyond
  // `completed`.
  bool AwaitCompleted(uint64_t completed, uint64_t more,
                      std::chrono::milliseconds timeout);

  // The logs, for INFO() when an assertion fails.
  std::string Diagnostics() const;

 private:
  std::vector<std::string> ChildEnv() const;

  testing::TempDir dir_;
  std::unique_ptr<testing::DaemonProcess> daemon_;
  std::vector<std::unique_ptr<Identity>> identities_;
  std::unique_ptr<testing::Child> frontend_;
  int frontend_stats_port_ = 0;
};

}  // namespace muster::fleet
