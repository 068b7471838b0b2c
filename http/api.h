#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "codec/read_responses.h"
#include "common/clock.h"
#include "registry/registry.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace muster::http {

// One file of the dashboard, as its library embeds it.
struct UiFile {
  std::string_view content_type;
  std::string_view body;
};

// Api serves musterd's HTTP/JSON API under /v1 (README "HTTP API") on
// an httplib server it is installed on: the reads of the gRPC API as
// protobuf's JSON mapping of the muster.v1 messages, an instance with its
// explanation, drain and enable, and the watch as server-sent events;
// plus the dashboard's files under /ui/ when a UI is given.
// Thread-safety: Attach() and Shutdown() may be called from any thread
// while requests run; Install() once, before the server serves.
class Api final {
 public:
  struct Options {
    // musterd --auth: every /v1 request needs "Authorization: Bearer
    // <secret>" of a token whose scope and role cover it, decided as the
    // gRPC API decides (registry/token.h).
    bool auth = false;
    // ServerInfo's facts (/v1/info).
    registry::ServerFacts facts;
    // Event streams open at once; beyond: 503.
    size_t max_streams = 256;
    // An idle stream sends a progress message this often.
    absl::Duration progress_interval = absl::Seconds(10);
    // The dashboard's file at `path` (relative to /ui/, "" for the page),
    // or nullopt; empty: no /ui/. Served without a token (the page asks
    // for one).
    std::function<std::optional<UiFile>(std::string_view path)> ui;
  };

  Api(Options options, Clock& clock);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // The registry the requests read; until then /v1 answers 503. It must
  // outlive the requests (call Shutdown() before it stops and goes).
  void Attach(registry::Registry* registry);

  // Adds the routes to `server` (after its own: the /v1 catch-all
  // answers 404 and 405 for every other /v1 path).
  void Install(httplib::Server& server);

  // Worker threads the server needs for the streams on top of its own.
  size_t stream_workers() const { return options_.max_streams; }

  // Ends the open streams and refuses new requests with 503. Idempotent.
  void Shutdown();

  // Streams open now (for tests and metrics).
  size_t open_streams() const { return streams_.load(); }

 private:
  class Handlers;

  const Options options_;
  Clock& clock_;
  std::atomic<registry::Registry*> registry_{nullptr};
  std::atomic<bool> shut_down_{false};
  std::atomic<size_t> streams_{0};
  std::unique_ptr<Handlers> handlers_;
};

}  // namespace muster::http
