#include "codec/model_proto.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace muster::registry {
namespace {

// The range google.protobuf.Timestamp allows: 0001-01-01 .. 9999-12-31.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int32_t kNanosPerSecond = 1000000000;

std::string Path(absl::string_view field, absl::string_view name) {
  if (field.empty()) return std::string(name);
  return absl::StrCat(field, ".", name);
}

absl::Status UnknownValue(absl::string_view field, int value) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": unknown value ", value));
}

template <typename Map>
std::vector<std::pair<std::string, std::string>> SortedPairs(const Map& map) {
  std::vector<std::pair<std::string, std::string>> pairs(map.begin(),
                                                         map.end());
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

}  // namespace

muster::v1::Health HealthToProto(Health health) {
  return static_cast<muster::v1::Health>(health);
}

absl::StatusOr<Health> HealthFromProto(int value, absl::string_view field) {
  if (value == muster::v1::HEALTH_UNSPECIFIED) return Health::kStarting;
  if (value < muster::v1::HEALTH_STARTING ||
      value > muster::v1::HEALTH_CRITICAL) {
    return UnknownValue(field, value);
  }
  return static_cast<Health>(value);
}

muster::v1::AdminState AdminStateToProto(AdminState state) {
  return static_cast<muster::v1::AdminState>(state);
}

absl::StatusOr<AdminState> AdminStateFromProto(int value,
                                               absl::string_view field) {
  if (value == muster::v1::ADMIN_STATE_UNSPECIFIED) return AdminState::kEnabled;
  if (value < muster::v1::ADMIN_STATE_ENABLED ||
      value > muster::v1::ADMIN_STATE_DRAINING) {
    return UnknownValue(field, value);
  }
  return static_cast<AdminState>(value);
}

muster::v1::CheckKind CheckKindToProto(CheckKind kind) {
  return static_cast<muster::v1::CheckKind>(kind);
}

absl::StatusOr<CheckKind> CheckKindFromProto(int value,
                                             absl::string_view field) {
  if (value == muster::v1::CHECK_KIND_UNSPECIFIED) return CheckKind::kNone;
  if (value < muster::v1::CHECK_KIND_NONE ||
      value > muster::v1::CHECK_KIND_GRPC) {
    return UnknownValue(field, value);
  }
  return static_cast<CheckKind>(value);
}

muster::v1::Event::Type EventTypeToProto(EventType type) {
  return static_cast<muster::v1::Event::Type>(type);
}

absl::StatusOr<EventType> EventTypeFromProto(int value,
                                             absl::string_view field) {
  if (value == muster::v1::Event::TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  }
  if (value < muster::v1::Event::PUT || value > muster::v1::Event::DELETE) {
    return UnknownValue(field, value);
  }
  return static_cast<EventType>(value);
}

muster::v1::Event::Cause EventCauseToProto(EventCause cause) {
  return static_cast<muster::v1::Event::Cause>(cause);
}

absl::StatusOr<EventCause> EventCauseFromProto(int value,
                                               absl::string_view field) {
  if (value == muster::v1::Event::CAUSE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  }
  if (value < muster::v1::Event::REGISTERED ||
      value > muster::v1::Event::SNAPSHOT) {
    return UnknownValue(field, value);
  }
  return static_cast<EventCause>(value);
}

void TimeToProto(absl::Time time, google::protobuf::Timestamp* proto) {
  proto->Clear();
  // Seconds rounded down, so nanos is always in [0, 1e9).
  const int64_t seconds = absl::ToUnixSeconds(time);
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

absl::StatusOr<absl::Time> TimeFromProto(const google::protobuf::Timestamp& p,
                                         absl::string_view field) {
  if (p.nanos() < 0 || p.nanos() >= kNanosPerSecond ||
      p.seconds() < kMinTimestampSeconds ||
      p.seconds() > kMaxTimestampSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": invalid timestamp (seconds ", p.seconds(),
                     ", nanos ", p.nanos(), ")"));
  }
  return absl::FromUnixSeconds(p.seconds()) + absl::Nanoseconds(p.nanos());
}

