#pragma once

// Conversions between the model types and their muster.v1 protos, used by
// the gRPC adapters and by the store (the same protos are the on-disk
// values). Output-only proto fields are converted too.
//
// Rules: an unset google.protobuf.Timestamp is absl::UnixEpoch() and back;
// an unset Duration is absl::ZeroDuration() and back; negative durations
// are kept (validation rejects them). Conversions apply no defaults
// (weight 0 stays 0). FromProto returns INVALID_ARGUMENT naming the field
// path (`field` is its prefix, e.g. "instance") for an unknown enum value
// or a malformed Duration/Timestamp. Pure functions; thread-safe.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "muster/v1/registry.pb.h"
#include "muster/v1/types.pb.h"
#include "registry/model.h"

namespace muster::registry {

// Enums. The model's values equal the proto's. FromProto maps
// UNSPECIFIED to the model default (STARTING, ENABLED, NONE); the event
// enums have no default, so UNSPECIFIED is INVALID_ARGUMENT.
muster::v1::Health HealthToProto(Health health);
absl::StatusOr<Health> HealthFromProto(int value, absl::string_view field);
muster::v1::AdminState AdminStateToProto(AdminState state);
absl::StatusOr<AdminState> AdminStateFromProto(int value,
                                               absl::string_view field);
muster::v1::CheckKind CheckKindToProto(CheckKind kind);
absl::StatusOr<CheckKind> CheckKindFromProto(int value,
                                             absl::string_view field);
muster::v1::Event::Type EventTypeToProto(EventType type);
absl::StatusOr<EventType> EventTypeFromProto(int value,
                                             absl::string_view field);
muster::v1::Event::Cause EventCauseToProto(EventCause cause);
absl::StatusOr<EventCause> EventCauseFromProto(int value,
                                               absl::string_view field);

// Time and durations.
void TimeToProto(absl::Time time, google::protobuf::Timestamp* proto);
absl::StatusOr<absl::Time> TimeFromProto(const google::protobuf::Timestamp& p,
                                         absl::string_view field);
void DurationToProto(absl::Duration duration,
                     google::protobuf::Duration* proto);
absl::StatusOr<absl::Duration> DurationFromProto(
    const google::protobuf::Duration& proto, absl::string_view field);

// Messages. ToProto overwrites `*proto` entirely.
void ToProto(const CheckSpec& check, muster::v1::CheckSpec* proto);
// http_headers come out sorted by name.
absl::StatusOr<CheckSpec> CheckSpecFromProto(const muster::v1::CheckSpec& p,
                                             absl::string_view field);

// check_output maps to health_detail.output; the live counters of
// HealthDetail and last_heartbeat_at are not part of the model.
void ToProto(const Instance& instance, muster::v1::Instance* proto);
// A stored instance (or an event's): every field, tags sorted and
// unique, metadata sorted by key.
absl::StatusOr<Instance> InstanceFromProto(const muster::v1::Instance& p,
                                           absl::string_view field);
// The instance of a Register request: only the fields a client sets,
// tags in the client's order (duplicates kept) so that validation names
// the index the client sent; the registry normalizes them. The realm is
// left empty (the request's realm field says where it goes). Refuses
// with INVALID_ARGUMENT "instance.<field>: output only; leave it unset"
// a set output-only field (health, admin_state, health_detail,
// registered_at, status_changed_at, last_heartbeat_at, create_revision,
// modify_revision, admin_reason), and an instance.realm that is not the
// request's realm (empty: "default").
absl::StatusOr<Instance> RegistrationFromProto(
    const muster::v1::RegisterRequest& request);

void ToProto(const Realm& realm, muster::v1::Realm* proto);
absl::StatusOr<Realm> RealmFromProto(const muster::v1::Realm& proto,
                                     absl::string_view field);

// A null event.instance leaves proto.instance unset.
void ToProto(const Event& event, muster::v1::Event* proto);
// INVALID_ARGUMENT "<field>.instance: required" when the instance is unset.
absl::StatusOr<Event> EventFromProto(const muster::v1::Event& proto,
                                     absl::string_view field);

}  // namespace muster::registry
