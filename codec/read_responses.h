#pragma once

// The read responses of the muster.v1 API built from the registry's
// façade, shared by the gRPC services (rpc/) and the HTTP/JSON API
// (http/) so both answer alike: server info, the realm listing, the
// pages of instances, services and events, and an instance's live check
// detail. Thread-safe as the registry's reads are.

#include <string>

#include "absl/time/time.h"
#include "checkapi/target_source.h"
#include "muster/v1/realm.pb.h"
#include "muster/v1/registry.pb.h"
#include "muster/v1/types.pb.h"
#include "registry/registry.h"
#include "registry/token.h"

namespace muster::registry {

// What musterd says about itself in ServerInfo.
struct ServerFacts {
  std::string version;
  absl::Time started_at = absl::UnixEpoch();
  bool health_checker_enabled = false;
  std::string data_dir;
};

// ServerInfo as `token` may see it (null: access control off): counts of
// the realms it may read only; the data dir and etcd endpoints for an
// admin of every realm only.
void FillServerInfo(Registry& registry, const ServerFacts& facts,
                    const Token* token, muster::v1::ServerInfo* out);

// The realms `token` may read (null: all) with their counts.
void FillRealmListing(Registry& registry, const Token* token,
                      muster::v1::ListRealmsResponse* out);

// The checker's live state of an instance (GetInstance's health_detail and
// last_heartbeat_at).
void FillHealthDetail(const healthchecker::HealthDetail& detail,
                      muster::v1::Instance* proto);

// ListInstances' query (metadata sorted by key) and page.
ListQuery ListQueryFromProto(const muster::v1::ListInstancesRequest& request);
void ToProto(const InstancePage& page, muster::v1::ListInstancesResponse* out);

// ListServices' page.
void ToProto(const ServicesPage& page, muster::v1::ListServicesResponse* out);

// ListEvents' query and page.
ChangeLog::EventsQuery EventsQueryFromProto(
    const muster::v1::ListEventsRequest& request);
void ToProto(const ChangeLog::EventsPage& page,
             muster::v1::ListEventsResponse* out);

}  // namespace muster::registry
