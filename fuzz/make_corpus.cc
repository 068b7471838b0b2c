// Writes the seed corpus of the requests and stored_record fuzz targets
// (fuzz/corpus/<target>/) from valid messages, so that fuzzing starts
// from requests the registry accepts and records RocksDbStore writes.
// Run by hand after a change of the protos or of a target's input layout:
//   build-fuzz/fuzz/make_corpus fuzz/corpus
// (the page_token and http_response seeds are a few bytes, written by
// hand).

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "codec/model_proto.h"
#include "muster/v1/realm.pb.h"
#include "muster/v1/registry.pb.h"
#include "muster/v1/tokens.pb.h"
#include "registry/model.h"
#include "store/layout/keys.h"

namespace {

using muster::registry::Instance;
namespace keys = muster::registry::keys;
namespace v1 = muster::v1;

std::string root;
int failures = 0;

void Write(const std::string& target, const std::string& name,
           const std::string& bytes) {
  const std::string path = root + "/" + target + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) {
    std::fprintf(stderr, "make_corpus: cannot write %s\n", path.c_str());
    ++failures;
  }
}

// The request fuzzer's input: the RPC's index in requests_fuzzer.cc's
// table, then the message.
enum Rpc : char {
  kRegister,
  kDeregister,
  kHeartbeat,
  kSetAdminState,
  kGetInstance,
  kListInstances,
  kListServices,
  kWatch,
  kListEvents,
  kGetServerInfo,
  kPing,
  kCreateRealm,
  kGetRealm,
  kListRealms,
  kUpdateRealm,
  kDeleteRealm,
  kCreateToken,
  kListTokens,
  kRevokeToken,
};

void Request(const std::string& name, Rpc rpc,
             const google::protobuf::Message& message) {
  Write("requests", name, std::string(1, rpc) + message.SerializeAsString());
}

v1::Instance HttpInstance() {
  v1::Instance instance;
  instance.set_service("web");
  instance.set_id("web-9");
  instance.set_address("10.0.0.9");
  instance.set_port(8080);
  instance.add_tags("blue");
  instance.add_tags("canary");
  (*instance.mutable_metadata())["team"] = "core";
  instance.set_weight(5);
  instance.set_zone("z1");
  instance.set_version("2.0.0");
  v1::CheckSpec* check = instance.mutable_check();
  check->set_kind(v1::CHECK_KIND_HTTP);
  check->mutable_interval()->set_seconds(5);
  check->mutable_timeout()->set_seconds(1);
  check->set_http_url("https://10.0.0.9:8080/healthz");
  check->set_http_method("GET");
  (*check->mutable_http_headers())["X-Probe"] = "muster";
  check->set_healthy_threshold(2);
  check->set_unhealthy_threshold(3);
  check->mutable_deregister_after()->set_seconds(600);
  return instance;
}

