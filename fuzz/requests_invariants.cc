#include "fuzz/requests_invariants.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "codec/model_proto.h"
#include "codec/token_proto.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/util/message_differencer.h"
#include "muster/v1/tokens.pb.h"
#include "muster/v1/types.pb.h"
#include "registry/limits.h"
#include "registry/validation.h"
#include "store/layout/keys.h"

namespace muster::fuzz {
namespace {

using absl::StatusCode;
using registry::Instance;
using registry::Realm;
namespace keys = registry::keys;

// The request fields an INVALID_ARGUMENT may start with.
const std::set<std::string>& FieldRoots() {
  static const auto* roots = new std::set<std::string>{
      "realm",         "service",          "id",
      "incarnation",   "instance",         "admin_state",
      "reason",        "page_size",        "page_token",
      "tags",          "metadata",         "zone",
      "name",          "settings",         "update_mask",
      "from_revision", "from_event_index", "limit",
      "realms",        "services",         "role",
      "expires_at"};
  return *roots;
}

template <typename Proto, typename Model>
Proto AsProto(const Model& model) {
  Proto proto;
  registry::ToProto(model, &proto);
  return proto;
}

template <typename Proto, typename Model>
bool Same(const Model& a, const Model& b) {
  return google::protobuf::util::MessageDifferencer::Equals(AsProto<Proto>(a),
                                                            AsProto<Proto>(b));
}

bool HasTag(const Instance& instance, const std::string& tag) {
  return std::binary_search(instance.tags.begin(), instance.tags.end(), tag);
}

bool HasPair(const Instance& instance,
             const std::pair<std::string, std::string>& pair) {
  for (const auto& kept : instance.metadata) {
    if (kept == pair) return true;
  }
  return false;
}

}  // namespace

void CheckRefusal(const absl::Status& status, absl::string_view rpc,
                  std::initializer_list<StatusCode> allowed) {
  const std::string text = status.ToString();
  FUZZ_CHECK(!status.ok(), "%.*s: a refusal that is OK",
             static_cast<int>(rpc.size()), rpc.data());
  FUZZ_CHECK(
      std::find(allowed.begin(), allowed.end(), status.code()) != allowed.end(),
      "%.*s answered an unexpected code: %s", static_cast<int>(rpc.size()),
      rpc.data(), text.c_str());
  if (status.code() != StatusCode::kInvalidArgument) return;
  const absl::string_view message = status.message();
  size_t end = 0;
  while (end < message.size() &&
         (absl::ascii_islower(message[end]) || message[end] == '_')) {
    ++end;
  }
  const bool named =
      end < message.size() &&
      FieldRoots().count(std::string(message.substr(0, end))) &&
      (message[end] == '.' || message[end] == '[' || message[end] == ':');
  FUZZ_CHECK(named, "%.*s: INVALID_ARGUMENT names no field first: %s",
             static_cast<int>(rpc.size()), rpc.data(), text.c_str());
}

void CheckStoredInstance(registry::Registry& registry,
                         const Instance& instance) {
  absl::StatusOr<std::shared_ptr<const Instance>> held =
      registry.instances().Get(instance.Key());
  FUZZ_CHECK(held.ok(), "%s answered but not held: %s",
             instance.Key().ToString().c_str(),
             held.status().ToString().c_str());
  FUZZ_CHECK((Same<muster::v1::Instance>(**held, instance)),
             "%s: the index holds something else than was answered",
             instance.Key().ToString().c_str());
  // What the registry keeps is a valid registration.
  const absl::Status valid = registry::ValidateRegistration(instance);
  FUZZ_CHECK(valid.ok(), "%s stored but invalid: %s",
             instance.Key().ToString().c_str(), valid.ToString().c_str());
  // A response carries it as a muster.v1.Instance; a client reads it back.
  absl::StatusOr<Instance> read = registry::InstanceFromProto(
      AsProto<muster::v1::Instance>(instance), "instance");
  FUZZ_CHECK(read.ok() && (Same<muster::v1::Instance>(*read, instance)),
             "%s: the response proto does not round-trip: %s",
             instance.Key().ToString().c_str(),
             read.status().ToString().c_str());
  // RocksDbStore writes it under its key and reads it back at start-up.
  absl::StatusOr<std::string> key = keys::EncodeInstanceKey(instance.Key());
  FUZZ_CHECK(key.ok(), "%s has no store key: %s",
             instance.Key().ToString().c_str(),
             key.status().ToString().c_str());
  absl::StatusOr<Instance> loaded =
      keys::DecodeInstanceRecord(*key, keys::EncodeInstanceValue(instance));
  FUZZ_CHECK(loaded.ok() && (Same<muster::v1::Instance>(*loaded, instance)),
             "%s: the store record does not round-trip: %s",
             instance.Key().ToString().c_str(),
             loaded.status().ToString().c_str());
}

void CheckStoredRealm(registry::Registry& registry, const Realm& realm) {
  absl::StatusOr<Realm> held = registry.realms().Get(realm.name);
  FUZZ_CHECK(held.ok() && (Same<muster::v1::Realm>(*held, realm)),
             "realm %s: the index holds something else than was answered",
             realm.name.c_str());
  const absl::Status valid = registry::ValidateRealmSettings(realm);
  FUZZ_CHECK(valid.ok(), "realm %s stored but invalid: %s", realm.name.c_str(),
             valid.ToString().c_str());
  absl::StatusOr<Realm> read =
      registry::RealmFromProto(AsProto<muster::v1::Realm>(realm), "realm");
  FUZZ_CHECK(read.ok() && (Same<muster::v1::Realm>(*read, realm)),
             "realm %s: the response proto does not round-trip",
             realm.name.c_str());
  absl::StatusOr<std::string> key = keys::EncodeRealmKey(realm.name);
  FUZZ_CHECK(key.ok(), "realm %s has no store key", realm.name.c_str());
  absl::StatusOr<Realm> loaded =
      keys::DecodeRealmRecord(*key, keys::EncodeRealmValue(realm));
  FUZZ_CHECK(loaded.ok() && (Same<muster::v1::Realm>(*loaded, realm)),
             "realm %s: the store record does not round-trip: %s",
             realm.name.c_str(), loaded.status().ToString().c_str());
}

void CheckStoredToken(registry::Registry& registry,
                      const registry::Token& token) {
  absl::StatusOr<registry::Token> held = registry.tokens().Get(token.name);
  FUZZ_CHECK(held.ok(), "token %s answered but not held: %s",
             token.name.c_str(), held.status().ToString().c_str());
  muster::v1::StoredToken stored;
  registry::ToProto(*held, &stored);
  muster::v1::StoredToken answered;
  registry::ToProto(token, &answered);
  FUZZ_CHECK(
      google::protobuf::util::MessageDifferencer::Equals(stored, answered),
      "token %s: the registry holds something else than was answered",
      token.name.c_str());
  muster::v1::Token api;
  registry::ToProto(token, &api);
  FUZZ_CHECK(
      token.secret_hash.empty() ||
          api.SerializeAsString().find(token.secret_hash) == std::string::npos,
      "token %s: the API message carries the secret's hash",
      token.name.c_str());
  absl::StatusOr<std::string> key = keys::EncodeTokenKey(token.name);
  FUZZ_CHECK(key.ok(), "token %s has no store key", token.name.c_str());
  absl::StatusOr<registry::Token> loaded =
      keys::DecodeTokenRecord(*key, keys::EncodeTokenValue(token));
  FUZZ_CHECK(loaded.ok(), "token %s: the store record does not decode: %s",
             token.name.c_str(), loaded.status().ToString().c_str());
  muster::v1::StoredToken reloaded;
  registry::ToProto(*loaded, &reloaded);
  FUZZ_CHECK(
      google::protobuf::util::MessageDifferencer::Equals(reloaded, answered),
      "token %s: the store record does not round-trip", token.name.c_str());
}

void CheckListInstances(registry::Registry& registry,
                        const registry::ListQuery& query) {
  auto page = registry.instances().List(query);
  if (!page.ok()) {
    return CheckRefusal(page.status(), "ListInstances",
                        {StatusCode::kInvalidArgument, StatusCode::kNotFound});
  }
  const size_t page_size = query.page_size == 0
                               ? registry::limits::kDefaultPageSize
                               : query.page_size;
  FUZZ_CHECK(page->instances.size() <= page_size,
             "%zu instances on a page "
             "of %zu",
             page->instances.size(), page_size);
  const std::string realm =
      query.realm.empty() ? registry::kDefaultRealm : query.realm;
  for (const auto& instance : page->instances) {
    const std::string key = instance->Key().ToString();
    FUZZ_CHECK(instance->realm == realm, "%s listed for realm %s", key.c_str(),
               realm.c_str());
    FUZZ_CHECK(query.service.empty() || instance->service == query.service,
               "%s listed for service %s", key.c_str(), query.service.c_str());
    FUZZ_CHECK(query.zone.empty() || instance->zone == query.zone,
               "%s listed for zone %s", key.c_str(), query.zone.c_str());
    FUZZ_CHECK(!query.routable_only || instance->Routable(),
               "%s listed as routable", key.c_str());
    for (const std::string& tag : query.tags) {
      FUZZ_CHECK(HasTag(*instance, tag), "%s listed without its tag",
                 key.c_str());
    }
    for (const auto& pair : query.metadata) {
      FUZZ_CHECK(HasPair(*instance, pair), "%s listed without its metadata",
                 key.c_str());
    }
  }
  if (page->next_page_token.empty()) return;
  registry::ListQuery next = query;
  next.page_token = page->next_page_token;
  auto following = registry.instances().List(next);
  FUZZ_CHECK(following.ok(), "ListInstances refuses its own page token: %s",
             following.status().ToString().c_str());
}

void CheckListServices(registry::Registry& registry, const std::string& realm,
                       uint32_t page_size, const std::string& page_token) {
  auto page = registry.instances().ListServices(realm, page_size, page_token);
  if (!page.ok()) {
    return CheckRefusal(page.status(), "ListServices",
                        {StatusCode::kInvalidArgument, StatusCode::kNotFound});
  }
  FUZZ_CHECK(page_size == 0 || page->services.size() <= page_size,
             "%zu services on a page of %u", page->services.size(), page_size);
  for (size_t i = 1; i < page->services.size(); ++i) {
    FUZZ_CHECK(page->services[i - 1].name < page->services[i].name,
               "services out of order");
  }
  if (page->next_page_token.empty()) return;
  auto following = registry.instances().ListServices(realm, page_size,
                                                     page->next_page_token);
  FUZZ_CHECK(following.ok(), "ListServices refuses its own page token: %s",
             following.status().ToString().c_str());
}

void CheckListEvents(registry::Registry& registry,
                     const registry::ChangeLog::EventsQuery& query) {
  auto page = registry.change_log().ListEvents(query);
  if (!page.ok()) {
    return CheckRefusal(page.status(), "ListEvents",
                        {StatusCode::kInvalidArgument, StatusCode::kNotFound,
                         StatusCode::kOutOfRange});
  }
  FUZZ_CHECK(query.limit == 0 || page->events.size() <= query.limit,
             "%zu events for a limit of %u", page->events.size(), query.limit);
  const std::string realm =
      query.filter.realm.empty() ? registry::kDefaultRealm : query.filter.realm;
  uint64_t previous = 0;
  for (const registry::Event& event : page->events) {
    FUZZ_CHECK(event.instance != nullptr, "an event without its instance");
    FUZZ_CHECK(event.revision >= previous, "events out of order");
    FUZZ_CHECK(event.revision >= query.from_revision,
               "event %llu before from_revision %llu",
               static_cast<unsigned long long>(event.revision),
               static_cast<unsigned long long>(query.from_revision));
    previous = event.revision;
    FUZZ_CHECK(event.instance->realm == realm, "an event of another realm");
    FUZZ_CHECK(query.filter.service.empty() ||
                   event.instance->service == query.filter.service,
               "an event of another service");
    FUZZ_CHECK(query.filter.id.empty() || event.instance->id == query.filter.id,
               "an event of another instance");
  }
}

}  // namespace muster::fuzz
