// services, list, get, register, deregister, heartbeat, drain, enable,
// update.

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/table.h"
#include "explain/explain.h"

namespace muster::cli {

using explain::DescribeCheck;
using explain::DescribeCheckTls;
using explain::Explain;
using explain::Explanation;
namespace {

// A daemon that keeps handing out next_page_tokens is a bug; stop rather
// than loop forever.
constexpr int kMaxPages = 10000;

std::string Name(const v1::Instance& instance) {
  return absl::StrCat(instance.service(), "/", instance.id());
}

std::string Ref(const InstanceRef& ref) {
  return absl::StrCat(ref.service, "/", ref.id);
}

std::string AgeAndTime(const google::protobuf::Timestamp& t, absl::Time now) {
  if (!FromProtoTimestamp(t).has_value()) return "-";
  return absl::StrCat(FormatAge(t, now), " (", FormatRfc3339(t), ")");
}

std::string Metadata(const v1::Instance& instance) {
  std::map<std::string, std::string> sorted(instance.metadata().begin(),
                                            instance.metadata().end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

absl::StatusOr<v1::Instance> GetInstance(Context& ctx, const InstanceRef& ref) {
  v1::GetInstanceRequest request;
  request.set_realm(ctx.realm);
  request.set_service(ref.service);
  request.set_id(ref.id);
  return ctx.client.Call(ctx.client.registry(),
                         &v1::Registry::StubInterface::GetInstance, request);
}

void PrintInstance(Context& ctx, const v1::Instance& instance) {
  absl::Time now = ctx.now();
  Colour colour = ctx.output.colour;
  const v1::HealthDetail& detail = instance.health_detail();
  std::string health =
      PaintHealth(HealthName(instance.health()), instance.health(), colour);
  if (FromProtoTimestamp(instance.status_changed_at()).has_value()) {
    absl::StrAppend(&health, " since ",
                    FormatAge(instance.status_changed_at(), now));
  }
  std::string admin = PaintAdminState(AdminStateName(instance.admin_state()),
                                      instance.admin_state(), colour);
  if (!instance.admin_reason().empty()) {
    absl::StrAppend(&admin, " (reason: \"", instance.admin_reason(), "\")");
  }
  std::string last_check =
      FromProtoTimestamp(detail.last_checked_at()).has_value()
          ? FormatAge(detail.last_checked_at(), now)
          : std::string("-");
  if (!detail.output().empty()) {
    absl::StrAppend(&last_check, ": \"", OneLine(detail.output()), "\"");
  }
  std::string eviction = "-";
  if (detail.eviction_paused()) {
    eviction = "held back by eviction protection";
  } else if (FromProtoTimestamp(detail.evict_at()).has_value()) {
    eviction = AgeAndTime(detail.evict_at(), now);
  }
  PrintFields(
      ctx.out,
      {{"Service", instance.service()},
       {"ID", instance.id()},
       {"Realm", instance.realm()},
       {"Address", absl::StrCat(instance.address(), ":", instance.port())},
       {"Routable", IsRoutable(instance) ? "yes" : "no"},
       {"Health", health},
       {"Admin state", admin},
       {"Zone", instance.zone().empty() ? "-" : instance.zone()},
       {"Version", instance.version().empty() ? "-" : instance.version()},
       {"Weight", absl::StrCat(instance.weight() == 0 ? 1 : instance.weight())},
       {"Tags",
        instance.tags().empty() ? "-" : absl::StrJoin(instance.tags(), ",")},
       {"Metadata", instance.metadata().empty() ? "-" : Metadata(instance)},
       {"Check", DescribeCheck(instance.check())},
       {"Last check", last_check},
       {"Consecutive",
        absl::StrCat(detail.consecutive_successes(), " successes, ",
                     detail.consecutive_failures(), " failures")},
       {"Evict at", eviction},
       {"Registered", AgeAndTime(instance.registered_at(), now)},
       {"Status changed", AgeAndTime(instance.status_changed_at(), now)},
       {"Last heartbeat", AgeAndTime(instance.last_heartbeat_at(), now)},
       {"Incarnation", absl::StrCat(instance.create_revision())},
       {"Modify revision", absl::StrCat(instance.modify_revision())}});
}

}  // namespace

absl::Status RunServices(Context& ctx) {
  v1::ListServicesRequest request;
  request.set_realm(ctx.realm);
  // Follow the pages, as list does; one response with the first page's
  // revision.
  v1::ListServicesResponse all;
  std::set<std::string> seen_tokens;
  for (int page = 0;; ++page) {
    absl::StatusOr<v1::ListServicesResponse> response =
        ctx.client.Call(ctx.client.registry(),
                        &v1::Registry::StubInterface::ListServices, request);
    if (!response.ok()) return response.status();
    if (page == 0) all.set_revision(response->revision());
    for (v1::ServiceSummary& summary : *response->mutable_services()) {
      *all.add_services() = std::move(summary);
    }
    const std::string& token = response->next_page_token();
    if (token.empty()) break;
    if (page + 1 >= kMaxPages || !seen_tokens.insert(token).second) {
      return absl::InternalError(
          "the daemon repeats a page token; listing stopped");
    }
    request.set_page_token(token);
  }
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, all);
  Table table({"SERVICE", "INSTANCES", "ROUTABLE"});
  for (const v1::ServiceSummary& s : all.services()) {
    table.AddRow({s.name(), absl::StrCat(s.instance_count()),
                  absl::StrCat(s.routable_count())});
  }
  table.Print(ctx.out);
  return absl::OkStatus();
}

absl::Status RunList(Context& ctx, const ListArgs& args) {
  absl::StatusOr<v1::ListInstancesRequest> request =
      BuildListRequest(ctx.realm, args);
  if (!request.ok()) return request.status();
  // Follow the pages; the result is reported as one response whose
  // revision is that of the first page.
  v1::ListInstancesResponse all;
  std::set<std::string> seen_tokens;
  for (int page = 0;; ++page) {
    absl::StatusOr<v1::ListInstancesResponse> response =
        ctx.client.Call(ctx.client.registry(),
                        &v1::Registry::StubInterface::ListInstances, *request);
    if (!response.ok()) return response.status();
    if (page == 0) all.set_revision(response->revision());
    for (v1::Instance& instance : *response->mutable_instances()) {
      *all.add_instances() = std::move(instance);
    }
    const std::string& token = response->next_page_token();
    if (token.empty()) break;
    if (page + 1 >= kMaxPages || !seen_tokens.insert(token).second) {
      return absl::InternalError(
          "the daemon repeats a page token; listing stopped");
    }
    request->set_page_token(token);
  }
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, all);

