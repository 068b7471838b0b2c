#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/core/v3/base.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "registry/model.h"

// The xDS resources musterd serves for a service, built from the registry
// core's instances. Every function is pure and thread-safe.
namespace muster::xds {

inline constexpr char kListenerType[] =
    "type.googleapis.com/envoy.config.listener.v3.Listener";
inline constexpr char kClusterType[] =
    "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr char kEndpointType[] =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
// The node metadata field naming the realm of bare resource names.
inline constexpr char kNodeRealmField[] = "muster_realm";

// What a resource name stands for.
struct ServiceName {
  std::string realm;
  std::string service;
  friend bool operator<(const ServiceName& a, const ServiceName& b) {
    return a.realm != b.realm ? a.realm < b.realm : a.service < b.service;
  }
  friend bool operator==(const ServiceName& a, const ServiceName& b) {
    return a.realm == b.realm && a.service == b.service;
  }
};

// The realm a node's bare names refer to: its metadata field
// `muster_realm` when that is a non-empty string, else "default".
std::string NodeRealm(const envoy::config::core::v3::Node& node);

// "<service>.<realm>", or "<service>" meaning `node_realm`. Both parts are
// checked as every realm and service name is; INVALID_ARGUMENT naming
// the resource otherwise.
absl::StatusOr<ServiceName> ParseResourceName(absl::string_view name,
                                              absl::string_view node_realm);

// LDS: an API listener whose HttpConnectionManager routes every request
// (an inline route config: domains "*", prefix "") to cluster `name`,
// through the router filter.
envoy::config::listener::v3::Listener BuildListener(const std::string& name);

// CDS: an EDS cluster named `name`, its endpoints from ADS, round robin.
envoy::config::cluster::v3::Cluster BuildCluster(const std::string& name);

// EDS: the instances grouped into localities by zone (in zone order),
// each locality weighted by the sum of its endpoints' weights. Routable
// instances are HEALTHY, drained ones that pass their check DRAINING;
// the others (starting, critical) are left out. Weight 0 counts as 1.
envoy::config::endpoint::v3::ClusterLoadAssignment BuildLoadAssignment(
    const std::string& name,
    const std::vector<std::shared_ptr<const registry::Instance>>& instances);

}  // namespace muster::xds