void DurationToProto(absl::Duration duration,
                     google::protobuf::Duration* proto) {
  proto->Clear();
  // IDivDuration truncates toward zero: seconds and nanos share the sign,
  // as google.protobuf.Duration requires.
  absl::Duration remainder;
  const int64_t seconds =
      absl::IDivDuration(duration, absl::Seconds(1), &remainder);
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(remainder)));
}

absl::StatusOr<absl::Duration> DurationFromProto(
    const google::protobuf::Duration& proto, absl::string_view field) {
  const bool mixed_signs = (proto.seconds() > 0 && proto.nanos() < 0) ||
                           (proto.seconds() < 0 && proto.nanos() > 0);
  if (mixed_signs || proto.nanos() <= -kNanosPerSecond ||
      proto.nanos() >= kNanosPerSecond) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": invalid duration (seconds ", proto.seconds(),
                     ", nanos ", proto.nanos(), ")"));
  }
  return absl::Seconds(proto.seconds()) + absl::Nanoseconds(proto.nanos());
}

namespace {

// Epoch times and zero durations stay unset, so "unset" survives a round
// trip and the stored protos stay small.
template <typename Message, typename Mutable>
void SetTimeIfNotEpoch(absl::Time time, Message* proto, Mutable mutable_field) {
  if (time != absl::UnixEpoch()) TimeToProto(time, (proto->*mutable_field)());
}

template <typename Message, typename Mutable>
void SetDurationIfNotZero(absl::Duration duration, Message* proto,
                          Mutable mutable_field) {
  if (duration != absl::ZeroDuration()) {
    DurationToProto(duration, (proto->*mutable_field)());
  }
}

}  // namespace

void ToProto(const CheckSpec& check, muster::v1::CheckSpec* proto) {
  using P = muster::v1::CheckSpec;
  proto->Clear();
  proto->set_kind(CheckKindToProto(check.kind));
  SetDurationIfNotZero(check.interval, proto, &P::mutable_interval);
  SetDurationIfNotZero(check.timeout, proto, &P::mutable_timeout);
  SetDurationIfNotZero(check.ttl, proto, &P::mutable_ttl);
  proto->set_healthy_threshold(check.healthy_threshold);
  proto->set_unhealthy_threshold(check.unhealthy_threshold);
  SetDurationIfNotZero(check.deregister_after, proto,
                       &P::mutable_deregister_after);
  proto->set_http_url(check.http_url);
  proto->set_http_method(check.http_method);
  for (const auto& [name, value] : check.http_headers) {
    (*proto->mutable_http_headers())[name] = value;
  }
  proto->set_http_follow_redirects(check.http_follow_redirects);
  proto->set_grpc_service(check.grpc_service);
  proto->set_grpc_tls(check.grpc_tls);
  proto->set_tls_skip_verify(check.tls_skip_verify);
  proto->set_tls_server_name(check.tls_server_name);
}

absl::StatusOr<CheckSpec> CheckSpecFromProto(const muster::v1::CheckSpec& p,
                                             absl::string_view field) {
  CheckSpec check;
  ASSIGN_OR_RETURN(check.kind,
                   CheckKindFromProto(p.kind(), Path(field, "kind")));
  ASSIGN_OR_RETURN(check.interval,
                   DurationFromProto(p.interval(), Path(field, "interval")));
  ASSIGN_OR_RETURN(check.timeout,
                   DurationFromProto(p.timeout(), Path(field, "timeout")));
  ASSIGN_OR_RETURN(check.ttl, DurationFromProto(p.ttl(), Path(field, "ttl")));
  check.healthy_threshold = p.healthy_threshold();
  check.unhealthy_threshold = p.unhealthy_threshold();
  ASSIGN_OR_RETURN(
      check.deregister_after,
      DurationFromProto(p.deregister_after(), Path(field, "deregister_after")));
  check.http_url = p.http_url();
  check.http_method = p.http_method();
  check.http_headers = SortedPairs(p.http_headers());
  check.http_follow_redirects = p.http_follow_redirects();
  check.grpc_service = p.grpc_service();
  check.grpc_tls = p.grpc_tls();
  check.tls_skip_verify = p.tls_skip_verify();
  check.tls_server_name = p.tls_server_name();
  return check;
}