  absl::Time now = ctx.now();
  Table table(
      {"SERVICE", "ID", "ADDRESS", "HEALTH", "ADMIN", "ZONE", "TAGS", "AGE"});
  for (const v1::Instance& i : all.instances()) {
    table.AddRow(
        {i.service(), i.id(), absl::StrCat(i.address(), ":", i.port()),
         PaintHealth(HealthName(i.health()), i.health(), ctx.output.colour),
         PaintAdminState(AdminStateName(i.admin_state()), i.admin_state(),
                         ctx.output.colour),
         i.zone().empty() ? "-" : i.zone(),
         i.tags().empty() ? "-" : absl::StrJoin(i.tags(), ","),
         FormatAge(i.registered_at(), now)});
  }
  table.Print(ctx.out);
  return absl::OkStatus();
}

absl::Status RunGet(Context& ctx, const InstanceRef& ref) {
  absl::StatusOr<v1::Instance> instance = GetInstance(ctx, ref);
  if (!instance.ok()) return instance.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *instance);
  PrintInstance(ctx, *instance);
  return absl::OkStatus();
}

absl::Status RunRegister(Context& ctx, const RegisterArgs& args) {
  absl::StatusOr<v1::RegisterRequest> request =
      BuildRegisterRequest(ctx.realm, args);
  if (!request.ok()) return request.status();
  absl::StatusOr<v1::RegisterResponse> response = ctx.client.Call(
      ctx.client.registry(), &v1::Registry::StubInterface::Register, *request);
  if (!response.ok()) return response.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *response);
  const v1::Instance& instance = response->instance();
  ctx.out << (response->created() ? "registered " : "updated ")
          << Name(instance) << " incarnation " << instance.create_revision()
          << " (revision " << response->revision() << ")\n";
  return absl::OkStatus();
}

