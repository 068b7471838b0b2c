#include "registry/index.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/siphash.h"
#include "registry/limits.h"

namespace muster::registry {
namespace {

// What a page token is bound to: the kind of listing and every field of
// the query but the page size.
std::string QueryScope(absl::string_view kind, const ListQuery& query) {
  std::string scope =
      absl::StrCat(kind, "\n", query.realm, "\n", query.service, "\n",
                   query.routable_only ? 1 : 0, "\n", query.zone, "\n");
  for (const std::string& tag : query.tags) {
    absl::StrAppend(&scope, tag.size(), ":", tag, ",");
  }
  absl::StrAppend(&scope, "\n");
  for (const auto& [key, value] : query.metadata) {
    absl::StrAppend(&scope, key.size(), ":", key, "=", value.size(), ":", value,
                    ",");
  }
  return scope;
}

constexpr size_t kMacBytes = 8;

std::string Mac(const SipKey& key, absl::string_view scope,
                absl::string_view position) {
  const uint64_t mac =
      SipHash24(key, absl::StrCat(scope.size(), ":", scope, position));
  std::string out(kMacBytes, '\0');
  for (size_t i = 0; i < kMacBytes; ++i) {
    out[i] = static_cast<char>((mac >> (8 * i)) & 0xff);
  }
  return out;
}

absl::Status NotOurToken() {
  return absl::InvalidArgumentError(
      "page_token: not a token this daemon returned for this query (forged, "
      "altered, from another query, or from before a restart); list again "
      "from the first page");
}

// The key every page token is authenticated with; new at each start.
SipKey RandomKey() {
  std::random_device random;
  auto word = [&random] {
    return (static_cast<uint64_t>(random()) << 32) | random();
  };
  return SipKey{word(), word()};
}

bool HasAllTags(const Instance& instance,
                const std::vector<std::string>& tags) {
  for (const auto& tag : tags) {
    if (!std::binary_search(instance.tags.begin(), instance.tags.end(), tag))
      return false;
  }
  return true;
}

bool HasMetadata(
    const Instance& instance,
    const std::vector<std::pair<std::string, std::string>>& wanted) {
  for (const auto& pair : wanted) {
    auto it = std::lower_bound(
        instance.metadata.begin(), instance.metadata.end(), pair,
        [](const auto& a, const auto& b) { return a.first < b.first; });
    if (it == instance.metadata.end() || it->first != pair.first ||
        it->second != pair.second) {
      return false;
    }
  }
  return true;
}

bool Matches(const Instance& instance, const ListQuery& query) {
  if (query.routable_only && !instance.Routable()) return false;
  if (!query.zone.empty() && instance.zone != query.zone) return false;
  return HasAllTags(instance, query.tags) &&
         HasMetadata(instance, query.metadata);
}

int HealthSlot(Health health) { return static_cast<int>(health) % 5; }

}  // namespace

void Index::Load(StoredState state) {
  absl::MutexLock lock(&mu_);
  realms_.clear();
  instance_count_ = 0;
  for (auto& realm : state.realms) {
    std::string name = realm.name;
    realms_[name].realm = std::move(realm);
  }
  // Stores load in key order, so consecutive instances mostly share their
  // realm and service: look those up only when they change. (Any order
  // loads; this only saves the lookups.)
  RealmState* realm = nullptr;
  const std::string* realm_name = nullptr;
  Service* service = nullptr;
  const std::string* service_name = nullptr;
  for (auto& instance : state.instances) {
    if (realm == nullptr || *realm_name != instance->realm) {
      auto it = realms_.try_emplace(instance->realm).first;
      realm_name = &it->first;
      realm = &it->second;
      if (realm->realm.name.empty()) realm->realm.name = instance->realm;
      service = nullptr;
    }
    if (service == nullptr || *service_name != instance->service) {
      auto it = realm->services.try_emplace(instance->service).first;
      service_name = &it->first;
      service = &it->second;
    }
    PutInServiceLocked(*realm, *service, std::move(instance));
  }
  revision_ = state.revision;
}

void Index::Apply(const CommitBatch& batch) {
  absl::MutexLock lock(&mu_);
  for (const auto& realm : batch.put_realms) {
    realms_[realm.name].realm = realm;
  }
  for (const auto& key : batch.delete_instances) DeleteLocked(key);
  for (const auto& instance : batch.put_instances) {
    PutLocked(std::make_shared<const Instance>(instance));
  }
  for (const auto& name : batch.delete_realms) {
    auto it = realms_.find(name);
    if (it == realms_.end()) continue;
    instance_count_ -= it->second.instances;
    realms_.erase(it);
  }
  revision_ = batch.revision;
}

void Index::PutLocked(std::shared_ptr<const Instance> instance) {
  RealmState& realm = realms_[instance->realm];
  if (realm.realm.name.empty()) realm.realm.name = instance->realm;
  Service& service = realm.services[instance->service];
  PutInServiceLocked(realm, service, std::move(instance));
}

void Index::PutInServiceLocked(RealmState& realm, Service& service,
                               std::shared_ptr<const Instance> instance) {
  // The first entry not before the id: the one to replace, or where the
  // new one goes (a hint that makes an insert in key order cheap).
  auto it = service.instances.lower_bound(absl::string_view(instance->id));
  const bool found = it != service.instances.end() && it->id() == instance->id;
  if (found) {
    const Instance& old = *it->instance;
    if (old.Routable()) {
      --service.routable;
      --realm.routable;
    }
    --realm.by_health[HealthSlot(old.health)];
    // A new incarnation forgets the old one's heartbeats.
    if (old.create_revision != instance->create_revision)
      it->last_heartbeat_ns.store(0, std::memory_order_relaxed);
  } else {
    ++realm.instances;
    ++instance_count_;
  }
  if (instance->Routable()) {
    ++service.routable;
    ++realm.routable;
  }
  ++realm.by_health[HealthSlot(instance->health)];
  if (found) {
    it->instance = std::move(instance);
  } else {
    service.instances.insert(it, Entry(std::move(instance)));
  }
}

void Index::DeleteLocked(const InstanceKey& key) {
  auto realm_it = realms_.find(key.realm);
  if (realm_it == realms_.end()) return;
  RealmState& realm = realm_it->second;
  auto service_it = realm.services.find(key.service);
  if (service_it == realm.services.end()) return;
  Service& service = service_it->second;
  auto it = service.instances.find(absl::string_view(key.id));
  if (it == service.instances.end()) return;
  const Instance& old = *it->instance;
  if (old.Routable()) {
    --service.routable;
    --realm.routable;
  }
  --realm.by_health[HealthSlot(old.health)];
  --realm.instances;
  --instance_count_;
  service.instances.erase(it);
  if (service.instances.empty()) realm.services.erase(service_it);
}

const Index::Entry* Index::FindLocked(const InstanceKey& key) const {
  auto realm_it = realms_.find(key.realm);
  if (realm_it == realms_.end()) return nullptr;
  auto service_it = realm_it->second.services.find(key.service);
  if (service_it == realm_it->second.services.end()) return nullptr;
  auto it = service_it->second.instances.find(absl::string_view(key.id));
  if (it == service_it->second.instances.end()) return nullptr;
  return &*it;
}

uint64_t Index::revision() const {
  absl::ReaderMutexLock lock(&mu_);
  return revision_;
}

std::shared_ptr<const Instance> Index::FindInstance(
    const InstanceKey& key) const {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* entry = FindLocked(key);
  return entry == nullptr ? nullptr : entry->instance;
}

std::optional<Realm> Index::FindRealm(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = realms_.find(name);
  if (it == realms_.end()) return std::nullopt;
  return it->second.realm;
}

std::vector<std::shared_ptr<const Instance>> Index::RealmInstances(
    const std::string& realm) const {
  std::vector<std::shared_ptr<const Instance>> out;
  absl::ReaderMutexLock lock(&mu_);
  auto it = realms_.find(realm);
  if (it == realms_.end()) return out;
  out.reserve(it->second.instances);
  for (const auto& [name, service] : it->second.services) {
    for (const Entry& entry : service.instances) out.push_back(entry.instance);
  }
  return out;
}

absl::StatusOr<std::vector<std::shared_ptr<const Instance>>> Index::Snapshot(
    const std::string& realm, const std::string& service,
    uint64_t* revision) const {
  std::vector<std::shared_ptr<const Instance>> out;
  absl::ReaderMutexLock lock(&mu_);
  auto it = realms_.find(realm);
  if (it == realms_.end()) {
    return absl::NotFoundError(absl::StrCat("realm \"", realm, "\" not found"));
  }
  for (const auto& [name, svc] : it->second.services) {
    if (!service.empty() && name != service) continue;
    for (const Entry& entry : svc.instances) out.push_back(entry.instance);
  }
  *revision = revision_;
  return out;
}

std::vector<std::shared_ptr<const Instance>> Index::AllInstances(
    uint64_t* revision) const {
  std::vector<std::shared_ptr<const Instance>> out;
  absl::ReaderMutexLock lock(&mu_);
  out.reserve(instance_count_);
  for (const auto& [realm_name, realm] : realms_) {
    for (const auto& [name, service] : realm.services) {
      for (const Entry& entry : service.instances)
        out.push_back(entry.instance);
    }
  }
  *revision = revision_;
  return out;
}

Index::Index() : token_key_(RandomKey()) {}

std::string Index::EncodeToken(absl::string_view scope,
                               absl::string_view position) const {
  return absl::WebSafeBase64Escape(
      absl::StrCat(position, Mac(token_key_, scope, position)));
}

absl::StatusOr<std::string> Index::DecodeToken(absl::string_view scope,
                                               absl::string_view token) const {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < kMacBytes) {
    return NotOurToken();
  }
  const absl::string_view position(raw.data(), raw.size() - kMacBytes);
  if (Mac(token_key_, scope, position) !=
      absl::string_view(raw).substr(raw.size() - kMacBytes)) {
    return NotOurToken();
  }
  return std::string(position);
}

