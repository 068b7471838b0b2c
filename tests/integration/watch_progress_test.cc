// Watch progress notifications over gRPC: PROGRESS while idle, only when
// asked, never ahead of an event, and the resume rule end to end.

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

using muster::v1::Event;
using muster::v1::WatchResponse;

constexpr char kQuiet[] = "quiet";

void CreateRealm(TestServer& server, const std::string& name) {
  muster::v1::CreateRealmRequest request;
  request.set_name(name);
  muster::v1::Realm realm;
  const grpc::Status status =
      server.realms().CreateRealm(Context().get(), request, &realm);
  INFO(status.error_message());
  REQUIRE(status.ok());
}

// Returns the commit revision, 0 on failure. Safe on any thread.
uint64_t TryRegister(TestServer& server, const std::string& realm,
                     const std::string& service, const std::string& id) {
  muster::v1::RegisterRequest request;
  request.set_realm(realm);
  *request.mutable_instance() = MakeInstance(service, id);
  muster::v1::RegisterResponse response;
  const grpc::Status status =
      server.registry().Register(Context().get(), request, &response);
  return status.ok() ? response.revision() : 0;
}

uint64_t Register(TestServer& server, const std::string& realm,
                  const std::string& service, const std::string& id) {
  const uint64_t revision = TryRegister(server, realm, service, id);
  REQUIRE(revision != 0);
  return revision;
}

// An open Watch stream of one realm; every Read has the stream's 20 s
// deadline, so a message that never comes fails the test instead of
// hanging it.
class Stream {
 public:
  Stream(TestServer& server, const std::string& realm, uint64_t from_revision,
         bool progress_notify) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(20));
    muster::v1::WatchRequest request;
    request.set_realm(realm);
    request.set_from_revision(from_revision);
    request.set_progress_notify(progress_notify);
    reader_ = server.registry().Watch(&context_, request);
  }
  ~Stream() {
    context_.TryCancel();
    WatchResponse ignored;
    while (reader_->Read(&ignored)) {
    }
    grpc::Status ignored_status = reader_->Finish();
    (void)ignored_status;  // the stream was cancelled on purpose
  }

  // The next message; fails the test when the stream ends first.
  WatchResponse Next() {
    WatchResponse response;
    REQUIRE(reader_->Read(&response));
    return response;
  }
  // The next PROGRESS message; fails the test on anything else first.
  WatchResponse NextProgress() {
    WatchResponse response = Next();
    REQUIRE(response.kind() == WatchResponse::PROGRESS);
    return response;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<WatchResponse>> reader_;
};

TestServer::Options ShortInterval(absl::Duration interval) {
  TestServer::Options options;
  options.watch_progress_interval = interval;
  return options;
}

}  // namespace

TEST_CASE("a progress watch of a quiet realm follows other realms' changes",
          "[integration][watch][progress]") {
  TestServer server(ShortInterval(absl::Milliseconds(200)));
  CreateRealm(server, kQuiet);
  Stream stream(server, kQuiet, 0, /*progress_notify=*/true);
  const WatchResponse end = stream.Next();
  REQUIRE(end.kind() == WatchResponse::SNAPSHOT_END);

  uint64_t last = end.revision();
  for (int i = 0; i < 3; ++i) {
    const uint64_t elsewhere =
        Register(server, "default", "web", "i" + std::to_string(i));
    // Progress messages carry no events and never go back; one soon
    // covers the change in the other realm.
    WatchResponse progress;
    do {
      progress = stream.NextProgress();
      CHECK(progress.events_size() == 0);
      CHECK(progress.revision() >= last);
      last = progress.revision();
    } while (progress.revision() < elsewhere);
    CHECK(progress.revision() == elsewhere);
  }
  // Idle with nothing new: the same revision again.
  CHECK(stream.NextProgress().revision() == last);
}