absl::Status RunDeregister(Context& ctx, const InstanceIncarnationArgs& args) {
  absl::StatusOr<std::optional<uint64_t>> incarnation =
      ParseOptionalUnsigned("--incarnation", args.incarnation);
  if (!incarnation.ok()) return incarnation.status();
  v1::DeregisterRequest request;
  request.set_realm(ctx.realm);
  request.set_service(args.ref.service);
  request.set_id(args.ref.id);
  request.set_incarnation(incarnation->value_or(0));
  absl::StatusOr<v1::DeregisterResponse> response = ctx.client.Call(
      ctx.client.registry(), &v1::Registry::StubInterface::Deregister, request);
  if (!response.ok()) return response.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *response);
  ctx.out << "deregistered " << Ref(args.ref) << " (revision "
          << response->revision() << ")\n";
  return absl::OkStatus();
}

absl::Status RunHeartbeat(Context& ctx, const InstanceIncarnationArgs& args) {
  absl::StatusOr<std::optional<uint64_t>> given =
      ParseOptionalUnsigned("--incarnation", args.incarnation);
  if (!given.ok()) return given.status();
  uint64_t incarnation = 0;
  if (given->has_value()) {
    incarnation = **given;
  } else {
    // A heartbeat must name the incarnation it is for; by default that is
    // the current one.
    absl::StatusOr<v1::Instance> instance = GetInstance(ctx, args.ref);
    if (!instance.ok()) return instance.status();
    incarnation = instance->create_revision();
  }
  v1::HeartbeatRequest request;
  request.set_realm(ctx.realm);
  request.set_service(args.ref.service);
  request.set_id(args.ref.id);
  request.set_incarnation(incarnation);
  absl::StatusOr<v1::HeartbeatResponse> response = ctx.client.Call(
      ctx.client.registry(), &v1::Registry::StubInterface::Heartbeat, request);
  if (!response.ok()) return response.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *response);
  ctx.out << "heartbeat sent for " << Ref(args.ref) << " incarnation "
          << incarnation << ": health "
          << PaintHealth(HealthName(response->health()), response->health(),
                         ctx.output.colour)
          << ", admin state "
          << PaintAdminState(AdminStateName(response->admin_state()),
                             response->admin_state(), ctx.output.colour)
          << '\n';
  return absl::OkStatus();
}

absl::Status RunSetAdminState(Context& ctx, const DrainArgs& args,
                              v1::AdminState state) {
  v1::SetAdminStateRequest request;
  request.set_realm(ctx.realm);
  request.set_service(args.ref.service);
  request.set_id(args.ref.id);
  request.set_admin_state(state);
  request.set_reason(args.reason);
  absl::StatusOr<v1::Instance> instance =
      ctx.client.Call(ctx.client.registry(),
                      &v1::Registry::StubInterface::SetAdminState, request);
  if (!instance.ok()) return instance.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *instance);
  ctx.out << Name(*instance) << " is now "
          << PaintAdminState(AdminStateName(instance->admin_state()),
                             instance->admin_state(), ctx.output.colour);
  if (!instance->admin_reason().empty()) {
    ctx.out << " (reason: \"" << instance->admin_reason() << "\")";
  }
  ctx.out << (IsRoutable(*instance) ? "; routable" : "; not routable") << '\n';
  return absl::OkStatus();
}

absl::Status RunUpdate(Context& ctx, const UpdateArgs& args) {
  absl::StatusOr<InstanceChanges> changes = ParseInstanceChanges(args);
  if (!changes.ok()) return changes.status();
  absl::StatusOr<v1::Instance> current = GetInstance(ctx, args.ref);
  if (!current.ok()) return current.status();
  v1::RegisterRequest request =
      BuildUpdateRequest(ctx.realm, *changes, *current);
  absl::StatusOr<v1::RegisterResponse> response = ctx.client.Call(
      ctx.client.registry(), &v1::Registry::StubInterface::Register, request);
  if (!response.ok()) return response.status();
  const v1::Instance& updated = response->instance();
  if (response->created()) {
    // Deregistered (or evicted) between the read and the write.
    ctx.err << "musterctl: update: " << Name(updated)
            << " was removed meanwhile and is registered again as "
               "incarnation "
            << updated.create_revision() << std::endl;
  }
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, updated);
  PrintInstance(ctx, updated);
  return absl::OkStatus();
}

}  // namespace muster::cli