void Requests() {
  v1::RegisterRequest reg;
  *reg.mutable_instance() = HttpInstance();
  Request("register_http", kRegister, reg);
  reg.set_realm("prod");
  reg.mutable_instance()->set_realm("prod");
  Request("register_prod", kRegister, reg);
  v1::RegisterRequest ttl;
  ttl.mutable_instance()->set_service("worker");
  ttl.mutable_instance()->set_address("worker.internal");
  ttl.mutable_instance()->set_port(1);
  ttl.mutable_instance()->mutable_check()->set_kind(v1::CHECK_KIND_TTL);
  ttl.mutable_instance()->mutable_check()->mutable_ttl()->set_seconds(30);
  Request("register_ttl_generated_id", kRegister, ttl);
  v1::RegisterRequest grpc;
  grpc.set_realm("prod");
  grpc.mutable_instance()->set_service("api");
  grpc.mutable_instance()->set_id("api-7");
  grpc.mutable_instance()->set_address("fd00::7");
  grpc.mutable_instance()->set_port(9090);
  grpc.mutable_instance()->mutable_check()->set_kind(v1::CHECK_KIND_GRPC);
  grpc.mutable_instance()->mutable_check()->set_grpc_service("muster.Api");
  Request("register_grpc", kRegister, grpc);
  v1::RegisterRequest output_only = reg;
  output_only.mutable_instance()->set_health(v1::HEALTH_PASSING);
  Request("register_output_only", kRegister, output_only);

  v1::DeregisterRequest dereg;
  dereg.set_service("web");
  dereg.set_id("web-1");
  Request("deregister", kDeregister, dereg);
  v1::HeartbeatRequest beat;
  beat.set_service("web");
  beat.set_id("web-2");
  beat.set_incarnation(4);
  Request("heartbeat", kHeartbeat, beat);
  v1::SetAdminStateRequest drain;
  drain.set_service("web");
  drain.set_id("web-1");
  drain.set_admin_state(v1::ADMIN_STATE_DRAINING);
  drain.set_reason("kernel upgrade");
  Request("drain", kSetAdminState, drain);
  v1::GetInstanceRequest get;
  get.set_realm("prod");
  get.set_service("api");
  get.set_id("api-1");
  Request("get_instance", kGetInstance, get);

  v1::ListInstancesRequest list;
  list.set_service("web");
  list.add_tags("blue");
  (*list.mutable_metadata())["team"] = "core";
  list.set_zone("z1");
  list.set_routable_only(true);
  Request("list_filtered", kListInstances, list);
  v1::ListInstancesRequest paged;
  paged.set_page_size(1);
  paged.set_page_token("AAAAAAAAAAAAAAAA");
  Request("list_paged", kListInstances, paged);
  v1::ListServicesRequest services;
  services.set_page_size(1);
  Request("list_services", kListServices, services);
  v1::WatchRequest watch;
  watch.set_service("web");
  watch.set_from_revision(1);
  watch.set_progress_notify(true);
  Request("watch", kWatch, watch);
  v1::ListEventsRequest events;
  events.set_service("web");
  events.set_from_revision(2);
  events.set_limit(2);
  Request("list_events", kListEvents, events);
  Request("server_info", kGetServerInfo, v1::GetServerInfoRequest());
  Request("ping", kPing, v1::PingRequest());

  v1::CreateRealmRequest create;
  create.set_name("staging");
  create.mutable_settings()->set_description("staging area");
  create.mutable_settings()->set_eviction_protection_share(0.25);
  create.mutable_settings()->mutable_default_deregister_after()->set_seconds(
      3600);
  Request("create_realm", kCreateRealm, create);
  v1::GetRealmRequest get_realm;
  get_realm.set_name("prod");
  Request("get_realm", kGetRealm, get_realm);
  Request("list_realms", kListRealms, v1::ListRealmsRequest());
  v1::UpdateRealmRequest update;
  update.set_name("prod");
  update.mutable_settings()->set_description("changed");
  update.mutable_update_mask()->add_paths("description");
  Request("update_realm_mask", kUpdateRealm, update);
  update.mutable_update_mask()->set_paths(0, "*");
  Request("update_realm_all", kUpdateRealm, update);
  v1::DeleteRealmRequest remove;
  remove.set_name("prod");
  remove.set_force(true);
  Request("delete_realm_force", kDeleteRealm, remove);

  v1::CreateTokenRequest token;
  token.set_name("deployer");
  token.set_role(v1::TOKEN_ROLE_WRITE);
  token.add_realms("prod");
  token.add_services("api");
  token.mutable_expires_at()->set_seconds(1900000000);
  Request("create_token", kCreateToken, token);
  v1::CreateTokenRequest admin;
  admin.set_name("ops.admin");
  admin.set_role(v1::TOKEN_ROLE_ADMIN);
  admin.set_all_realms(true);
  Request("create_token_admin", kCreateToken, admin);
  Request("list_tokens", kListTokens, v1::ListTokensRequest());
  v1::RevokeTokenRequest revoke;
  revoke.set_name("deployer");
  Request("revoke_token", kRevokeToken, revoke);
}

// The stored_record fuzzer's input: kind, key length, key, value.
void Record(const std::string& name, char kind, const std::string& key,
            const std::string& value) {
  Write("stored_record", name,
        std::string(1, kind) + std::string(1, static_cast<char>(key.size())) +
            key + value);
}

void Records() {
  muster::registry::Realm realm;
  realm.name = "prod";
  realm.description = "production";
  realm.eviction_protection_share = 0.5;
  realm.default_deregister_after = absl::Minutes(30);
  realm.created_at = absl::FromUnixSeconds(1800000000);
  realm.create_revision = 2;
  realm.modify_revision = 7;
  realm.modified_by = "admin";
  Record("realm", 0, "prod", keys::EncodeRealmValue(realm));

  v1::Instance proto = HttpInstance();
  proto.set_realm("prod");
  proto.set_health(v1::HEALTH_PASSING);
  proto.set_admin_state(v1::ADMIN_STATE_DRAINING);
  proto.set_admin_reason("maintenance");
  proto.mutable_health_detail()->set_output("HTTP 200\nok");
  proto.mutable_registered_at()->set_seconds(1800000000);
  proto.set_create_revision(3);
  proto.set_modify_revision(9);
  absl::StatusOr<Instance> instance =
      muster::registry::InstanceFromProto(proto, "instance");
  if (!instance.ok()) {
    std::fprintf(stderr, "make_corpus: %s\n",
                 instance.status().ToString().c_str());
    ++failures;
    return;
  }
  const std::string key = *keys::EncodeInstanceKey(instance->Key());
  Record("instance", 1, key, keys::EncodeInstanceValue(*instance));

  muster::registry::Event event;
  event.revision = 9;
  event.type = muster::registry::EventType::kPut;
  event.cause = muster::registry::EventCause::kAdminChanged;
  event.instance = std::make_shared<const Instance>(*instance);
  event.reason = "drained";
  event.time = absl::FromUnixSeconds(1800000100);
  event.actor = "admin";
  Record("event", 2, keys::EncodeChangelogKey(9, 1),
         keys::EncodeEventValue(event));
  Record("counter", 3, "", keys::EncodeUint64(42));

  muster::registry::Token stored;
  stored.name = "deployer";
  stored.role = muster::registry::TokenRole::kWrite;
  stored.realms = {"prod"};
  stored.services = {"api"};
  stored.expires_at = absl::FromUnixSeconds(1900000000);
  stored.secret_hash = std::string(64, 'a');
  Record("token", 4, *keys::EncodeTokenKey(stored.name),
         keys::EncodeTokenValue(stored));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus <fuzz/corpus>\n");
    return 2;
  }
  root = argv[1];
  Requests();
  Records();
  return failures == 0 ? 0 : 1;
}
