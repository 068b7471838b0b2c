#include "tests/e2e/ha/ha_cluster.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace muster::testing {
namespace {

bool Retriable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// Pause between two rounds over the replicas that all failed at once.
constexpr auto kRoundPause = std::chrono::milliseconds(50);

}  // namespace

std::unique_ptr<grpc::ClientContext> ContextMs(int ms) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(ms));
  return context;
}

muster::v1::RegisterRequest PlainInstance(const std::string& service,
                                          const std::string& id) {
  muster::v1::RegisterRequest request;
  muster::v1::Instance* instance = request.mutable_instance();
  instance->set_service(service);
  instance->set_id(id);
  instance->set_address("127.0.0.1");
  instance->set_port(8080);
  return request;
}

absl::StatusOr<std::unique_ptr<HaCluster>> HaCluster::Start(int replicas) {
  std::unique_ptr<HaCluster> cluster(new HaCluster());
  const std::string etcd_dir = cluster->dir_.File("etcd");
  if (mkdir(etcd_dir.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat("mkdir ", etcd_dir));
  }
  absl::StatusOr<std::unique_ptr<EtcdCluster>> etcd =
      EtcdCluster::Start(3, etcd_dir);
  if (!etcd.ok()) return etcd.status();
  cluster->etcd_ = *std::move(etcd);
  const std::string endpoints = absl::StrJoin(cluster->etcd_->endpoints(), ",");
  cluster->dead_ = std::make_unique<std::atomic<bool>[]>(replicas);
  for (int i = 0; i < replicas; ++i) {
    // --advertise-addr is left to its default, --listen (127.0.0.1:port,
    // picked by DaemonProcess), which is where the others reach it.
    auto process = std::make_unique<DaemonProcess>(
        MUSTERD_PATH, cluster->dir_.File("r" + std::to_string(i)),
        cluster->dir_.File("r" + std::to_string(i) + ".log"),
        std::vector<std::string>{"--store", "etcd", "--etcd-endpoints",
                                 endpoints, "--replica-id",
                                 cluster->replica_id(i), "--replica-lease-ttl",
                                 std::to_string(kLeaseTtlSeconds) + "s"});
    if (!process->Start(30)) {
      return absl::InternalError(
          absl::StrCat("replica r", i, " did not start: ", process->log()));
    }
    cluster->stubs_.push_back(
        muster::v1::Registry::NewStub(process->channel()));
    cluster->replicas_.push_back(std::move(process));
    cluster->dead_[i] = false;
  }
  if (absl::Status s =
          cluster->WaitForMembership(std::chrono::milliseconds(20000));
      !s.ok()) {
    return s;
  }
  return cluster;
}

HaCluster::~HaCluster() {
  for (auto& replica : replicas_) replica->Kill();
  // MUSTER_HA_LOG_DIR keeps the replicas' and etcd members' logs (the
  // temporary directory goes): <dir>/<pid>-<n>-r<i>.log, -etcd<i>.log.
  if (const char* keep = std::getenv("MUSTER_HA_LOG_DIR"); keep != nullptr) {
    static std::atomic<int> clusters{0};
    const std::string base =
        absl::StrCat(keep, "/", getpid(), "-", clusters++, "-");
    for (int i = 0; i < size(); ++i) {
      std::ofstream(base + "r" + std::to_string(i) + ".log")
          << replicas_[i]->log();
    }
    for (int i = 0; etcd_ != nullptr && i < etcd_->size(); ++i) {
      std::ofstream(base + "etcd" + std::to_string(i) + ".log")
          << etcd_->log(i);
    }
  }
  // ~EtcdCluster kills every member, frozen or not.
}

void HaCluster::KillReplica(int i) {
  dead_[i] = true;
  replicas_[i]->Kill();
}

absl::StatusOr<muster::v1::ServerInfo> HaCluster::Info(int i, int deadline_ms) {
  muster::v1::ServerInfo info;
  grpc::Status status = stubs_[i]->GetServerInfo(
      ContextMs(deadline_ms).get(), muster::v1::GetServerInfoRequest(), &info);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetServerInfo on r", i, ": ", status.error_message()));
  }
  return info;
}

