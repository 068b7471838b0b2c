// Watch over gRPC: snapshot, live events, resume, compaction, cut-off.

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/test_server.h"

namespace muster::testing {
namespace {

using muster::v1::Event;
using muster::v1::WatchResponse;

// Returns the commit revision, 0 on failure. Safe on any thread.
uint64_t TryRegister(TestServer& server, const std::string& service,
                     const std::string& id, int metadata_pairs = 0) {
  muster::v1::RegisterRequest request;
  *request.mutable_instance() = MakeInstance(service, id);
  for (int i = 0; i < metadata_pairs; ++i) {
    (*request.mutable_instance()->mutable_metadata())["k" + std::to_string(i)] =
        std::string(500, 'x');
  }
  muster::v1::RegisterResponse response;
  grpc::Status status =
      server.registry().Register(Context().get(), request, &response);
  return status.ok() ? response.revision() : 0;
}

uint64_t Register(TestServer& server, const std::string& service,
                  const std::string& id, int metadata_pairs = 0) {
  uint64_t revision = TryRegister(server, service, id, metadata_pairs);
  REQUIRE(revision != 0);
  return revision;
}

// An open Watch stream with a deadline.
class Stream {
 public:
  Stream(TestServer& server, uint64_t from_revision,
         const std::string& service = "") {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(20));
    muster::v1::WatchRequest request;
    request.set_realm("default");
    request.set_service(service);
    request.set_from_revision(from_revision);
    reader_ = server.registry().Watch(&context_, request);
  }
  ~Stream() {
    if (finished_) return;
    context_.TryCancel();
    WatchResponse ignored;
    while (reader_->Read(&ignored)) {
    }
    grpc::Status ignored_status = reader_->Finish();
    (void)ignored_status;  // the stream was cancelled on purpose
  }

  // Reads messages until `count` events arrived; returns them.
  std::vector<Event> ReadEvents(size_t count) {
    std::vector<Event> events;
    WatchResponse response;
    while (events.size() < count && reader_->Read(&response)) {
      kinds_.push_back(response.kind());
      for (const auto& event : response.events()) events.push_back(event);
    }
    return events;
  }
  bool Read(WatchResponse* response) {
    bool ok = reader_->Read(response);
    if (ok) kinds_.push_back(response->kind());
    return ok;
  }
  grpc::Status Finish() {
    finished_ = true;
    return reader_->Finish();
  }
  const std::vector<WatchResponse::Kind>& kinds() const { return kinds_; }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<WatchResponse>> reader_;
  std::vector<WatchResponse::Kind> kinds_;
  bool finished_ = false;
};

}  // namespace

TEST_CASE("watch from 0 sends a snapshot, its end, then live events",
          "[integration][watch]") {
  TestServer server;
  Register(server, "web", "a");
  Register(server, "web", "b");
  const uint64_t snapshot_revision = Register(server, "db", "c");

  Stream stream(server, 0);
  std::vector<Event> snapshot = stream.ReadEvents(3);
  REQUIRE(snapshot.size() == 3);
  for (const Event& event : snapshot) {
    CHECK(event.cause() == Event::SNAPSHOT);
    // Its time is the instance's last health change, not zero.
    CHECK(event.time().seconds() ==
          event.instance().status_changed_at().seconds());
    CHECK(event.time().seconds() > 0);
  }
  WatchResponse end;
  REQUIRE(stream.Read(&end));
  CHECK(end.kind() == WatchResponse::SNAPSHOT_END);
  CHECK(end.revision() == snapshot_revision);

  const uint64_t live_revision = Register(server, "web", "d");
  std::vector<Event> live = stream.ReadEvents(1);
  REQUIRE(live.size() == 1);
  CHECK(live[0].revision() == live_revision);
  CHECK(live[0].type() == Event::PUT);
  CHECK(live[0].cause() == Event::REGISTERED);
  CHECK(live[0].instance().id() == "d");
}

TEST_CASE("watch resumes from a revision with no gap and no duplicate",
          "[integration][watch]") {
  TestServer server;
  std::vector<uint64_t> revisions;
  for (int i = 0; i < 20; ++i)
    revisions.push_back(Register(server, "web", "i" + std::to_string(i)));
  const uint64_t from = revisions[7];
  Stream stream(server, from);
  std::vector<Event> replay = stream.ReadEvents(13);
  REQUIRE(replay.size() == 13);
  for (size_t i = 0; i < replay.size(); ++i) {
    CHECK(replay[i].revision() == revisions[7 + i]);
    CHECK(replay[i].instance().id() == "i" + std::to_string(7 + i));
  }
  // Live events follow the replay seamlessly.
  const uint64_t next = Register(server, "web", "late");
  std::vector<Event> live = stream.ReadEvents(1);
  REQUIRE(live.size() == 1);
  CHECK(live[0].revision() == next);
}

