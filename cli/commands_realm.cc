// status and realm commands.

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/table.h"

namespace muster::cli {
namespace {

std::string AgeAndTime(const google::protobuf::Timestamp& t, absl::Time now) {
  if (!FromProtoTimestamp(t).has_value()) return "-";
  return absl::StrCat(FormatAge(t, now), " (", FormatRfc3339(t), ")");
}

void PrintRealmSummaries(Context& ctx, const v1::ListRealmsResponse& realms) {
  Table table(
      {"REALM", "SERVICES", "INSTANCES", "ROUTABLE", "AGE", "DESCRIPTION"});
  for (const v1::RealmSummary& s : realms.realms()) {
    table.AddRow({s.realm().name(), absl::StrCat(s.service_count()),
                  absl::StrCat(s.instance_count()),
                  absl::StrCat(s.routable_count()),
                  FormatAge(s.realm().created_at(), ctx.now()),
                  s.realm().settings().description()});
  }
  table.Print(ctx.out);
}

// One realm and its settings, as `realm get` and `realm update` print it.
absl::Status PrintRealm(Context& ctx, const v1::Realm& realm) {
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, realm);
  const v1::RealmSettings& settings = realm.settings();
  std::string share = settings.eviction_protection_share() == 0
                          ? std::string("daemon default (0.5)")
                          : absl::StrCat(settings.eviction_protection_share());
  const auto& dda = settings.default_deregister_after();
  std::string deregister_after =
      dda.seconds() == 0 && dda.nanos() == 0
          ? std::string("daemon default (10m)")
          : FormatCompactDuration(FromProtoDuration(dda));
  PrintFields(
      ctx.out,
      {{"Name", realm.name()},
       {"Description",
        settings.description().empty() ? "-" : settings.description()},
       {"Eviction protection share", share},
       {"Default deregister-after", deregister_after},
       {"Created", AgeAndTime(realm.created_at(), ctx.now())},
       {"Revisions", absl::StrCat("create ", realm.create_revision(),
                                  ", modify ", realm.modify_revision())}});
  return absl::OkStatus();
}

}  // namespace

absl::Status PrintJson(Context& ctx, const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJson(message, JsonLayout::kPretty);
  if (!json.ok()) return json.status();
  ctx.out << *json << '\n';
  return absl::OkStatus();
}

absl::Status RunStatus(Context& ctx) {
  absl::StatusOr<v1::ServerInfo> info = ctx.client.Call(
      ctx.client.registry(), &v1::Registry::StubInterface::GetServerInfo,
      v1::GetServerInfoRequest());
  if (!info.ok()) return info.status();
  absl::StatusOr<v1::ListRealmsResponse> realms = ctx.client.Call(
      ctx.client.realms(), &v1::Realms::StubInterface::ListRealms,
      v1::ListRealmsRequest());
  if (!realms.ok()) return realms.status();
  // The daemon's own health: grpc.health.v1 for the whole server ("").
  std::string health;
  absl::StatusOr<grpc::health::v1::HealthCheckResponse> check = ctx.client.Call(
      ctx.client.health(), &grpc::health::v1::Health::StubInterface::Check,
      grpc::health::v1::HealthCheckRequest());
  if (check.ok()) {
    health = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
        check->status());
  } else {
    health = absl::StrCat("UNKNOWN (",
                          absl::StatusCodeToString(check.status().code()), ")");
  }

  if (ctx.output.format == Format::kJson) {
    JsonObject doc;
    doc.AddString("address", ctx.client.address());
    doc.AddBool("reachable", true);
    doc.AddString("health", health);
    absl::Status added = doc.AddMessage("server", *info);
    if (added.ok()) added = doc.AddMessage("realms", *realms);
    if (!added.ok()) return added;
    ctx.out << doc.Print() << '\n';
    return absl::OkStatus();
  }

  absl::Time now = ctx.now();
  const v1::Replication& replication = info->replication();
  std::string store = replication.store().empty() ? "-" : replication.store();
  if (replication.store() == "etcd") {
    std::vector<std::string> replicas;
    for (const v1::Replica& replica : replication.replicas()) {
      replicas.push_back(absl::StrCat(replica.id(), "@", replica.address()));
    }
    const absl::Duration stale =
        absl::Seconds(replication.staleness().seconds()) +
        absl::Nanoseconds(replication.staleness().nanos());
    absl::StrAppend(
        &store, ": replica ", replication.replica_id(),
        replication.member() ? "" : " (NOT a member: its lease is lost)",
        " of ", replicas.size(), " (", absl::StrJoin(replicas, ", "),
        "); confirmed current ",
        stale > absl::Hours(24 * 365)
            ? std::string("never")
            : absl::StrCat(absl::FormatDuration(
                               absl::Trunc(stale, absl::Milliseconds(1))),
                           " ago"));
    if (!replication.etcd_endpoint().empty())
      absl::StrAppend(&store, "; etcd ", replication.etcd_endpoint());
  }
  PrintFields(
      ctx.out,
      {{"Daemon", absl::StrCat(ctx.client.address(), " (reachable, health ",
                               health, ")")},
       {"Store", store},
       {"Version", info->version()},
       {"Started", AgeAndTime(info->started_at(), now)},
       {"Revision", absl::StrCat(info->revision(), " (oldest retained ",
                                 info->oldest_retained_revision(), ")")},
       {"Realms", absl::StrCat(info->realm_count())},
       {"Instances", absl::StrCat(info->instance_count())},
       {"Open watchers", absl::StrCat(info->open_watchers())},
       {"Health checker",
        info->health_checker_enabled() ? "enabled" : "disabled"},
       {"Data dir", info->data_dir().empty() ? "-" : info->data_dir()}});
  ctx.out << '\n';
  PrintRealmSummaries(ctx, *realms);
  return absl::OkStatus();
}

