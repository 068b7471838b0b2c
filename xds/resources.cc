#include "xds/resources.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "registry/validation.h"

namespace muster::xds {
namespace {

namespace core = envoy::config::core::v3;
namespace endpoint = envoy::config::endpoint::v3;
namespace hcm =
    envoy::extensions::filters::network::http_connection_manager::v3;

constexpr char kRouterFilter[] = "envoy.filters.http.router";

// Whether the instance passes its check (whatever its admin state).
bool Healthy(const registry::Instance& instance) {
  return instance.health == Health::kPassing ||
         instance.health == Health::kWarning;
}

}  // namespace

std::string NodeRealm(const core::Node& node) {
  const auto& fields = node.metadata().fields();
  auto it = fields.find(kNodeRealmField);
  if (it != fields.end() && it->second.has_string_value() &&
      !it->second.string_value().empty()) {
    return it->second.string_value();
  }
  return registry::kDefaultRealm;
}

absl::StatusOr<ServiceName> ParseResourceName(absl::string_view name,
                                              absl::string_view node_realm) {
  ServiceName parsed;
  size_t dot = name.find('.');
  if (dot == absl::string_view::npos) {
    parsed.service = std::string(name);
    parsed.realm = std::string(node_realm);
  } else {
    parsed.service = std::string(name.substr(0, dot));
    parsed.realm = std::string(name.substr(dot + 1));
  }
  std::string what = absl::StrCat("resource \"", name, "\"");
  absl::Status status =
      registry::ValidateName(parsed.service, absl::StrCat(what, ": service"));
  if (status.ok()) {
    status =
        registry::ValidateName(parsed.realm, absl::StrCat(what, ": realm"));
  }
  if (!status.ok()) return status;
  return parsed;
}

envoy::config::listener::v3::Listener BuildListener(const std::string& name) {
  hcm::HttpConnectionManager manager;
  auto* route_config = manager.mutable_route_config();
  route_config->set_name(name);
  auto* host = route_config->add_virtual_hosts();
  host->set_name(name);
  host->add_domains("*");
  auto* route = host->add_routes();
  route->mutable_match()->set_prefix("");
  route->mutable_route()->set_cluster(name);
  auto* router = manager.add_http_filters();
  router->set_name(kRouterFilter);
  router->mutable_typed_config()->PackFrom(
      envoy::extensions::filters::http::router::v3::Router());

  envoy::config::listener::v3::Listener listener;
  listener.set_name(name);
  listener.mutable_api_listener()->mutable_api_listener()->PackFrom(manager);
  return listener;
}

envoy::config::cluster::v3::Cluster BuildCluster(const std::string& name) {
  envoy::config::cluster::v3::Cluster cluster;
  cluster.set_name(name);
  cluster.set_type(envoy::config::cluster::v3::Cluster::EDS);
  auto* eds = cluster.mutable_eds_cluster_config();
  eds->set_service_name(name);
  eds->mutable_eds_config()->mutable_ads();
  eds->mutable_eds_config()->set_resource_api_version(core::V3);
  cluster.set_lb_policy(envoy::config::cluster::v3::Cluster::ROUND_ROBIN);
  return cluster;
}

endpoint::ClusterLoadAssignment BuildLoadAssignment(
    const std::string& name,
    const std::vector<std::shared_ptr<const registry::Instance>>& instances) {
  // By zone, then by id: the same set always gives the same message.
  std::map<std::string, std::vector<const registry::Instance*>> by_zone;
  for (const auto& instance : instances) {
    if (!Healthy(*instance)) continue;
    by_zone[instance->zone].push_back(instance.get());
  }
  endpoint::ClusterLoadAssignment assignment;
  assignment.set_cluster_name(name);
  for (auto& [zone, members] : by_zone) {
    std::sort(members.begin(), members.end(),
              [](const registry::Instance* a, const registry::Instance* b) {
                return a->id < b->id;
              });
    auto* locality = assignment.add_endpoints();
    locality->mutable_locality()->set_zone(zone);
    uint64_t total = 0;
    for (const registry::Instance* instance : members) {
      uint32_t weight = std::max<uint32_t>(instance->weight, 1);
      total += weight;
      auto* lb = locality->add_lb_endpoints();
      lb->set_health_status(instance->Routable() ? core::HEALTHY
                                                 : core::DRAINING);
      lb->mutable_load_balancing_weight()->set_value(weight);
      auto* socket =
          lb->mutable_endpoint()->mutable_address()->mutable_socket_address();
      socket->set_address(instance->address);
      socket->set_port_value(instance->port);
    }
    // gRPC drops a locality without a weight; the sum fits a uint32 for
    // any registry limits allow, and is clamped if not.
    locality->mutable_load_balancing_weight()->set_value(
        static_cast<uint32_t>(std::min<uint64_t>(total, UINT32_MAX)));
  }
  return assignment;
}

}  // namespace muster::xds
