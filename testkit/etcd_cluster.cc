#include "testkit/etcd_cluster.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "store/etcd/proto/rpc.grpc.pb.h"
#include "testkit/daemon_process.h"

namespace muster::testing {
namespace {

// Whole-cluster start attempts on fresh ports (another process may take
// a port between FreePort and etcd's bind).
constexpr int kStartAttempts = 3;
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kStatusDeadline = absl::Seconds(1);
constexpr absl::Duration kReapDeadline = absl::Minutes(1);

constexpr absl::Duration kStopDeadline = absl::Seconds(5);

std::atomic<int> cluster_counter{0};

// True when every thread of `pid` is stopped (state T in
// /proc/<pid>/task/<tid>/stat).
bool AllThreadsStopped(pid_t pid) {
  std::error_code error;
  const std::filesystem::path tasks = absl::StrCat("/proc/", pid, "/task");
  for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
    const std::string stat = ReadFile((task.path() / "stat").string());
    // "tid (comm) S ...": the state follows the last ')'.
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size() ||
        stat[paren + 2] != 'T') {
      return false;
    }
  }
  return !error;
}

// The last lines of a log, for an error message (the test's directory
// may be gone when someone reads it).
std::string LogTail(const std::string& path) {
  constexpr size_t kTail = 2000;
  const std::string log = ReadFile(path);
  return log.size() <= kTail ? log : log.substr(log.size() - kTail);
}

}  // namespace

// A fresh channel each time: a channel that failed to connect waits out
// a reconnect backoff.
absl::StatusOr<etcdserverpb::StatusResponse> EtcdCluster::MemberStatus(
    int i) const {
  const std::string address = endpoint(i);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = etcdserverpb::Maintenance::NewStub(
      grpc::CreateCustomChannel(address, credentials_, args));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(kStatusDeadline));
  etcdserverpb::StatusResponse response;
  grpc::Status status =
      stub->Status(&context, etcdserverpb::StatusRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("etcd Status on ", address, ": ", status.error_message()));
  }
  return response;
}

EtcdCluster::EtcdCluster(std::string dir, EtcdClusterOptions options,
                         int members)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      token_(absl::StrCat("muster-test-", getpid(), "-", cluster_counter++)),
      members_(members) {
  for (int i = 0; i < members; ++i) {
    members_[i].name = absl::StrCat("member-", i);
    members_[i].data_dir = absl::StrCat(dir_, "/member-", i);
    members_[i].log_path = absl::StrCat(dir_, "/member-", i, ".log");
  }
  if (tls_.cert_file.empty()) {
    credentials_ = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(tls_.server_ca_file);
    if (!tls_.client_ca_file.empty()) {
      ssl.pem_cert_chain = ReadFile(tls_.client_cert_file);
      ssl.pem_private_key = ReadFile(tls_.client_key_file);
    }
    credentials_ = grpc::SslCredentials(ssl);
  }
}

EtcdCluster::~EtcdCluster() {
  for (int i = 0; i < size(); ++i) Kill(i);
}

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(
    int members, std::string dir, EtcdClusterOptions options) {
  if (members < 1) {
    return absl::InvalidArgumentError("EtcdCluster: members must be >= 1");
  }
  std::unique_ptr<EtcdCluster> cluster(
      new EtcdCluster(std::move(dir), std::move(options), members));
  std::vector<int> all;
  for (int i = 0; i < members; ++i) all.push_back(i);
  absl::Status status;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    status = cluster->SpawnAll();
    if (status.ok()) status = cluster->WaitReady(all, kStartTimeout);
    if (status.ok()) {
      // Every member answered with a leader; they must name the same.
      absl::StatusOr<int> leader = cluster->WaitForLeader(kStartTimeout);
      if (leader.ok()) return cluster;
      status = leader.status();
    }
    for (int i = 0; i < members; ++i) cluster->Kill(i);
  }
  return status;
}