absl::Status RunRealmList(Context& ctx) {
  absl::StatusOr<v1::ListRealmsResponse> realms = ctx.client.Call(
      ctx.client.realms(), &v1::Realms::StubInterface::ListRealms,
      v1::ListRealmsRequest());
  if (!realms.ok()) return realms.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *realms);
  PrintRealmSummaries(ctx, *realms);
  return absl::OkStatus();
}

absl::Status RunRealmGet(Context& ctx, const std::string& name) {
  v1::GetRealmRequest request;
  request.set_name(name);
  absl::StatusOr<v1::Realm> realm = ctx.client.Call(
      ctx.client.realms(), &v1::Realms::StubInterface::GetRealm, request);
  if (!realm.ok()) return realm.status();
  return PrintRealm(ctx, *realm);
}

absl::Status RunRealmCreate(Context& ctx, const RealmCreateArgs& args) {
  absl::StatusOr<v1::CreateRealmRequest> request =
      BuildCreateRealmRequest(args);
  if (!request.ok()) return request.status();
  absl::StatusOr<v1::Realm> realm = ctx.client.Call(
      ctx.client.realms(), &v1::Realms::StubInterface::CreateRealm, *request);
  if (!realm.ok()) return realm.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *realm);
  ctx.out << "realm \"" << realm->name() << "\" created (revision "
          << realm->create_revision() << ")\n";
  return absl::OkStatus();
}

absl::Status RunRealmUpdate(Context& ctx, const RealmUpdateArgs& args) {
  absl::StatusOr<v1::UpdateRealmRequest> request =
      BuildUpdateRealmRequest(args);
  if (!request.ok()) return request.status();
  absl::StatusOr<v1::Realm> realm = ctx.client.Call(
      ctx.client.realms(), &v1::Realms::StubInterface::UpdateRealm, *request);
  if (!realm.ok()) return realm.status();
  return PrintRealm(ctx, *realm);
}

absl::Status RunRealmDelete(Context& ctx, const RealmDeleteArgs& args) {
  v1::DeleteRealmRequest request;
  request.set_name(args.name);
  request.set_force(args.force);
  absl::StatusOr<v1::DeleteRealmResponse> response = ctx.client.Call(
      ctx.client.realms(), &v1::Realms::StubInterface::DeleteRealm, request);
  if (!response.ok()) return response.status();
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, *response);
  ctx.out << "realm \"" << args.name << "\" deleted (revision "
          << response->revision();
  if (args.force) {
    ctx.out << ", " << response->deleted_instances() << " instances deleted";
  }
  ctx.out << ")\n";
  return absl::OkStatus();
}

}  // namespace muster::cli