TEST_CASE("watch filters by service and carries deletes",
          "[integration][watch]") {
  TestServer server;
  const uint64_t start = Register(server, "web", "a");
  Register(server, "db", "x");
  muster::v1::DeregisterRequest deregister;
  deregister.set_service("web");
  deregister.set_id("a");
  muster::v1::DeregisterResponse response;
  REQUIRE(server.registry()
              .Deregister(Context().get(), deregister, &response)
              .ok());
  Stream stream(server, start, "web");
  std::vector<Event> events = stream.ReadEvents(2);
  REQUIRE(events.size() == 2);
  CHECK(events[0].type() == Event::PUT);
  CHECK(events[1].type() == Event::DELETE);
  CHECK(events[1].cause() == Event::DEREGISTERED);
  CHECK(events[1].revision() == response.revision());
  CHECK(events[1].instance().id() == "a");
}

TEST_CASE("watch from a compacted revision is OUT_OF_RANGE naming the oldest",
          "[integration][watch]") {
  TestServer::Options options;
  options.registry.changelog_retention = 10;
  TestServer server(options);
  for (int i = 0; i < 40; ++i) Register(server, "web", "i" + std::to_string(i));
  muster::v1::ServerInfo info;
  REQUIRE(server.registry().GetServerInfo(Context().get(), {}, &info).ok());
  REQUIRE(info.oldest_retained_revision() > 2);
  CHECK(info.revision() - info.oldest_retained_revision() + 1 >= 10);

  Stream stream(server, 2);
  WatchResponse response;
  CHECK_FALSE(stream.Read(&response));
  grpc::Status status = stream.Finish();
  CHECK(status.error_code() == grpc::OUT_OF_RANGE);
  CHECK_THAT(status.error_message(),
             Catch::Contains(std::to_string(info.oldest_retained_revision())));

  // The oldest retained revision itself still replays.
  Stream ok(server, info.oldest_retained_revision());
  const size_t retained = info.revision() - info.oldest_retained_revision() + 1;
  std::vector<Event> replay = ok.ReadEvents(retained);
  REQUIRE(replay.size() == retained);
  CHECK(replay.front().revision() == info.oldest_retained_revision());
  CHECK(replay.back().revision() == info.revision());
}

TEST_CASE("a slow watcher is cut off while writers and other watchers carry on",
          "[integration][watch]") {
  TestServer::Options options;
  options.registry.watch.buffer_events = 20;
  TestServer server(options);
  const uint64_t start = Register(server, "web", "first");

  // Never reads: its transport fills up, then its buffer overflows.
  grpc::ClientContext slow_context;
  slow_context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(30));
  muster::v1::WatchRequest request;
  request.set_from_revision(start + 1);
  auto slow = server.registry().Watch(&slow_context, request);

  std::vector<Event> fast_events;
  std::thread fast([&] {
    Stream stream(server, start + 1);
    fast_events = stream.ReadEvents(400);
  });
  // Big instances (about 32 KiB each) fill the slow stream's flow-control
  // window quickly.
  for (int i = 0; i < 400; ++i)
    Register(server, "web", "i" + std::to_string(i), 64);
  fast.join();
  REQUIRE(fast_events.size() == 400);
  for (size_t i = 1; i < fast_events.size(); ++i) {
    CHECK(fast_events[i].revision() == fast_events[i - 1].revision() + 1);
  }

  WatchResponse response;
  while (slow->Read(&response)) {
  }
  grpc::Status status = slow->Finish();
  CHECK(status.error_code() == grpc::RESOURCE_EXHAUSTED);
}

TEST_CASE("concurrent writers: every watcher sees every event once in order",
          "[integration][watch]") {
  TestServer server;
  const uint64_t start = Register(server, "web", "seed");
  constexpr int kWriters = 8;
  constexpr int kPerWriter = 30;
  std::vector<std::vector<Event>> seen(3);
  std::vector<std::thread> watchers;
  for (auto& out : seen) {
    watchers.emplace_back([&server, &out, start] {
      Stream stream(server, start + 1);
      out = stream.ReadEvents(kWriters * kPerWriter);
    });
  }
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&server, &failures, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        if (TryRegister(server, "web",
                        "w" + std::to_string(w) + "-" + std::to_string(i)) ==
            0) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  REQUIRE(failures == 0);
  for (auto& t : watchers) t.join();
  for (const auto& events : seen) {
    REQUIRE(events.size() == kWriters * kPerWriter);
    std::set<std::string> ids;
    for (size_t i = 0; i < events.size(); ++i) {
      ids.insert(events[i].instance().id());
      CHECK(events[i].revision() == start + 1 + i);
    }
    CHECK(ids.size() == kWriters * kPerWriter);
  }
}

}  // namespace muster::testing