absl::Status HaCluster::WaitForMembership(std::chrono::milliseconds timeout) {
  std::set<std::string> live;
  for (int i = 0; i < size(); ++i) {
    if (!dead(i)) live.insert(replica_id(i));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (true) {
    bool all = true;
    for (int i = 0; i < size() && all; ++i) {
      if (dead(i)) continue;
      absl::StatusOr<muster::v1::ServerInfo> info = Info(i);
      if (!info.ok()) {
        last = std::string(info.status().message());
        all = false;
        break;
      }
      std::set<std::string> seen;
      for (const auto& replica : info->replication().replicas()) {
        seen.insert(replica.id());
      }
      if (seen != live || !info->replication().member()) {
        last = absl::StrCat("r", i, " sees {", absl::StrJoin(seen, ","),
                            "} member=", info->replication().member());
        all = false;
      }
    }
    if (all) return absl::OkStatus();
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "replicas never agreed on {", absl::StrJoin(live, ","), "}: ", last));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

grpc::Status HaCluster::RegisterWithFailover(
    int first, const muster::v1::RegisterRequest& request,
    muster::v1::RegisterResponse* response, std::chrono::milliseconds timeout,
    int call_ms, int* attempts) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  grpc::Status status(grpc::StatusCode::DEADLINE_EXCEEDED, "no attempt");
  int i = first % size();
  int failed_in_round = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!dead(i)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      const int ms = static_cast<int>(
          std::max<int64_t>(1, std::min<int64_t>(call_ms, left.count())));
      if (attempts != nullptr) ++*attempts;
      status = stubs_[i]->Register(ContextMs(ms).get(), request, response);
      if (!Retriable(status)) return status;
    }
    i = (i + 1) % size();
    if (++failed_in_round == size()) {
      failed_in_round = 0;
      std::this_thread::sleep_for(kRoundPause);
    }
  }
  return status;
}

absl::StatusOr<std::vector<muster::v1::Instance>> HaCluster::ListAll(
    int i, uint64_t min_revision, int deadline_ms) const {
  std::vector<muster::v1::Instance> out;
  muster::v1::ListInstancesRequest request;
  request.set_page_size(1000);
  request.set_min_revision(min_revision);
  while (true) {
    muster::v1::ListInstancesResponse response;
    grpc::Status status = stubs_[i]->ListInstances(ContextMs(deadline_ms).get(),
                                                   request, &response);
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("ListInstances on r", i, " at min_revision ",
                       min_revision, ": ", status.error_message()));
    }
    for (auto& instance : *response.mutable_instances()) {
      out.push_back(std::move(instance));
    }
    if (response.next_page_token().empty()) return out;
    request.set_page_token(response.next_page_token());
  }
}

absl::StatusOr<std::vector<muster::v1::Event>> HaCluster::EventsFrom(
    int i, uint64_t from_revision) const {
  std::vector<muster::v1::Event> out;
  muster::v1::ListEventsRequest request;
  request.set_limit(1000);
  request.set_from_revision(from_revision);
  while (true) {
    muster::v1::ListEventsResponse response;
    grpc::Status status =
        stubs_[i]->ListEvents(ContextMs(10000).get(), request, &response);
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("ListEvents on r", i, ": ", status.error_message()));
    }
    for (auto& event : *response.mutable_events()) {
      out.push_back(std::move(event));
    }
    if (response.next_revision() == 0) return out;
    request.set_from_revision(response.next_revision());
    request.set_from_event_index(response.next_event_index());
  }
}

std::string HaCluster::Logs() const {
  std::string out;
  for (int i = 0; i < size(); ++i) {
    std::string log = replicas_[i]->log();
    if (log.size() > 6000) log = "..." + log.substr(log.size() - 6000);
    absl::StrAppend(&out, "---- r", i, " ----\n", log, "\n");
  }
  return out;
}

RegisterLoad::RegisterLoad(const HaCluster& cluster, std::string prefix,
                           int threads)
    : cluster_(cluster), prefix_(std::move(prefix)) {
  for (int t = 0; t < threads; ++t) {
    threads_.emplace_back([this, t] { Run(t); });
  }
}

RegisterLoad::~RegisterLoad() { Stop(); }