absl::Status EtcdCluster::SpawnAll() {
  std::vector<int> ports;
  while (ports.size() < 2 * members_.size()) {
    int port = FreePort();
    if (port == 0) return absl::UnavailableError("EtcdCluster: no free port");
    bool taken = false;
    for (int p : ports) taken = taken || p == port;
    if (!taken) ports.push_back(port);
  }
  for (int i = 0; i < size(); ++i) {
    members_[i].client_port = ports[2 * i];
    members_[i].peer_port = ports[2 * i + 1];
    std::error_code ignored;
    std::filesystem::remove_all(members_[i].data_dir, ignored);
  }
  for (int i = 0; i < size(); ++i) {
    if (absl::Status status = Spawn(i); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::Spawn(int i) {
  std::vector<std::string> peers;
  for (const Member& m : members_) {
    peers.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
  }
  Member& m = members_[i];
  const std::string client_url =
      absl::StrCat(tls_.cert_file.empty() ? "http" : "https",
                   "://127.0.0.1:", m.client_port);
  const std::string peer_url = absl::StrCat("http://127.0.0.1:", m.peer_port);
  SpawnOptions options;
  options.argv = {
      options_.binary, "--name=" + m.name, "--data-dir=" + m.data_dir,
      "--listen-client-urls=" + client_url,
      "--advertise-client-urls=" + client_url, "--listen-peer-urls=" + peer_url,
      "--initial-advertise-peer-urls=" + peer_url,
      "--initial-cluster=" + absl::StrJoin(peers, ","),
      "--initial-cluster-state=new", "--initial-cluster-token=" + token_,
      // Elections in about a second that a loaded 2-core machine
      // does not set off by itself; compaction only when a test asks.
      "--heartbeat-interval=100", "--election-timeout=1000",
      "--max-txn-ops=1024", "--auto-compaction-retention=0",
      "--quota-backend-bytes=268435456", "--snapshot-count=10000",
      "--logger=zap", "--log-outputs=stderr"};
  if (!tls_.cert_file.empty()) {
    options.argv.push_back("--cert-file=" + tls_.cert_file);
    options.argv.push_back("--key-file=" + tls_.key_file);
  }
  if (!tls_.client_ca_file.empty()) {
    options.argv.push_back("--client-cert-auth");
    options.argv.push_back("--trusted-ca-file=" + tls_.client_ca_file);
  }
  options.argv.insert(options.argv.end(), options_.extra_args.begin(),
                      options_.extra_args.end());
  options.out = Sink::File(m.log_path);
  options.err = Sink::File(m.log_path);
  absl::StatusOr<std::unique_ptr<Child>> child = Child::Spawn(options);
  if (!child.ok()) return child.status();
  m.child = *std::move(child);
  return absl::OkStatus();
}

absl::Status EtcdCluster::WaitReady(const std::vector<int>& indexes,
                                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last_error = "not asked yet";
  while (absl::Now() < deadline) {
    bool all_ready = true;
    for (int i : indexes) {
      Member& m = members_[i];
      if (m.child == nullptr || m.child->Exited()) {
        m.child.reset();
        return absl::UnavailableError(absl::StrCat(
            "etcd ", m.name, " exited during start-up; the end of ", m.log_path,
            ":\n", LogTail(m.log_path)));
      }
      absl::StatusOr<etcdserverpb::StatusResponse> status = MemberStatus(i);
      if (!status.ok()) {
        last_error = std::string(status.status().message());
        all_ready = false;
        break;
      }
      if (status->leader() == 0) {
        last_error = absl::StrCat(m.name, " has no leader yet");
        all_ready = false;
        break;
      }
    }
    if (all_ready) return absl::OkStatus();
    // A member gives no event to wait on before it listens.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "etcd members not ready in ", absl::FormatDuration(timeout), ": ",
      last_error, "; the end of ", members_[indexes[0]].log_path, ":\n",
      LogTail(members_[indexes[0]].log_path)));
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> result;
  for (int i = 0; i < size(); ++i) result.push_back(endpoint(i));
  return result;
}

std::string EtcdCluster::endpoint(int i) const {
  return absl::StrCat("127.0.0.1:", members_[i].client_port);
}

pid_t EtcdCluster::pid(int i) const {
  return members_[i].child == nullptr ? -1 : members_[i].child->pid();
}

void EtcdCluster::Kill(int i) {
  Member& m = members_[i];
  if (m.child == nullptr) return;
  m.child->Signal(SIGKILL);
  m.child->Wait(kReapDeadline);
  m.child.reset();
}

void EtcdCluster::Stop(int i) {
  if (members_[i].child == nullptr) return;
  const pid_t pid = members_[i].child->pid();
  members_[i].child->Signal(SIGSTOP);
  // kill() returns before every thread has stopped; a thread still
  // running could answer one more call.
  const absl::Time deadline = absl::Now() + kStopDeadline;
  while (!AllThreadsStopped(pid) && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void EtcdCluster::Continue(int i) {
  if (members_[i].child != nullptr) members_[i].child->Signal(SIGCONT);
}

absl::Status EtcdCluster::Restart(int i, absl::Duration timeout) {
  Kill(i);
  if (absl::Status status = Spawn(i); !status.ok()) return status;
  return WaitReady({i}, timeout);
}

absl::StatusOr<int> EtcdCluster::LeaderIndex() const {
  int leader = -1;
  uint64_t leader_term = 0;
  for (int i = 0; i < size(); ++i) {
    if (members_[i].child == nullptr) continue;
    absl::StatusOr<etcdserverpb::StatusResponse> status = MemberStatus(i);
    if (!status.ok()) continue;
    if (status->leader() != 0 &&
        status->leader() == status->header().member_id() &&
        status->raftterm() >= leader_term) {
      leader = i;
      leader_term = status->raftterm();
    }
  }
  if (leader < 0) return absl::NotFoundError("no etcd member leads");
  return leader;
}

absl::StatusOr<int> EtcdCluster::WaitForLeader(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<int> leader = LeaderIndex();
  while (!leader.ok() && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    leader = LeaderIndex();
  }
  return leader;
}

std::string EtcdCluster::log(int i) const {
  return ReadFile(members_[i].log_path);
}

}  // namespace muster::testing
