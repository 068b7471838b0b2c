#include "codec/read_responses.h"

#include <algorithm>
#include <optional>

#include "codec/model_proto.h"

namespace muster::registry {
namespace {

// Where the data lives is for operators: admins of every realm.
bool OperatorView(const Token* token) {
  return token == nullptr ||
         (token->all_realms && token->role == TokenRole::kAdmin);
}

}  // namespace

void FillServerInfo(Registry& registry, const ServerFacts& facts,
                    const Token* token, muster::v1::ServerInfo* out) {
  out->set_version(facts.version);
  TimeToProto(facts.started_at, out->mutable_started_at());
  const ChangeLog::Stats stats = registry.change_log().GetStats();
  out->set_revision(stats.revision);
  out->set_oldest_retained_revision(stats.oldest_retained_revision);
  out->set_instance_count(stats.instances);
  out->set_realm_count(stats.realms);
  if (token != nullptr && !token->all_realms) {
    // Only the realms the token may read are counted.
    uint64_t realms = 0;
    uint64_t instances = 0;
    for (const RealmCounts& counts : registry.realms().List().realms) {
      if (!TokenSees(token, counts.realm.name)) continue;
      ++realms;
      instances += counts.instances;
    }
    out->set_instance_count(instances);
    out->set_realm_count(realms);
  }
  out->set_open_watchers(stats.watchers);
  out->set_health_checker_enabled(facts.health_checker_enabled);
  if (OperatorView(token)) out->set_data_dir(facts.data_dir);
  muster::v1::Replication* replication = out->mutable_replication();
  if (Replication* store = registry.replication(); store == nullptr) {
    replication->set_store("rocksdb");
  } else {
    const ReplicationStatus status = store->GetStatus();
    replication->set_store(status.backend);
    replication->set_replica_id(status.self_id);
    replication->set_member(status.member);
    if (std::optional<absl::Duration> stale = registry.Staleness();
        stale.has_value() && *stale != absl::InfiniteDuration()) {
      replication->mutable_staleness()->set_seconds(
          absl::ToInt64Seconds(*stale));
      replication->mutable_staleness()->set_nanos(static_cast<int32_t>(
          absl::ToInt64Nanoseconds(*stale % absl::Seconds(1))));
    } else {
      // Never confirmed current: as stale as can be said.
      replication->mutable_staleness()->set_seconds(315576000000);
    }
    for (const ReplicaInfo& replica : status.replicas) {
      muster::v1::Replica* r = replication->add_replicas();
      r->set_id(replica.id);
      r->set_address(replica.address);
    }
    // Where etcd is: for operators, as the data dir.
    if (OperatorView(token)) {
      replication->set_etcd_endpoint(status.endpoint);
      for (const std::string& endpoint : status.endpoints)
        replication->add_etcd_endpoints(endpoint);
    }
  }
}

void FillRealmListing(Registry& registry, const Token* token,
                      muster::v1::ListRealmsResponse* out) {
  const Realms::Listing listing = registry.realms().List();
  for (const RealmCounts& counts : listing.realms) {
    if (!TokenSees(token, counts.realm.name)) continue;
    muster::v1::RealmSummary* summary = out->add_realms();
    ToProto(counts.realm, summary->mutable_realm());
    summary->set_instance_count(counts.instances);
    summary->set_routable_count(counts.routable);
    summary->set_service_count(counts.services);
  }
  out->set_revision(listing.revision);
}

void FillHealthDetail(const healthchecker::HealthDetail& detail,
                      muster::v1::Instance* proto) {
  muster::v1::HealthDetail* out = proto->mutable_health_detail();
  out->set_output(detail.output);
  if (detail.last_checked_at.has_value()) {
    TimeToProto(*detail.last_checked_at, out->mutable_last_checked_at());
  }
  out->set_consecutive_successes(detail.consecutive_successes);
  out->set_consecutive_failures(detail.consecutive_failures);
  if (detail.evict_at.has_value())
    TimeToProto(*detail.evict_at, out->mutable_evict_at());
  out->set_eviction_paused(detail.eviction_paused);
  if (detail.last_heartbeat_at.has_value()) {
    TimeToProto(*detail.last_heartbeat_at, proto->mutable_last_heartbeat_at());
  }
}

ListQuery ListQueryFromProto(const muster::v1::ListInstancesRequest& request) {
  ListQuery query;
  query.realm = request.realm();
  query.service = request.service();
  query.routable_only = request.routable_only();
  query.tags.assign(request.tags().begin(), request.tags().end());
  for (const auto& [key, value] : request.metadata())
    query.metadata.emplace_back(key, value);
  std::sort(query.metadata.begin(), query.metadata.end());
  query.zone = request.zone();
  query.page_size = request.page_size();
  query.page_token = request.page_token();
  return query;
}

void ToProto(const InstancePage& page, muster::v1::ListInstancesResponse* out) {
  out->mutable_instances()->Reserve(static_cast<int>(page.instances.size()));
  for (const auto& instance : page.instances)
    ToProto(*instance, out->add_instances());
  out->set_next_page_token(page.next_page_token);
  out->set_revision(page.revision);
}

void ToProto(const ServicesPage& page, muster::v1::ListServicesResponse* out) {
  out->mutable_services()->Reserve(static_cast<int>(page.services.size()));
  for (const ServiceCounts& counts : page.services) {
    muster::v1::ServiceSummary* summary = out->add_services();
    summary->set_name(counts.name);
    summary->set_instance_count(counts.instances);
    summary->set_routable_count(counts.routable);
  }
  out->set_revision(page.revision);
  out->set_next_page_token(page.next_page_token);
}

ChangeLog::EventsQuery EventsQueryFromProto(
    const muster::v1::ListEventsRequest& request) {
  ChangeLog::EventsQuery query;
  query.filter = InstanceKey{request.realm(), request.service(), request.id()};
  query.from_revision = request.from_revision();
  query.from_event_index = request.from_event_index();
  query.limit = request.limit();
  return query;
}

void ToProto(const ChangeLog::EventsPage& page,
             muster::v1::ListEventsResponse* out) {
  out->mutable_events()->Reserve(static_cast<int>(page.events.size()));
  for (const Event& event : page.events) ToProto(event, out->add_events());
  out->set_next_revision(page.next_revision);
  out->set_next_event_index(page.next_event_index);
  out->set_oldest_retained_revision(page.oldest_retained_revision);
  out->set_revision(page.revision);
}

}  // namespace muster::registry
