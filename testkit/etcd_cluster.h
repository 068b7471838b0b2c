#pragma once

// Real etcd members on 127.0.0.1 for the tests of the etcd client and
// store: one static cluster of N members, each with its own ports, data
// dir and log file under one directory, tuned to elect fast yet stay
// stable on a loaded machine. Not thread-safe.

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/etcd/proto/rpc.pb.h"
#include "testkit/child_process.h"

namespace muster::testing {

// TLS on the members' client port (peers talk plain HTTP on 127.0.0.1).
// Off when cert_file is empty.
struct EtcdTls {
  // The members' certificate (for IP:127.0.0.1) and key.
  std::string cert_file;
  std::string key_file;
  // The CA of client certificates. Set: clients must present one signed
  // by it (--client-cert-auth); the harness then dials with
  // client_cert_file/client_key_file.
  std::string client_ca_file;
  // What the harness itself trusts (the CA of cert_file), and its client
  // certificate when client_ca_file is set.
  std::string server_ca_file;
  std::string client_cert_file;
  std::string client_key_file;
};

struct EtcdClusterOptions {
  EtcdTls tls;
  // Appended to every member's flags (e.g. "--auth-token-ttl=1").
  std::vector<std::string> extra_args;
  std::string binary = "/usr/bin/etcd";
};

class EtcdCluster final {
 public:
  // Starts `members` etcd processes (options.binary) with data dirs and logs
  // under `dir` (member-<i>/ and member-<i>.log), and waits until every
  // member answers and they agree on a leader. A member that exits
  // during start-up (another process took a port) makes the whole
  // cluster start again on other ports.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(
      int members, std::string dir, EtcdClusterOptions options = {});
  // Kills (SIGKILL) every member.
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  // The members' client addresses, "127.0.0.1:port", by index.
  std::vector<std::string> endpoints() const;
  std::string endpoint(int i) const;
  // The process id of member `i`; -1 when it is not running.
  pid_t pid(int i) const;

  void Kill(int i);      // SIGKILL and reap
  void Stop(int i);      // SIGSTOP, returning once every thread stopped
  void Continue(int i);  // SIGCONT
  // Kills member `i` if it runs, starts it again on the same ports and
  // data dir, and waits until it answers with a leader.
  absl::Status Restart(int i, absl::Duration timeout = absl::Seconds(20));

  // The member that is leader now by Maintenance/Status (asked of every
  // running member, 1 s each): the one that says it leads, in the
  // highest term. NOT_FOUND when none does.
  absl::StatusOr<int> LeaderIndex() const;
  // Polls LeaderIndex until a leader answers; its index.
  absl::StatusOr<int> WaitForLeader(absl::Duration timeout);

  // The log of member `i`.
  std::string log(int i) const;

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string data_dir;
    std::string log_path;
    std::unique_ptr<Child> child;  // null when killed
  };

  EtcdCluster(std::string dir, EtcdClusterOptions options, int members);
  // Picks fresh ports, empties the data dirs and spawns every member.
  absl::Status SpawnAll();
  absl::Status Spawn(int i);
  // Waits until members `indexes` answer Status with a leader; fails
  // early when one of them exited.
  absl::Status WaitReady(const std::vector<int>& indexes,
                         absl::Duration timeout);
  // Maintenance/Status of member `i`, on a fresh channel.
  absl::StatusOr<etcdserverpb::StatusResponse> MemberStatus(int i) const;

  const std::string dir_;
  const EtcdClusterOptions options_;
  const EtcdTls& tls_ = options_.tls;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;  // of the harness
  const std::string token_;  // --initial-cluster-token
  std::vector<Member> members_;
};

}  // namespace muster::testing