absl::StatusOr<InstancePage> Index::List(const ListQuery& query) const {
  const std::string scope = QueryScope("instances", query);
  std::string after_service;
  std::string after_id;
  const bool resume = !query.page_token.empty();
  if (resume) {
    // The position: the last instance returned, "service\0id".
    absl::StatusOr<std::string> position = DecodeToken(scope, query.page_token);
    if (!position.ok()) return position.status();
    const size_t sep = position->find('\0');
    if (sep == std::string::npos) return NotOurToken();
    after_service = position->substr(0, sep);
    after_id = position->substr(sep + 1);
  }
  const size_t page_size =
      query.page_size == 0 ? limits::kDefaultPageSize : query.page_size;

  InstancePage page;
  size_t bytes = 0;
  absl::ReaderMutexLock lock(&mu_);
  auto realm_it = realms_.find(query.realm);
  if (realm_it == realms_.end()) {
    return absl::NotFoundError(
        absl::StrCat("realm \"", query.realm, "\" not found"));
  }
  page.revision = revision_;
  const auto& services = realm_it->second.services;
  auto service_it = services.begin();
  if (!query.service.empty()) {
    service_it = services.find(query.service);
  } else if (resume) {
    service_it = services.lower_bound(after_service);
  }
  for (; service_it != services.end(); ++service_it) {
    const auto& instances = service_it->second.instances;
    auto it = instances.begin();
    if (resume && service_it->first == after_service)
      it = instances.upper_bound(absl::string_view(after_id));
    for (; it != instances.end(); ++it) {
      const Instance& instance = *it->instance;
      if (!Matches(instance, query)) continue;
      const size_t size = EncodedSizeBound(instance);
      if (page.instances.size() == page_size ||
          (!page.instances.empty() && bytes + size > limits::kMaxReplyBytes)) {
        const Instance& last = *page.instances.back();
        page.next_page_token = EncodeToken(
            scope, absl::StrCat(last.service, std::string(1, '\0'), last.id));
        return page;
      }
      bytes += size;
      page.instances.push_back(it->instance);
    }
    if (!query.service.empty()) break;
  }
  return page;
}

