#include "fuzz/registry_world.h"

#include <set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace muster::fuzz {
namespace {

using registry::Instance;
using registry::InstanceKey;
using registry::InstancePage;
using registry::Instances;
using registry::ListQuery;
using registry::Realm;
using registry::Realms;

constexpr char kProd[] = "prod";

Realm ProdRealm() {
  Realm realm;
  realm.name = kProd;
  realm.description = "production";
  realm.eviction_protection_share = 0.5;
  realm.default_deregister_after = absl::Minutes(30);
  return realm;
}

// The seeded instances, as a client registers them (realm left empty:
// the request names it).
std::vector<std::pair<std::string, Instance>> SeedInstances() {
  std::vector<std::pair<std::string, Instance>> seeds;
  Instance web1;
  web1.service = "web";
  web1.id = "web-1";
  web1.address = "10.0.0.1";
  web1.port = 8080;
  web1.tags = {"blue", "http"};
  web1.metadata = {{"team", "core"}};
  web1.zone = "z1";
  web1.version = "1.2.3";
  web1.mutable_check()->kind = CheckKind::kHttp;
  web1.mutable_check()->http_url = "http://10.0.0.1:8080/healthz";
  web1.mutable_check()->interval = absl::Seconds(10);
  seeds.emplace_back(registry::kDefaultRealm, web1);
  Instance web2 = web1;
  web2.id = "web-2";
  web2.address = "10.0.0.2";
  web2.tags = {"green"};
  web2.zone = "z2";
  web2.set_check(CheckSpec());
  web2.mutable_check()->kind = CheckKind::kTtl;
  web2.mutable_check()->ttl = absl::Seconds(30);
  seeds.emplace_back(registry::kDefaultRealm, web2);
  Instance db;
  db.service = "db";
  db.id = "db-1";
  db.address = "db.internal";
  db.port = 5432;
  db.mutable_check()->kind = CheckKind::kTcp;
  seeds.emplace_back(registry::kDefaultRealm, db);
  Instance api;
  api.service = "api";
  api.id = "api-1";
  api.address = "fd00::1";
  api.port = 9090;
  api.mutable_check()->kind = CheckKind::kGrpc;
  api.mutable_check()->grpc_service = "muster.Api";
  seeds.emplace_back(kProd, api);
  return seeds;
}

// Every instance of `realm`, page by page.
std::vector<std::shared_ptr<const Instance>> AllOf(registry::Registry& registry,
                                                   const std::string& realm) {
  std::vector<std::shared_ptr<const Instance>> all;
  ListQuery query;
  query.realm = realm;
  query.page_size = registry::limits::kMaxPageSize;
  while (true) {
    absl::StatusOr<InstancePage> page = registry.instances().List(query);
    FUZZ_CHECK(page.ok(), "listing %s: %s", realm.c_str(),
               page.status().ToString().c_str());
    all.insert(all.end(), page->instances.begin(), page->instances.end());
    if (page->next_page_token.empty()) return all;
    query.page_token = page->next_page_token;
  }
}

}  // namespace

RegistryWorld::RegistryWorld() {
  registry::Registry::Options options;
  // The change log stays small: every input's writes land in it.
  options.changelog_retention = 1000;
  options.id_generator = [this] { return absl::StrCat("gen-", next_id_++); };
  absl::StatusOr<std::unique_ptr<registry::Registry>> created =
      registry::Registry::Create(std::move(options), store_, clock_, metrics_);
  FUZZ_CHECK(created.ok(), "Registry::Create: %s",
             created.status().ToString().c_str());
  registry_ = *std::move(created);
  const absl::Status started = registry_->Start();
  FUZZ_CHECK(started.ok(), "Registry::Start: %s", started.ToString().c_str());
  Seed();
}

RegistryWorld::~RegistryWorld() { registry_->Stop(); }

