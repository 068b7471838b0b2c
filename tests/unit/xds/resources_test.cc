// The xDS resources built for a service: names, LDS, CDS and EDS.

#include "xds/resources.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"

namespace muster::xds {
namespace {

namespace core = envoy::config::core::v3;
namespace hcm =
    envoy::extensions::filters::network::http_connection_manager::v3;

std::shared_ptr<const registry::Instance> MakeInstance(
    const std::string& id, const std::string& zone, uint32_t weight,
    Health health, AdminState admin = AdminState::kEnabled) {
  auto instance = std::make_shared<registry::Instance>();
  instance->realm = "default";
  instance->service = "greeter";
  instance->id = id;
  instance->address = "10.0.0." + id.substr(1);
  instance->port = 8000 + std::stoi(id.substr(1));
  instance->zone = zone;
  instance->weight = weight;
  instance->health = health;
  instance->admin_state = admin;
  return instance;
}

TEST_CASE("resource names: service.realm, or the node's realm for a bare one",
          "[xds]") {
  auto parsed = ParseResourceName("greeter.prod", "default");
  REQUIRE(parsed.ok());
  CHECK(parsed->service == "greeter");
  CHECK(parsed->realm == "prod");

  parsed = ParseResourceName("greeter", "staging");
  REQUIRE(parsed.ok());
  CHECK(parsed->realm == "staging");

  CHECK(ParseResourceName("Greeter.prod", "default").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ParseResourceName("greeter.", "default").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK_THAT(
      std::string(ParseResourceName("a.b.c", "default").status().message()),
      Catch::Contains("a.b.c"));

  core::Node node;
  CHECK(NodeRealm(node) == "default");
  (*node.mutable_metadata()->mutable_fields())["muster_realm"].set_string_value(
      "prod");
  CHECK(NodeRealm(node) == "prod");
  (*node.mutable_metadata()->mutable_fields())["muster_realm"].set_number_value(
      3);
  CHECK(NodeRealm(node) == "default");
}

TEST_CASE(
    "LDS: an API listener routing everything to the cluster of the "
    "same name through the router",
    "[xds]") {
  auto listener = BuildListener("greeter.default");
  CHECK(listener.name() == "greeter.default");
  hcm::HttpConnectionManager manager;
  REQUIRE(listener.api_listener().api_listener().UnpackTo(&manager));
  REQUIRE(manager.route_config().virtual_hosts_size() == 1);
  const auto& host = manager.route_config().virtual_hosts(0);
  REQUIRE(host.domains_size() == 1);
  CHECK(host.domains(0) == "*");
  REQUIRE(host.routes_size() == 1);
  CHECK(host.routes(0).match().prefix().empty());
  CHECK(host.routes(0).route().cluster() == "greeter.default");
  REQUIRE(manager.http_filters_size() == 1);
  CHECK(manager.http_filters(0)
            .typed_config()
            .Is<envoy::extensions::filters::http::router::v3::Router>());
}

TEST_CASE("CDS: an EDS cluster over ADS, round robin", "[xds]") {
  auto cluster = BuildCluster("greeter.default");
  CHECK(cluster.name() == "greeter.default");
  CHECK(cluster.type() == envoy::config::cluster::v3::Cluster::EDS);
  CHECK(cluster.eds_cluster_config().eds_config().has_ads());
  CHECK(cluster.lb_policy() ==
        envoy::config::cluster::v3::Cluster::ROUND_ROBIN);
}

TEST_CASE(
    "EDS: localities by zone weighted by their endpoints, drained ones "
    "DRAINING, starting and critical ones left out",
    "[xds]") {
  std::vector<std::shared_ptr<const registry::Instance>> instances = {
      MakeInstance("i1", "z2", 3, Health::kPassing),
      MakeInstance("i2", "z1", 0, Health::kWarning),
      MakeInstance("i3", "z1", 5, Health::kPassing, AdminState::kDraining),
      MakeInstance("i4", "z1", 2, Health::kCritical),
      MakeInstance("i5", "z2", 1, Health::kStarting),
      MakeInstance("i6", "", 2, Health::kPassing),
      MakeInstance("i7", "z2", 1, Health::kCritical, AdminState::kDraining),
  };
  auto assignment = BuildLoadAssignment("greeter.default", instances);
  CHECK(assignment.cluster_name() == "greeter.default");
  REQUIRE(assignment.endpoints_size() == 3);

  const auto& none = assignment.endpoints(0);
  CHECK(none.locality().zone().empty());
  CHECK(none.load_balancing_weight().value() == 2);
  REQUIRE(none.lb_endpoints_size() == 1);

  const auto& z1 = assignment.endpoints(1);
  CHECK(z1.locality().zone() == "z1");
  // i2 (weight 0 counts as 1) and i3 (drained, 5).
  CHECK(z1.load_balancing_weight().value() == 6);
  REQUIRE(z1.lb_endpoints_size() == 2);
  CHECK(z1.lb_endpoints(0).health_status() == core::HEALTHY);
  CHECK(z1.lb_endpoints(0).load_balancing_weight().value() == 1);
  CHECK(z1.lb_endpoints(0).endpoint().address().socket_address().address() ==
        "10.0.0.2");
  CHECK(z1.lb_endpoints(0).endpoint().address().socket_address().port_value() ==
        8002);
  CHECK(z1.lb_endpoints(1).health_status() == core::DRAINING);
  CHECK(z1.lb_endpoints(1).load_balancing_weight().value() == 5);

  const auto& z2 = assignment.endpoints(2);
  CHECK(z2.locality().zone() == "z2");
  CHECK(z2.load_balancing_weight().value() == 3);
  REQUIRE(z2.lb_endpoints_size() == 1);
  CHECK(z2.lb_endpoints(0).health_status() == core::HEALTHY);
}

TEST_CASE("EDS: a service without instances has an empty assignment", "[xds]") {
  auto assignment = BuildLoadAssignment("greeter.default", {});
  CHECK(assignment.cluster_name() == "greeter.default");
  CHECK(assignment.endpoints_size() == 0);
}

}  // namespace
}  // namespace muster::xds