absl::StatusOr<std::vector<ServiceCounts>> Index::Services(
    const std::string& realm, uint64_t* revision) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = realms_.find(realm);
  if (it == realms_.end()) {
    return absl::NotFoundError(absl::StrCat("realm \"", realm, "\" not found"));
  }
  std::vector<ServiceCounts> out;
  out.reserve(it->second.services.size());
  for (const auto& [name, service] : it->second.services) {
    out.push_back(
        ServiceCounts{name, service.instances.size(), service.routable});
  }
  *revision = revision_;
  return out;
}

absl::StatusOr<ServicesPage> Index::ServicesPaged(
    const std::string& realm, uint32_t page_size,
    const std::string& page_token) const {
  const std::string scope = absl::StrCat("services\n", realm);
  std::string after;
  if (!page_token.empty()) {
    absl::StatusOr<std::string> position = DecodeToken(scope, page_token);
    if (!position.ok()) return position.status();
    after = *std::move(position);
  }
  absl::ReaderMutexLock lock(&mu_);
  auto it = realms_.find(realm);
  if (it == realms_.end()) {
    return absl::NotFoundError(absl::StrCat("realm \"", realm, "\" not found"));
  }
  ServicesPage page;
  page.revision = revision_;
  const auto& services = it->second.services;
  size_t bytes = 0;
  for (auto service = page_token.empty() ? services.begin()
                                         : services.upper_bound(after);
       service != services.end(); ++service) {
    // The name with its header, two counts, the entry's header.
    const size_t size = 32 + service->first.size();
    if ((page_size != 0 && page.services.size() == page_size) ||
        (!page.services.empty() && bytes + size > limits::kMaxReplyBytes)) {
      page.next_page_token = EncodeToken(scope, page.services.back().name);
      return page;
    }
    bytes += size;
    page.services.push_back(ServiceCounts{service->first,
                                          service->second.instances.size(),
                                          service->second.routable});
  }
  return page;
}