void ToProto(const Instance& instance, muster::v1::Instance* proto) {
  using P = muster::v1::Instance;
  proto->Clear();
  proto->set_realm(instance.realm);
  proto->set_service(instance.service);
  proto->set_id(instance.id);
  proto->set_address(instance.address);
  proto->set_port(instance.port);
  for (const std::string& tag : instance.tags) proto->add_tags(tag);
  for (const auto& [key, value] : instance.metadata) {
    (*proto->mutable_metadata())[key] = value;
  }
  proto->set_weight(instance.weight);
  proto->set_zone(instance.zone);
  proto->set_version(instance.version);
  ToProto(instance.check(), proto->mutable_check());
  proto->set_health(HealthToProto(instance.health));
  proto->set_admin_state(AdminStateToProto(instance.admin_state));
  if (!instance.check_output().empty()) {
    proto->mutable_health_detail()->set_output(instance.check_output());
  }
  SetTimeIfNotEpoch(instance.registered_at, proto, &P::mutable_registered_at);
  SetTimeIfNotEpoch(instance.status_changed_at, proto,
                    &P::mutable_status_changed_at);
  proto->set_create_revision(instance.create_revision);
  proto->set_modify_revision(instance.modify_revision);
  proto->set_admin_reason(instance.admin_reason());
}

namespace {

// The fields a client registers, tags as sent.
absl::Status RegisteredFieldsFromProto(const muster::v1::Instance& p,
                                       absl::string_view field,
                                       Instance& instance) {
  instance.service = p.service();
  instance.id = p.id();
  instance.address = p.address();
  instance.port = p.port();
  instance.tags.assign(p.tags().begin(), p.tags().end());
  instance.metadata = SortedPairs(p.metadata());
  instance.weight = p.weight();
  instance.zone = p.zone();
  instance.version = p.version();
  ASSIGN_OR_RETURN(CheckSpec check,
                   CheckSpecFromProto(p.check(), Path(field, "check")));
  instance.set_check(std::move(check));
  return absl::OkStatus();
}

absl::Status OutputOnly(absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat("instance.", field, ": output only; leave it unset"));
}

