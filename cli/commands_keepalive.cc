// heartbeat --keep-alive: heartbeat an instance until interrupted, like
// `etcdctl lease keep-alive`.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/errors.h"

namespace muster::cli {
namespace {

constexpr absl::Duration kDefaultInterval = absl::Seconds(10);
constexpr absl::Duration kMinInterval = absl::Milliseconds(100);
constexpr absl::Duration kInitialBackoff = absl::Milliseconds(200);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

// A third of the TTL leaves room for two lost heartbeats.
absl::Duration DefaultInterval(const v1::Instance& instance) {
  const v1::CheckSpec& check = instance.check();
  if (check.kind() == v1::CHECK_KIND_TTL) {
    absl::Duration ttl = FromProtoDuration(check.ttl());
    if (ttl > absl::ZeroDuration()) return ttl / 3;
  }
  return kDefaultInterval;
}

// The daemon could not be asked: retried. Anything else is its answer.
bool IsTransient(const absl::Status& status) {
  return ClassOf(status) == ErrorClass::kUnreachable ||
         status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

absl::Status RunKeepAlive(Context& ctx, const HeartbeatArgs& args) {
  const InstanceRef& ref = args.target.ref;
  const std::string name = absl::StrCat(ref.service, "/", ref.id);
  absl::StatusOr<std::optional<uint64_t>> given =
      ParseOptionalUnsigned("--incarnation", args.target.incarnation);
  if (!given.ok()) return given.status();
  std::optional<absl::Duration> interval;
  if (args.interval.has_value()) {
    absl::StatusOr<absl::Duration> d =
        ParseDuration("--interval", *args.interval);
    if (!d.ok()) return d.status();
    if (*d < kMinInterval) {
      return UsageError("--interval: want at least 100ms");
    }
    interval = *d;
  }

  uint64_t incarnation = given->value_or(0);
  if (!given->has_value() || !interval.has_value()) {
    v1::GetInstanceRequest get;
    get.set_realm(ctx.realm);
    get.set_service(ref.service);
    get.set_id(ref.id);
    absl::StatusOr<v1::Instance> instance = ctx.client.Call(
        ctx.client.registry(), &v1::Registry::StubInterface::GetInstance, get);
    if (!instance.ok()) return instance.status();
    if (!given->has_value()) incarnation = instance->create_revision();
    if (!interval.has_value()) interval = DefaultInterval(*instance);
  }
  ctx.err << "musterctl: heartbeat: keeping " << name << " (incarnation "
          << incarnation << ") alive, one heartbeat every "
          << FormatCompactDuration(*interval) << "; interrupt to stop"
          << std::endl;

  v1::HeartbeatRequest request;
  request.set_realm(ctx.realm);
  request.set_service(ref.service);
  request.set_id(ref.id);
  request.set_incarnation(incarnation);
  absl::Duration backoff = kInitialBackoff;
  const absl::Duration max_backoff = std::min(*interval, kMaxBackoff);
  while (!ctx.interrupted()) {
    absl::StatusOr<v1::HeartbeatResponse> response =
        ctx.client.Call(ctx.client.registry(),
                        &v1::Registry::StubInterface::Heartbeat, request);
    if (response.ok()) {
      backoff = kInitialBackoff;
      if (ctx.output.format == Format::kJson) {
        absl::StatusOr<std::string> line =
            ToJson(*response, JsonLayout::kOneLine);
        if (!line.ok()) return line.status();
        ctx.out << *line << std::endl;
      } else {
        ctx.out << FormatRfc3339(ctx.now()) << "  " << name << " incarnation "
                << incarnation << ": health "
                << PaintHealth(HealthName(response->health()),
                               response->health(), ctx.output.colour)
                << ", admin state "
                << PaintAdminState(AdminStateName(response->admin_state()),
                                   response->admin_state(), ctx.output.colour)
                << std::endl;
      }
      ctx.sleep(*interval);
      continue;
    }
    const absl::Status& status = response.status();
    if (status.code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(
          name,
          " is gone (deregistered or evicted); stopped keeping it alive (",
          status.message(), ")"));
    }
    if (status.code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, " was registered again: incarnation ", incarnation,
                       " is no longer current; stopped keeping it alive (",
                       status.message(), ")"));
    }
    if (!IsTransient(status)) return status;
    ctx.err << "musterctl: heartbeat: " << status.message() << "; retrying in "
            << FormatCompactDuration(backoff) << std::endl;
    ctx.sleep(backoff);
    backoff = std::min(backoff * 2, max_backoff);
  }
  ctx.err << "musterctl: heartbeat: interrupted; stopped" << std::endl;
  return absl::OkStatus();
}

}  // namespace muster::cli