std::vector<RealmCounts> Index::Realms(uint64_t* revision) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<RealmCounts> out;
  out.reserve(realms_.size());
  for (const auto& [name, realm] : realms_) {
    RealmCounts counts;
    counts.realm = realm.realm;
    counts.instances = realm.instances;
    counts.routable = realm.routable;
    counts.services = realm.services.size();
    std::copy(std::begin(realm.by_health), std::end(realm.by_health),
              counts.by_health);
    out.push_back(std::move(counts));
  }
  *revision = revision_;
  return out;
}

uint64_t Index::InstanceCount() const {
  absl::ReaderMutexLock lock(&mu_);
  return instance_count_;
}

absl::StatusOr<std::shared_ptr<const Instance>> Index::Heartbeat(
    const InstanceKey& key, uint64_t incarnation, absl::Time at) {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* entry = FindLocked(key);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("instance \"", key.id, "\" not found in service \"",
                     key.service, "\" (realm \"", key.realm, "\")"));
  }
  if (entry->instance->create_revision != incarnation) {
    return absl::FailedPreconditionError(absl::StrCat(
        "instance \"", key.id, "\" of service \"", key.service, "\" (realm \"",
        key.realm, "\") is incarnation ", entry->instance->create_revision,
        ", not ", incarnation, "; register again"));
  }
  entry->last_heartbeat_ns.store(absl::ToUnixNanos(at),
                                 std::memory_order_relaxed);
  return entry->instance;
}

std::optional<absl::Time> Index::LastHeartbeat(const InstanceKey& key) const {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* entry = FindLocked(key);
  if (entry == nullptr) return std::nullopt;
  int64_t ns = entry->last_heartbeat_ns.load(std::memory_order_relaxed);
  if (ns == 0) return std::nullopt;
  return absl::FromUnixNanos(ns);
}

}  // namespace muster::registry
