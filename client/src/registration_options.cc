#include "client/src/registration_options.h"

#include <google/protobuf/duration.pb.h>

#include <algorithm>
#include <string>

#include "client/src/names.h"

namespace muster::client::internal {
namespace {

using std::chrono::milliseconds;

grpc::Status Invalid(const std::string& field, const std::string& rule) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, field + ": " + rule);
}

std::string Ms(milliseconds duration) {
  return std::to_string(duration.count()) + "ms";
}

grpc::Status NotNegative(const char* field, milliseconds duration) {
  if (duration.count() < 0) {
    return Invalid(field, "must not be negative, got " + Ms(duration));
  }
  return grpc::Status::OK;
}

// Sets `out` unless `duration` is zero (unset: musterd's default).
void SetDuration(milliseconds duration, google::protobuf::Duration* out) {
  out->set_seconds(duration.count() / 1000);
  out->set_nanos(static_cast<int32_t>(duration.count() % 1000) * 1000000);
}

void SetIfPositive(milliseconds duration,
                   google::protobuf::Duration* (v1::CheckSpec::*field)(),
                   v1::CheckSpec& check) {
  if (duration.count() > 0) SetDuration(duration, (check.*field)());
}

}  // namespace

grpc::Status CheckRegistrationOptions(const RegistrationOptions& options) {
  if (!IsName(options.service)) {
    return Invalid("service",
                   "must be 1..63 characters of [a-z0-9-], not starting or "
                   "ending with '-', got \"" +
                       options.service + "\"");
  }
  if (!options.id.empty() && !IsId(options.id)) {
    return Invalid("id",
                   "must be 1..128 characters of [A-Za-z0-9._:-], got \"" +
                       options.id + "\"");
  }
  if (options.address.empty() || options.address.size() > 253) {
    return Invalid("address",
                   "is required: a hostname or IP literal of 1..253 bytes");
  }
  if (options.port < 1 || options.port > 65535) {
    return Invalid("port",
                   "must be 1..65535, got " + std::to_string(options.port));
  }
  if (options.weight > 10000) {
    return Invalid("weight", "must be 0..10000 (0: musterd's default), got " +
                                 std::to_string(options.weight));
  }
  if (!options.zone.empty() && !IsName(options.zone)) {
    return Invalid("zone",
                   "must be 1..63 characters of [a-z0-9-], not starting or "
                   "ending with '-', got \"" +
                       options.zone + "\"");
  }
  if (options.check == CheckType::kTtl && options.ttl < milliseconds(1000)) {
    return Invalid(
        "ttl", "must be at least 1s for a TTL check, got " + Ms(options.ttl));
  }
  if (options.check != CheckType::kTtl && options.ttl.count() <= 0) {
    return Invalid("ttl",
                   "must be positive (it paces the existence checks), got " +
                       Ms(options.ttl));
  }
  if (options.check == CheckType::kHttp &&
      options.http_url.rfind("http://", 0) != 0 &&
      options.http_url.rfind("https://", 0) != 0) {
    return Invalid("http_url",
                   "an HTTP check needs an http:// or https:// URL, got \"" +
                       options.http_url + "\"");
  }
  grpc::Status status = NotNegative("interval", options.interval);
  if (status.ok()) status = NotNegative("timeout", options.timeout);
  if (status.ok()) {
    status = NotNegative("deregister_after", options.deregister_after);
  }
  if (status.ok()) status = NotNegative("drain_grace", options.drain_grace);
  if (!status.ok()) return status;
  // Written so that NaN fails too.
  if (!(options.heartbeat_fraction > 0 && options.heartbeat_fraction <= 0.5)) {
    return Invalid("heartbeat_fraction",
                   "must be in (0, 0.5], got " +
                       std::to_string(options.heartbeat_fraction));
  }
  if (options.initial_backoff.count() <= 0) {
    return Invalid("initial_backoff",
                   "must be positive, got " + Ms(options.initial_backoff));
  }
  if (options.max_backoff < options.initial_backoff) {
    return Invalid("max_backoff", "must be at least initial_backoff (" +
                                      Ms(options.initial_backoff) + "), got " +
                                      Ms(options.max_backoff));
  }
  return grpc::Status::OK;
}

std::string InstanceId(const RegistrationOptions& options) {
  if (!options.id.empty()) return options.id;
  return options.address + ":" + std::to_string(options.port);
}

v1::Instance BuildInstance(const RegistrationOptions& options,
                           const std::string& default_zone) {
  v1::Instance instance;
  instance.set_service(options.service);
  instance.set_id(InstanceId(options));
  instance.set_address(options.address);
  instance.set_port(options.port);
  for (const std::string& tag : options.tags) instance.add_tags(tag);
  for (const auto& [key, value] : options.metadata) {
    (*instance.mutable_metadata())[key] = value;
  }
  instance.set_weight(options.weight);
  instance.set_zone(options.zone.empty() ? default_zone : options.zone);
  instance.set_version(options.version);

  v1::CheckSpec& check = *instance.mutable_check();
  switch (options.check) {
    case CheckType::kTtl:
      check.set_kind(v1::CHECK_KIND_TTL);
      SetDuration(options.ttl, check.mutable_ttl());
      break;
    case CheckType::kHttp:
      check.set_kind(v1::CHECK_KIND_HTTP);
      check.set_http_url(options.http_url);
      break;
    case CheckType::kGrpc:
      check.set_kind(v1::CHECK_KIND_GRPC);
      check.set_grpc_service(options.grpc_service);
      break;
    case CheckType::kTcp:
      check.set_kind(v1::CHECK_KIND_TCP);
      break;
    case CheckType::kNone:
      check.set_kind(v1::CHECK_KIND_NONE);
      break;
  }
  if (options.check == CheckType::kHttp || options.check == CheckType::kGrpc ||
      options.check == CheckType::kTcp) {
    SetIfPositive(options.interval, &v1::CheckSpec::mutable_interval, check);
    SetIfPositive(options.timeout, &v1::CheckSpec::mutable_timeout, check);
  }
  if (options.check != CheckType::kNone) {
    SetIfPositive(options.deregister_after,
                  &v1::CheckSpec::mutable_deregister_after, check);
  }
  return instance;
}

milliseconds HeartbeatPeriod(const RegistrationOptions& options) {
  const auto period = milliseconds(static_cast<int64_t>(
      static_cast<double>(options.ttl.count()) * options.heartbeat_fraction));
  return std::max(period, milliseconds(10));
}

}  // namespace muster::client::internal

namespace muster::client {

grpc::Status CheckRegistrationOptions(const RegistrationOptions& options) {
  return internal::CheckRegistrationOptions(options);
}

}  // namespace muster::client