void RegistryWorld::Seed() {
  if (!registry_->realms().Get(kProd).ok()) {
    absl::StatusOr<Realm> created =
        Await<Realm>([this](registry::Callback<Realm> done) {
          registry_->realms().Create(ProdRealm(), kFuzzActor, std::move(done));
        });
    FUZZ_CHECK(created.ok(), "seeding realm prod: %s",
               created.status().ToString().c_str());
  }
  for (auto& [realm, instance] : SeedInstances()) {
    absl::StatusOr<Instances::RegisterResult> registered =
        Await<Instances::RegisterResult>(
            [&, realm = realm, instance = instance](
                registry::Callback<Instances::RegisterResult> done) {
              registry_->instances().Register(realm, instance, kFuzzActor,
                                              std::move(done));
            });
    FUZZ_CHECK(registered.ok(), "seeding %s/%s: %s", realm.c_str(),
               instance.id.c_str(), registered.status().ToString().c_str());
    const InstanceKey key{realm, instance.service, instance.id};
    absl::StatusOr<std::shared_ptr<const Instance>> enabled =
        Await<std::shared_ptr<const Instance>>(
            [&](registry::Callback<std::shared_ptr<const Instance>> done) {
              registry_->instances().SetAdminState(
                  key, AdminState::kEnabled, "", kFuzzActor, std::move(done));
            });
    FUZZ_CHECK(enabled.ok(), "enabling %s: %s", key.ToString().c_str(),
               enabled.status().ToString().c_str());
  }
}

void RegistryWorld::Restore() {
  std::set<std::string> seeded_realms = {registry::kDefaultRealm, kProd};
  for (const registry::RealmCounts& counts :
       registry_->realms().List().realms) {
    const std::string& name = counts.realm.name;
    if (seeded_realms.count(name) != 0) continue;
    absl::StatusOr<Realms::DeleteResult> deleted = Await<Realms::DeleteResult>(
        [&](registry::Callback<Realms::DeleteResult> done) {
          registry_->realms().Delete(name, /*force=*/true, kFuzzActor,
                                     std::move(done));
        });
    FUZZ_CHECK(deleted.ok(), "deleting realm %s: %s", name.c_str(),
               deleted.status().ToString().c_str());
  }
  // The seeded realms' settings, as seeded.
  for (const std::string& name : seeded_realms) {
    absl::StatusOr<Realm> realm = registry_->realms().Get(name);
    if (!realm.ok()) continue;  // Seed() re-creates it.
    Realm want = name == kProd ? ProdRealm() : Realm();
    if (name != kProd) want.description = "created by musterd";
    Realms::SettingsUpdate update;
    update.name = name;
    update.description = want.description;
    update.eviction_protection_share = want.eviction_protection_share;
    update.default_deregister_after = want.default_deregister_after;
    absl::StatusOr<Realm> updated =
        Await<Realm>([&](registry::Callback<Realm> done) {
          registry_->realms().Update(update, kFuzzActor, std::move(done));
        });
    FUZZ_CHECK(updated.ok(), "restoring realm %s: %s", name.c_str(),
               updated.status().ToString().c_str());
  }
  std::set<InstanceKey> seeded;
  for (const auto& [realm, instance] : SeedInstances()) {
    seeded.insert(InstanceKey{realm, instance.service, instance.id});
  }
  for (const std::string& realm : seeded_realms) {
    if (!registry_->realms().Get(realm).ok()) continue;
    for (const auto& instance : AllOf(*registry_, realm)) {
      if (seeded.count(instance->Key()) != 0) continue;
      absl::StatusOr<uint64_t> gone =
          Await<uint64_t>([&](registry::Callback<uint64_t> done) {
            registry_->instances().Deregister(instance->Key(), 0, kFuzzActor,
                                              std::move(done));
          });
      FUZZ_CHECK(gone.ok(), "deregistering %s: %s",
                 instance->Key().ToString().c_str(),
                 gone.status().ToString().c_str());
    }
  }
  Seed();
}

}  // namespace muster::fuzz