// The first output-only field a registration sets, in field order.
absl::Status RefuseOutputOnly(const muster::v1::Instance& p) {
  const std::pair<bool, const char*> fields[] = {
      {p.health() != muster::v1::HEALTH_UNSPECIFIED, "health"},
      {p.admin_state() != muster::v1::ADMIN_STATE_UNSPECIFIED, "admin_state"},
      {p.has_health_detail(), "health_detail"},
      {p.has_registered_at(), "registered_at"},
      {p.has_status_changed_at(), "status_changed_at"},
      {p.has_last_heartbeat_at(), "last_heartbeat_at"},
      {p.create_revision() != 0, "create_revision"},
      {p.modify_revision() != 0, "modify_revision"},
      {!p.admin_reason().empty(), "admin_reason"},
  };
  for (const auto& [set, name] : fields) {
    if (set) return OutputOnly(name);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Instance> RegistrationFromProto(
    const muster::v1::RegisterRequest& request) {
  const muster::v1::Instance& p = request.instance();
  const absl::string_view realm = request.realm().empty()
                                      ? absl::string_view(kDefaultRealm)
                                      : absl::string_view(request.realm());
  if (!p.realm().empty() && p.realm() != realm) {
    return absl::InvalidArgumentError(
        "instance.realm: differs from the request's realm; leave it unset "
        "(the request's realm field says where the instance goes)");
  }
  RETURN_IF_ERROR(RefuseOutputOnly(p));
  Instance instance;
  RETURN_IF_ERROR(RegisteredFieldsFromProto(p, "instance", instance));
  return instance;
}

absl::StatusOr<Instance> InstanceFromProto(const muster::v1::Instance& p,
                                           absl::string_view field) {
  Instance instance;
  instance.realm = p.realm();
  RETURN_IF_ERROR(RegisteredFieldsFromProto(p, field, instance));
  std::sort(instance.tags.begin(), instance.tags.end());
  instance.tags.erase(std::unique(instance.tags.begin(), instance.tags.end()),
                      instance.tags.end());
  ASSIGN_OR_RETURN(instance.health,
                   HealthFromProto(p.health(), Path(field, "health")));
  ASSIGN_OR_RETURN(
      instance.admin_state,
      AdminStateFromProto(p.admin_state(), Path(field, "admin_state")));
  instance.set_admin_reason(p.admin_reason());
  instance.set_check_output(p.health_detail().output());
  ASSIGN_OR_RETURN(
      instance.registered_at,
      TimeFromProto(p.registered_at(), Path(field, "registered_at")));
  ASSIGN_OR_RETURN(
      instance.status_changed_at,
      TimeFromProto(p.status_changed_at(), Path(field, "status_changed_at")));
  instance.create_revision = p.create_revision();
  instance.modify_revision = p.modify_revision();
  return instance;
}

void ToProto(const Realm& realm, muster::v1::Realm* proto) {
  proto->Clear();
  proto->set_name(realm.name);
  muster::v1::RealmSettings* settings = proto->mutable_settings();
  settings->set_description(realm.description);
  settings->set_eviction_protection_share(realm.eviction_protection_share);
  SetDurationIfNotZero(
      realm.default_deregister_after, settings,
      &muster::v1::RealmSettings::mutable_default_deregister_after);
  SetTimeIfNotEpoch(realm.created_at, proto,
                    &muster::v1::Realm::mutable_created_at);
  proto->set_create_revision(realm.create_revision);
  proto->set_modify_revision(realm.modify_revision);
  proto->set_modified_by(realm.modified_by);
}

absl::StatusOr<Realm> RealmFromProto(const muster::v1::Realm& proto,
                                     absl::string_view field) {
  Realm realm;
  realm.name = proto.name();
  realm.description = proto.settings().description();
  realm.eviction_protection_share =
      proto.settings().eviction_protection_share();
  ASSIGN_OR_RETURN(
      realm.default_deregister_after,
      DurationFromProto(proto.settings().default_deregister_after(),
                        Path(field, "settings.default_deregister_after")));
  ASSIGN_OR_RETURN(realm.created_at, TimeFromProto(proto.created_at(),
                                                   Path(field, "created_at")));
  realm.create_revision = proto.create_revision();
  realm.modify_revision = proto.modify_revision();
  realm.modified_by = proto.modified_by();
  return realm;
}

void ToProto(const Event& event, muster::v1::Event* proto) {
  proto->Clear();
  proto->set_revision(event.revision);
  proto->set_type(EventTypeToProto(event.type));
  proto->set_cause(EventCauseToProto(event.cause));
  if (event.instance != nullptr) {
    ToProto(*event.instance, proto->mutable_instance());
  }
  proto->set_reason(event.reason);
  SetTimeIfNotEpoch(event.time, proto, &muster::v1::Event::mutable_time);
  proto->set_actor(event.actor);
}

absl::StatusOr<Event> EventFromProto(const muster::v1::Event& proto,
                                     absl::string_view field) {
  Event event;
  event.revision = proto.revision();
  ASSIGN_OR_RETURN(event.type,
                   EventTypeFromProto(proto.type(), Path(field, "type")));
  ASSIGN_OR_RETURN(event.cause,
                   EventCauseFromProto(proto.cause(), Path(field, "cause")));
  if (!proto.has_instance()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Path(field, "instance"), ": required"));
  }
  ASSIGN_OR_RETURN(
      Instance instance,
      InstanceFromProto(proto.instance(), Path(field, "instance")));
  event.instance = std::make_shared<const Instance>(std::move(instance));
  event.reason = proto.reason();
  ASSIGN_OR_RETURN(event.time,
                   TimeFromProto(proto.time(), Path(field, "time")));
  event.actor = proto.actor();
  return event;
}

}  // namespace muster::registry