TEST_CASE("a resumed progress watch hears at once that it has caught up",
          "[integration][watch][progress]") {
  // An interval no test waits out: the PROGRESS below is the resume's.
  TestServer server(ShortInterval(absl::Hours(1)));
  CreateRealm(server, kQuiet);
  const uint64_t first = Register(server, kQuiet, "web", "a");

  // Nothing to replay: a PROGRESS at the current revision comes first.
  Stream caught_up(server, kQuiet, first + 1, /*progress_notify=*/true);
  CHECK(caught_up.NextProgress().revision() == first);

  // A replay: its events, then the PROGRESS.
  const uint64_t second = Register(server, kQuiet, "web", "b");
  Stream replaying(server, kQuiet, first, /*progress_notify=*/true);
  const WatchResponse replay = replaying.Next();
  REQUIRE(replay.kind() == WatchResponse::EVENTS);
  CHECK(replay.events(0).revision() == first);
  uint64_t last = replay.events(replay.events_size() - 1).revision();
  WatchResponse next = replaying.Next();
  while (next.kind() == WatchResponse::EVENTS) {
    last = next.events(next.events_size() - 1).revision();
    next = replaying.Next();
  }
  CHECK(last == second);
  CHECK(next.kind() == WatchResponse::PROGRESS);
  CHECK(next.revision() >= second);
}

TEST_CASE("a watch that does not ask for progress gets none",
          "[integration][watch][progress]") {
  TestServer server(ShortInterval(absl::Milliseconds(200)));
  CreateRealm(server, kQuiet);
  Stream asking(server, kQuiet, 0, /*progress_notify=*/true);
  Stream silent(server, kQuiet, 0, /*progress_notify=*/false);
  REQUIRE(asking.Next().kind() == WatchResponse::SNAPSHOT_END);
  REQUIRE(silent.Next().kind() == WatchResponse::SNAPSHOT_END);

  // Several intervals pass while other realms change.
  for (int i = 0; i < 3; ++i) {
    const uint64_t elsewhere =
        Register(server, "default", "web", "i" + std::to_string(i));
    while (asking.NextProgress().revision() < elsewhere) {
    }
  }
  // The silent watch's first message after its snapshot is this event.
  const uint64_t here = Register(server, kQuiet, "web", "a");
  const WatchResponse first = silent.Next();
  CHECK(first.kind() == WatchResponse::EVENTS);
  REQUIRE(first.events_size() == 1);
  CHECK(first.events(0).revision() == here);
}