namespace muster::testing {
namespace {

// Waits (at most 20 s) until the server has let go of every watch stream
// and of what they held; the caller checks that it did.
void WaitForStreamsReleased(const registry::ChangeLog& log) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((log.GetStats().open_streams > 0 || log.GetStats().held_bytes > 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

TEST_CASE(
    "a cut-off watcher that never reads is reset after the grace and "
    "its memory is let go",
    "[integration][watch]") {
  TestServer::Options options;
  options.registry.watch.buffer_bytes = 256 * 1024;
  options.registry.watch.cut_off_grace = absl::Milliseconds(200);
  TestServer server(options);
  const uint64_t start = Register(server, "web", "first");
  registry::ChangeLog& log = server.core().change_log();

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  muster::v1::WatchRequest request;
  request.set_from_revision(start + 1);
  auto never = server.registry().Watch(&context, request);
  const auto attached_by =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log.GetStats().watchers == 0 &&
         std::chrono::steady_clock::now() < attached_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(log.GetStats().watchers == 1);
  // Bounded: about 32 KiB per event, the budget is 256 KiB plus what the
  // transport's windows take before the stream stops.
  int registered = 0;
  for (; registered < 400 && log.GetStats().watchers > 0; ++registered)
    Register(server, "web", "i" + std::to_string(registered), 64);
  REQUIRE(log.GetStats().watchers == 0);  // cut off
  CHECK(registered > 8);

  // The stream held an unsent message; after the grace it is reset, and
  // the server lets go of the stream and what it held.
  WaitForStreamsReleased(log);
  CHECK(log.GetStats().open_streams == 0);
  CHECK(log.GetStats().held_bytes == 0);
  // The client learns at once (not at its deadline): its stream was
  // reset, after what reached it before the reset.
  const auto reset_seen_by =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  WatchResponse response;
  while (never->Read(&response)) {
  }
  CHECK(!never->Finish().ok());
  CHECK(std::chrono::steady_clock::now() < reset_seen_by);
}

TEST_CASE("watch connects, cancels, cut-offs and publishes interleave safely",
          "[integration][watch]") {
  TestServer::Options options;
  options.registry.watch.buffer_events = 50;
  options.registry.watch.cut_off_grace = absl::Milliseconds(50);
  TestServer server(options);
  Register(server, "web", "seed");
  registry::ChangeLog& log = server.core().change_log();

  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    for (int i = 0; !stop && i < 100000; ++i) {
      if (TryRegister(server, "web", "w" + std::to_string(i), 2) != 0) ++writes;
    }
  });
  // Each round opens streams on fresh channels: some read everything,
  // some read a little and cancel, some never read (and are cut off).
  std::atomic<int> streams{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 random(c);
      for (int round = 0; round < 40; ++round) {
        grpc::ChannelArguments args;
        args.SetInt("muster.test.channel", c * 1000 + round);
        auto channel = grpc::CreateCustomChannel(
            "127.0.0.1:" + std::to_string(server.port()),
            grpc::InsecureChannelCredentials(), args);
        auto stub = muster::v1::Registry::NewStub(channel);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(20));
        muster::v1::WatchRequest request;
        request.set_from_revision(random() % 2 == 0 ? 0 : 1);
        auto reader = stub->Watch(&context, request);
        ++streams;
        WatchResponse response;
        const int reads = static_cast<int>(random() % 4) * 3;
        for (int r = 0; r < reads && reader->Read(&response); ++r) {
        }
        context.TryCancel();
        while (reader->Read(&response)) {
        }
        grpc::Status ignored = reader->Finish();
        (void)ignored;  // cancelled or cut off: both are fine here
      }
    });
  }
  for (auto& client : clients) client.join();
  stop = true;
  writer.join();
  CHECK(streams == 240);
  CHECK(writes > 0);

  // Every stream ended on the server too, and nothing is held for them.
  WaitForStreamsReleased(log);
  CHECK(log.GetStats().open_streams == 0);
  CHECK(log.GetStats().held_bytes == 0);
  // And the server still serves watches.
  Stream stream(server, 1);
  CHECK(!stream.ReadEvents(1).empty());
}

}  // namespace muster::testing
