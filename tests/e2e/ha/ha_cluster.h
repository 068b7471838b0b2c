#pragma once

// The high-availability end-to-end harness: a real 3-member etcd cluster
// and real musterd replicas sharing it (--store etcd), each on its own
// ports, driven from outside through gRPC as any client would. Helpers
// register with failover (the next replica on UNAVAILABLE), read with
// min_revision and watch with resumption on another replica.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "muster/v1/registry.grpc.pb.h"
#include "testkit/daemon_process.h"
#include "testkit/etcd_cluster.h"
#include "tests/support/temp_dir.h"

namespace muster::testing {

// The replicas' etcd lease TTL (--replica-lease-ttl).
inline constexpr int kLeaseTtlSeconds = 2;

// A context whose deadline is `ms` milliseconds from now.
std::unique_ptr<grpc::ClientContext> ContextMs(int ms);

// An instance of service `service` with id `id` and no check.
muster::v1::RegisterRequest PlainInstance(const std::string& service,
                                          const std::string& id);

// A registration the cluster acknowledged (answered OK).
struct Acked {
  std::string id;
  uint64_t incarnation = 0;  // instance.create_revision
  uint64_t revision = 0;     // RegisterResponse.revision
};

// 3 etcd members and `replicas` musterd replicas on 127.0.0.1. The const
// members are thread-safe (the stubs outlive a killed replica, whose
// calls then fail UNAVAILABLE); the others belong to the test's thread.
class HaCluster final {
 public:
  // Starts etcd and the replicas and waits until every replica sees all
  // of them in GetServerInfo's replication.
  static absl::StatusOr<std::unique_ptr<HaCluster>> Start(int replicas = 3);
  ~HaCluster();
  HaCluster(const HaCluster&) = delete;
  HaCluster& operator=(const HaCluster&) = delete;

  int size() const { return static_cast<int>(replicas_.size()); }
  EtcdCluster& etcd() { return *etcd_; }
  DaemonProcess& replica(int i) { return *replicas_[i]; }
  std::string address(int i) const { return replicas_[i]->address(); }
  std::string replica_id(int i) const { return "r" + std::to_string(i); }
  muster::v1::Registry::Stub& stub(int i) const { return *stubs_[i]; }
  // Replica i was killed by KillReplica.
  bool dead(int i) const { return dead_[i].load(); }

  // SIGKILL replica i (and reap it).
  void KillReplica(int i);

  // GetServerInfo of replica i.
  absl::StatusOr<muster::v1::ServerInfo> Info(int i, int deadline_ms = 3000);
  // Waits until every live replica lists exactly the live replicas (by
  // id) in its replication, up to `timeout`.
  absl::Status WaitForMembership(std::chrono::milliseconds timeout);

  // Registers `request` on replica `first`, then, on UNAVAILABLE or
  // DEADLINE_EXCEEDED (or a dead replica), on the next replica round
  // robin, until `timeout` has passed. Each call has `call_ms` deadline.
  // The last status; `attempts` counts the calls made.
  grpc::Status RegisterWithFailover(int first,
                                    const muster::v1::RegisterRequest& request,
                                    muster::v1::RegisterResponse* response,
                                    std::chrono::milliseconds timeout,
                                    int call_ms = 3000,
                                    int* attempts = nullptr) const;

  // Every instance of the default realm as replica i sees it once it has
  // applied `min_revision`, following pages.
  absl::StatusOr<std::vector<muster::v1::Instance>> ListAll(
      int i, uint64_t min_revision, int deadline_ms = 10000) const;

  // Every retained event of the default realm on replica i from
  // `from_revision` (0: the oldest retained), following pages.
  absl::StatusOr<std::vector<muster::v1::Event>> EventsFrom(
      int i, uint64_t from_revision) const;

  std::string Logs() const;  // every replica's log, for failures

 private:
  HaCluster() = default;

  TempDir dir_;
  std::unique_ptr<EtcdCluster> etcd_;
  std::vector<std::unique_ptr<DaemonProcess>> replicas_;
  std::vector<std::unique_ptr<muster::v1::Registry::Stub>> stubs_;
  std::unique_ptr<std::atomic<bool>[]> dead_;
};

// Registers distinct instances ("<prefix>-<thread>-<n>") from `threads`
// threads, each starting on its own replica and moving round robin, each
// registration retried on the next replica until acknowledged. Records
// every acknowledged registration. Thread-safe.
class RegisterLoad final {
 public:
  RegisterLoad(const HaCluster& cluster, std::string prefix, int threads);
  // Stops and joins the threads.
  ~RegisterLoad();
  RegisterLoad(const RegisterLoad&) = delete;
  RegisterLoad& operator=(const RegisterLoad&) = delete;

  // Stops the threads after their registration in flight is acknowledged
  // (or has failed for good: failures() counts those).
  void Stop();
  std::vector<Acked> acked() const;
  size_t acked_count() const;
  int failures() const { return failures_.load(); }
  // Each failed registration: "id: code message", one a line.
  std::string failure_log() const;
  // Calls that failed UNAVAILABLE or DEADLINE_EXCEEDED and were retried.
  int retries() const { return retries_.load(); }
  // Waits until at least `at_least` registrations are acknowledged in
  // all; false after `timeout`.
  bool WaitForAcked(size_t at_least, std::chrono::milliseconds timeout) const;
  // The highest acknowledged revision.
  uint64_t max_revision() const;

 private:
  void Run(int thread);

  const HaCluster& cluster_;
  const std::string prefix_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0};
  std::atomic<int> retries_{0};
  mutable absl::Mutex mu_;
  std::vector<Acked> acked_ ABSL_GUARDED_BY(mu_);
  std::string failure_log_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

// A watch of the default realm (progress_notify on) that records every
// message; when its stream ends it resumes from the last revision + 1 on
// the next live replica, round robin. Thread-safe.
class ResumingWatcher final {
 public:
  // Starts watching replica `first` from `from_revision`.
  ResumingWatcher(const HaCluster& cluster, int first, uint64_t from_revision);
  ~ResumingWatcher();
  ResumingWatcher(const ResumingWatcher&) = delete;
  ResumingWatcher& operator=(const ResumingWatcher&) = delete;

  std::vector<muster::v1::Event> events() const;
  uint64_t last_revision() const;
  // Replicas it watched, in order (one entry per stream opened with
  // success).
  std::vector<int> replicas_used() const;
  // Waits until the watcher has been sent everything up to `revision`.
  bool WaitForRevision(uint64_t revision,
                       std::chrono::milliseconds timeout) const;
  // Non-empty when a stream ended with something other than a dead
  // replica (e.g. OUT_OF_RANGE): the status, for the test to report.
  std::string errors() const;
  // Every stream opened and message received, one a line: for failures.
  std::string trace() const;

 private:
  void Run(int first, uint64_t from_revision);

  const HaCluster& cluster_;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<muster::v1::Event> events_ ABSL_GUARDED_BY(mu_);
  uint64_t last_revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> used_ ABSL_GUARDED_BY(mu_);
  std::string errors_ ABSL_GUARDED_BY(mu_);
  std::string trace_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace muster::testing