TEST_CASE("events never arrive behind a progress that covers them",
          "[integration][watch][progress]") {
  TestServer server(ShortInterval(absl::Milliseconds(20)));
  CreateRealm(server, kQuiet);
  Stream stream(server, kQuiet, 0, /*progress_notify=*/true);
  REQUIRE(stream.Next().kind() == WatchResponse::SNAPSHOT_END);

  // Rounds of: a burst from three writers over both realms (mostly the
  // other one); then one writer on the other realm, with writes to the
  // watched realm ever further apart, until a PROGRESS has come. So
  // progress messages are computed while events of the watched realm
  // commit, and every round sees at least one. The stream is read
  // meanwhile; a last write to the watched realm marks the end.
  constexpr int kRounds = 6;
  constexpr int kWriters = 3;
  constexpr int kBurst = 24;
  std::atomic<int> failures{0};
  std::atomic<int> written_here{0};
  std::atomic<int> progress_seen{0};
  std::atomic<uint64_t> marker{0};
  auto write = [&](bool here, const std::string& id) {
    if (TryRegister(server, here ? kQuiet : "default", "web", id) == 0) {
      ++failures;
    } else if (here) {
      ++written_here;
    }
  };
  std::thread writing([&] {
    for (int round = 0; round < kRounds && failures == 0; ++round) {
      const std::string prefix = "r" + std::to_string(round);
      std::vector<std::thread> writers;
      for (int w = 0; w < kWriters; ++w) {
        writers.emplace_back([&, w] {
          for (int i = 0; i < kBurst; ++i) {
            write(i % 8 == w,
                  prefix + "w" + std::to_string(w) + "-" + std::to_string(i));
          }
        });
      }
      for (auto& t : writers) t.join();
      const int seen = progress_seen.load();
      const auto give_up =
          std::chrono::steady_clock::now() + std::chrono::seconds(10);
      for (int i = 1; progress_seen.load() == seen; ++i) {
        if (std::chrono::steady_clock::now() > give_up) {
          ++failures;  // no PROGRESS in 10 s
          break;
        }
        // The watched realm at i = 1, 2, 4, 8...: ever longer quiet spells.
        write((i & (i - 1)) == 0, prefix + "q" + std::to_string(i));
      }
    }
    const uint64_t last = TryRegister(server, kQuiet, "web", "marker");
    if (last == 0) ++failures;
    marker = last == 0 ? 1 : last;  // on failure, stop reading soon
  });
  // Joined however the reading below ends.
  struct Joiner {
    std::thread& thread;
    ~Joiner() {
      if (thread.joinable()) thread.join();
    }
  } joiner{writing};

  uint64_t progressed = 0;  // highest PROGRESS revision so far
  uint64_t sent = 0;        // highest event revision so far
  size_t events = 0;
  int progress_messages = 0;
  while (marker.load() == 0 || sent < marker.load()) {
    const WatchResponse response = stream.Next();
    if (response.kind() == WatchResponse::PROGRESS) {
      ++progress_messages;
      ++progress_seen;
      CHECK(response.events_size() == 0);
      CHECK(response.revision() >= sent);
      CHECK(response.revision() >= progressed);
      progressed = response.revision();
      continue;
    }
    REQUIRE(response.kind() == WatchResponse::EVENTS);
    for (const Event& event : response.events()) {
      INFO("event " << event.revision() << " after progress " << progressed);
      CHECK(event.revision() > progressed);
      CHECK(event.revision() > sent);
      sent = event.revision();
      ++events;
    }
  }
  writing.join();
  REQUIRE(failures == 0);
  const size_t expected = static_cast<size_t>(written_here.load()) + 1;
  CHECK(events == expected);
  CHECK(progress_messages >= kRounds);
}

TEST_CASE(
    "after a PROGRESS at R a watch from R+1 gets exactly the later changes",
    "[integration][watch][progress]") {
  TestServer server(ShortInterval(absl::Milliseconds(200)));
  CreateRealm(server, kQuiet);
  const uint64_t before = Register(server, kQuiet, "web", "before");

  uint64_t resume_at = 0;
  {
    Stream stream(server, kQuiet, before, /*progress_notify=*/true);
    const WatchResponse replay = stream.Next();
    REQUIRE(replay.kind() == WatchResponse::EVENTS);
    REQUIRE(replay.events_size() == 1);
    CHECK(replay.events(0).revision() == before);
    const uint64_t elsewhere = Register(server, "default", "web", "x");
    WatchResponse progress;
    do {
      progress = stream.NextProgress();
    } while (progress.revision() < elsewhere);
    resume_at = progress.revision() + 1;
  }

  // Changes while nobody watches, here and elsewhere.
  const uint64_t first = Register(server, kQuiet, "web", "after-1");
  Register(server, "default", "web", "y");
  const uint64_t second = Register(server, kQuiet, "web", "after-2");

  Stream resumed(server, kQuiet, resume_at, /*progress_notify=*/false);
  std::vector<uint64_t> seen;
  uint64_t third = 0;
  while (seen.size() < 3) {
    const WatchResponse response = resumed.Next();
    REQUIRE(response.kind() == WatchResponse::EVENTS);
    for (const Event& event : response.events()) {
      seen.push_back(event.revision());
    }
    // The replay is over; a live change follows it.
    if (seen.size() == 2 && third == 0) {
      third = Register(server, kQuiet, "web", "after-3");
    }
  }
  CHECK(seen == std::vector<uint64_t>{first, second, third});
}

TEST_CASE("the server refuses a progress interval that is not positive",
          "[integration][watch][progress]") {
  TestServer server;
  for (absl::Duration interval : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    registry::Server::Options options;
    options.listen = "127.0.0.1:0";
    options.watch_progress_interval = interval;
    absl::StatusOr<std::unique_ptr<registry::Server>> started =
        registry::Server::Start(options, server.core(), server.metrics());
    CHECK(started.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace muster::testing
