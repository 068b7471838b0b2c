// watch: stream a realm's changes, surviving dropped streams and daemon
// restarts.

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/errors.h"

namespace muster::cli {
namespace {

constexpr absl::Duration kInitialBackoff = absl::Milliseconds(200);
constexpr absl::Duration kMaxBackoff = absl::Seconds(2);

// Codes with which a stream ends when the connection or the daemon goes
// away (or the daemon cut off a slow watcher); anything else is the
// daemon refusing the watch itself, and is final.
bool IsTransient(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:  // the daemon closed the stream (shutdown)
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:  // e.g. "Stream removed" on a reset
      return true;
    default:
      return false;
  }
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

absl::Status RunWatch(Context& ctx, const WatchArgs& args) {
  absl::StatusOr<v1::WatchRequest> request = BuildWatchRequest(ctx.realm, args);
  if (!request.ok()) return request.status();
  absl::StatusOr<std::optional<uint64_t>> max_events =
      ParseOptionalUnsigned("--max-events", args.max_events);
  if (!max_events.ok()) return max_events.status();
  if (max_events->has_value() && **max_events == 0) {
    return UsageError("--max-events: want at least 1");
  }
  // The stream itself has no deadline (it runs until interrupted), so
  // reachability is checked first with a Ping under --timeout: a refused
  // connection fails at once, a silent address after the timeout.
  absl::StatusOr<v1::PingResponse> ping =
      ctx.client.Call(ctx.client.registry(), &v1::Registry::StubInterface::Ping,
                      v1::PingRequest());
  if (!ping.ok()) return ping.status();

  const bool json = ctx.output.format == Format::kJson;
  if (!json) ctx.out << EventLineHeader() << std::endl;
  uint64_t next_from = request->from_revision();
  uint64_t printed = 0;
  absl::Duration backoff = kInitialBackoff;
  for (;;) {
    grpc::ClientContext context;
    request->set_from_revision(next_from);
    std::unique_ptr<grpc::ClientReaderInterface<v1::WatchResponse>> reader =
        ctx.client.registry().Watch(&context, *request);
    v1::WatchResponse response;
    while (reader->Read(&response)) {
      backoff = kInitialBackoff;
      for (const v1::Event& event : response.events()) {
        if (json) {
          absl::StatusOr<std::string> line =
              ToJson(event, JsonLayout::kOneLine);
          if (!line.ok()) return line.status();
          ctx.out << *line << std::endl;
        } else {
          ctx.out << FormatEventLine(event, ctx.output.colour) << std::endl;
        }
        ++printed;
        if (max_events->has_value() && printed >= **max_events) {
          context.TryCancel();
          // CANCELLED, by us: nothing to report.
          (void)reader->Finish();
          return absl::OkStatus();
        }
      }
      if (response.kind() == v1::WatchResponse::SNAPSHOT_END) {
        next_from = response.revision() + 1;
        ctx.err << "musterctl: watch: snapshot complete at revision "
                << response.revision() << "; waiting for changes" << std::endl;
      } else if (response.kind() == v1::WatchResponse::EVENTS &&
                 !response.events().empty()) {
        // Resume after the last event printed. A snapshot cut off half-way
        // leaves next_from at 0, which restarts the snapshot.
        next_from = response.events(response.events_size() - 1).revision() + 1;
      }
    }
    grpc::Status finish = reader->Finish();
    if (finish.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      if (next_from == 0) return ctx.client.ToStatus(finish);
      ctx.err << "musterctl: watch: revision " << next_from
              << " is no longer retained (" << finish.error_message()
              << "); events in between are lost, re-listing from a fresh "
                 "snapshot"
              << std::endl;
      next_from = 0;
      continue;
    }
    if (!IsTransient(finish.error_code())) return ctx.client.ToStatus(finish);
    ctx.err << "musterctl: watch: stream ended ("
            << CodeName(finish.error_code());
    if (!finish.error_message().empty())
      ctx.err << ": " << finish.error_message();
    ctx.err << "); reconnecting in " << FormatCompactDuration(backoff);
    if (next_from == 0) {
      ctx.err << " for a fresh snapshot";
    } else {
      ctx.err << " from revision " << next_from;
    }
    ctx.err << std::endl;
    ctx.sleep(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace muster::cli