void RegisterLoad::Stop() {
  stop_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void RegisterLoad::Run(int thread) {
  int replica = thread % cluster_.size();
  for (int n = 0; !stop_; ++n) {
    const std::string id = absl::StrCat(prefix_, "-", thread, "-", n);
    muster::v1::RegisterResponse response;
    int attempts = 0;
    grpc::Status status = cluster_.RegisterWithFailover(
        replica, PlainInstance("load", id), &response, std::chrono::seconds(20),
        3000, &attempts);
    retries_ += attempts - 1;
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      acked_.push_back(Acked{id, response.instance().create_revision(),
                             response.revision()});
    } else {
      ++failures_;
      absl::MutexLock lock(&mu_);
      absl::StrAppend(&failure_log_, id, ": ", status.error_code(), " ",
                      status.error_message(), "\n");
    }
    replica = (replica + 1) % cluster_.size();
  }
}

std::vector<Acked> RegisterLoad::acked() const {
  absl::MutexLock lock(&mu_);
  return acked_;
}

std::string RegisterLoad::failure_log() const {
  absl::MutexLock lock(&mu_);
  return failure_log_;
}

size_t RegisterLoad::acked_count() const {
  absl::MutexLock lock(&mu_);
  return acked_.size();
}

bool RegisterLoad::WaitForAcked(size_t at_least,
                                std::chrono::milliseconds timeout) const {
  auto enough = [this, at_least]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return acked_.size() >= at_least;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&enough),
                              absl::FromChrono(timeout));
}

uint64_t RegisterLoad::max_revision() const {
  absl::MutexLock lock(&mu_);
  uint64_t max = 0;
  for (const Acked& acked : acked_) max = std::max(max, acked.revision);
  return max;
}

ResumingWatcher::ResumingWatcher(const HaCluster& cluster, int first,
                                 uint64_t from_revision)
    : cluster_(cluster) {
  thread_ =
      std::thread([this, first, from_revision] { Run(first, from_revision); });
}

ResumingWatcher::~ResumingWatcher() {
  stop_ = true;
  {
    absl::MutexLock lock(&mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  thread_.join();
}

void ResumingWatcher::Run(int first, uint64_t from_revision) {
  int replica = first;
  uint64_t from = from_revision;
  while (!stop_) {
    if (cluster_.dead(replica)) {
      replica = (replica + 1) % cluster_.size();
      continue;
    }
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      context_ = &context;
      if (stop_) context.TryCancel();
    }
    muster::v1::WatchRequest request;
    request.set_from_revision(from);
    request.set_progress_notify(true);
    {
      absl::MutexLock lock(&mu_);
      absl::StrAppend(&trace_, "watch r", replica, " from ", from, "\n");
    }
    auto reader = cluster_.stub(replica).Watch(&context, request);
    muster::v1::WatchResponse response;
    bool opened = false;
    while (reader->Read(&response)) {
      absl::MutexLock lock(&mu_);
      if (!opened) used_.push_back(replica);
      opened = true;
      absl::StrAppend(&trace_, "r", replica, " kind ", response.kind(),
                      " revision ", response.revision(), " events [");
      for (const auto& event : response.events()) {
        absl::StrAppend(&trace_, " ", event.revision(), ":",
                        event.instance().id());
        events_.push_back(event);
      }
      absl::StrAppend(&trace_, " ]\n");
      last_revision_ = std::max(last_revision_, response.revision());
    }
    grpc::Status status = reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      context_ = nullptr;
      absl::StrAppend(&trace_, "ended: ", status.error_code(), " ",
                      status.error_message(), "\n");
      if (!stop_ && status.error_code() != grpc::StatusCode::UNAVAILABLE) {
        absl::StrAppend(&errors_, "r", replica, ": ", status.error_code(), " ",
                        status.error_message(), "\n");
      }
      if (last_revision_ > 0) from = last_revision_ + 1;
    }
    if (stop_) break;
    replica = (replica + 1) % cluster_.size();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::vector<muster::v1::Event> ResumingWatcher::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

uint64_t ResumingWatcher::last_revision() const {
  absl::MutexLock lock(&mu_);
  return last_revision_;
}

std::vector<int> ResumingWatcher::replicas_used() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

bool ResumingWatcher::WaitForRevision(uint64_t revision,
                                      std::chrono::milliseconds timeout) const {
  auto reached = [this, revision]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return last_revision_ >= revision;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&reached),
                              absl::FromChrono(timeout));
}

std::string ResumingWatcher::trace() const {
  absl::MutexLock lock(&mu_);
  return trace_;
}

std::string ResumingWatcher::errors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}

}  // namespace muster::testing
