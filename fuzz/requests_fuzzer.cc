// Fuzzes every RPC of muster.v1.Registry, muster.v1.Realms and
// muster.v1.Tokens the way the
// server runs it: byte 0 picks the RPC, the rest is parsed as its request
// message (an unparseable body is refused by gRPC before any of our code
// runs, so it is skipped), then the conversion the service runs (codec/)
// and the registry part it calls, on a real in-process registry on the
// memory store (fuzz/registry_world.h), which validates, commits and
// serves it.
//
// Invariants: nothing crashes or hangs; a refusal has one of the codes
// the RPC documents (never INTERNAL, UNKNOWN, DATA_LOSS or UNAVAILABLE),
// and an INVALID_ARGUMENT names the field first ("instance.port: ...");
// what is accepted is valid, reads back as written, survives the proto
// round trip of a response and the RocksDB record round trip of the
// store; list pages hold only what the filter asks for, at most
// page_size, and their next_page_token is accepted.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "codec/model_proto.h"
#include "codec/realm_request.h"
#include "codec/token_proto.h"
#include "common/logging.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/registry_world.h"
#include "fuzz/requests_invariants.h"
#include "google/protobuf/stubs/logging.h"
#include "muster/v1/realm.pb.h"
#include "muster/v1/registry.pb.h"
#include "muster/v1/tokens.pb.h"
#include "registry/validation.h"

namespace muster::fuzz {
namespace {

using absl::StatusCode;
using registry::Callback;
using registry::Instance;
using registry::InstanceKey;
using registry::Instances;
using registry::Realm;
using registry::Realms;

RegistryWorld* world = nullptr;

// Set when an input changed the registry; Restore() then runs.
bool dirty = false;

template <typename Request>
bool Parse(absl::string_view bytes, Request& request) {
  return request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

template <typename T>
void Expect(const absl::StatusOr<T>& result, absl::string_view rpc,
            std::initializer_list<StatusCode> allowed) {
  if (result.ok()) {
    dirty = true;
    return;
  }
  CheckRefusal(result.status(), rpc, allowed);
}

InstanceKey KeyOf(const std::string& realm, const std::string& service,
                  const std::string& id) {
  return InstanceKey{realm, service, id};
}

void Register(absl::string_view bytes) {
  muster::v1::RegisterRequest request;
  if (!Parse(bytes, request)) return;
  absl::StatusOr<Instance> instance = registry::RegistrationFromProto(request);
  if (!instance.ok()) {
    return CheckRefusal(instance.status(), "Register",
                        {StatusCode::kInvalidArgument});
  }
  auto result = Await<Instances::RegisterResult>(
      [&](Callback<Instances::RegisterResult> done) {
        world->registry().instances().Register(request.realm(), *instance,
                                               kFuzzActor, std::move(done));
      });
  Expect(result, "Register",
         {StatusCode::kInvalidArgument, StatusCode::kNotFound,
          StatusCode::kFailedPrecondition, StatusCode::kResourceExhausted});
  if (!result.ok()) return;
  CheckStoredInstance(world->registry(), *result->instance);
  // The same registration again (under the id it got) writes nothing.
  instance->id = result->instance->id;
  auto again = Await<Instances::RegisterResult>(
      [&](Callback<Instances::RegisterResult> done) {
        world->registry().instances().Register(request.realm(), *instance,
                                               kFuzzActor, std::move(done));
      });
  FUZZ_CHECK(again.ok() && !again->created &&
                 again->instance->SameRegistration(*result->instance),
             "registering %s again: %s",
             result->instance->Key().ToString().c_str(),
             again.status().ToString().c_str());
}

void Deregister(absl::string_view bytes) {
  muster::v1::DeregisterRequest request;
  if (!Parse(bytes, request)) return;
  auto result = Await<uint64_t>([&](Callback<uint64_t> done) {
    world->registry().instances().Deregister(
        KeyOf(request.realm(), request.service(), request.id()),
        request.incarnation(), kFuzzActor, std::move(done));
  });
  Expect(result, "Deregister",
         {StatusCode::kInvalidArgument, StatusCode::kNotFound,
          StatusCode::kFailedPrecondition});
}

void Heartbeat(absl::string_view bytes) {
  muster::v1::HeartbeatRequest request;
  if (!Parse(bytes, request)) return;
  auto result = Await<std::shared_ptr<const Instance>>(
      [&](Callback<std::shared_ptr<const Instance>> done) {
        world->registry().instances().Heartbeat(
            KeyOf(request.realm(), request.service(), request.id()),
            request.incarnation(), kFuzzActor, std::move(done));
      });
  Expect(result, "Heartbeat",
         {StatusCode::kInvalidArgument, StatusCode::kNotFound,
          StatusCode::kFailedPrecondition});
}

void SetAdminState(absl::string_view bytes) {
  muster::v1::SetAdminStateRequest request;
  if (!Parse(bytes, request)) return;
  // RegistryService::SetAdminState's own check, before the registry.
  if (request.admin_state() != muster::v1::ADMIN_STATE_ENABLED &&
      request.admin_state() != muster::v1::ADMIN_STATE_DRAINING) {
    return;
  }
  const AdminState state =
      request.admin_state() == muster::v1::ADMIN_STATE_DRAINING
          ? AdminState::kDraining
          : AdminState::kEnabled;
  auto result = Await<std::shared_ptr<const Instance>>(
      [&](Callback<std::shared_ptr<const Instance>> done) {
        world->registry().instances().SetAdminState(
            KeyOf(request.realm(), request.service(), request.id()), state,
            request.reason(), kFuzzActor, std::move(done));
      });
  Expect(result, "SetAdminState",
         {StatusCode::kInvalidArgument, StatusCode::kNotFound});
  if (result.ok()) {
    FUZZ_CHECK((*result)->admin_state == state, "admin state not applied");
    CheckStoredInstance(world->registry(), **result);
  }
}

void GetInstance(absl::string_view bytes) {
  muster::v1::GetInstanceRequest request;
  if (!Parse(bytes, request)) return;
  auto result = world->registry().instances().Get(
      KeyOf(request.realm(), request.service(), request.id()));
  if (!result.ok()) {
    return CheckRefusal(result.status(), "GetInstance",
                        {StatusCode::kInvalidArgument, StatusCode::kNotFound});
  }
  CheckStoredInstance(world->registry(), **result);
}

void ListInstances(absl::string_view bytes) {
  muster::v1::ListInstancesRequest request;
  if (!Parse(bytes, request)) return;
  // As RegistryService::ListInstances builds it.
  registry::ListQuery query;
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
  CheckListInstances(world->registry(), query);
}

void ListServices(absl::string_view bytes) {
  muster::v1::ListServicesRequest request;
  if (!Parse(bytes, request)) return;
  CheckListServices(world->registry(), request.realm(), request.page_size(),
                    request.page_token());
}

void Watch(absl::string_view bytes) {
  muster::v1::WatchRequest request;
  if (!Parse(bytes, request)) return;
  registry::WatchSpec spec;
  spec.realm = request.realm();
  spec.service = request.service();
  spec.from_revision = request.from_revision();
  spec.progress_notify = request.progress_notify();
  auto watcher = world->registry().change_log().OpenWatch(spec, [] {});
  if (!watcher.ok()) {
    return CheckRefusal(watcher.status(), "Watch",
                        {StatusCode::kInvalidArgument, StatusCode::kNotFound,
                         StatusCode::kOutOfRange});
  }
  world->registry().change_log().CloseWatch(*watcher);
}

void ListEvents(absl::string_view bytes) {
  muster::v1::ListEventsRequest request;
  if (!Parse(bytes, request)) return;
  registry::ChangeLog::EventsQuery query;
  query.filter = KeyOf(request.realm(), request.service(), request.id());
  query.from_revision = request.from_revision();
  query.from_event_index = request.from_event_index();
  query.limit = request.limit();
  CheckListEvents(world->registry(), query);
}

void ServerInfo(absl::string_view bytes) {
  muster::v1::GetServerInfoRequest request;
  if (!Parse(bytes, request)) return;
  const registry::ChangeLog::Stats stats =
      world->registry().change_log().GetStats();
  FUZZ_CHECK(stats.oldest_retained_revision <= stats.revision + 1,
             "oldest retained revision above the revision");
}

void Ping(absl::string_view bytes) {
  // Ping carries nothing and runs nothing but the parse.
  muster::v1::PingRequest request;
  Parse(bytes, request);
}

void CreateRealm(absl::string_view bytes) {
  muster::v1::CreateRealmRequest request;
  if (!Parse(bytes, request)) return;
  absl::StatusOr<Realm> realm =
      registry::RealmFromRequest(request.name(), request.settings());
  if (!realm.ok()) {
    return CheckRefusal(realm.status(), "CreateRealm",
                        {StatusCode::kInvalidArgument});
  }
  auto result = Await<Realm>([&](Callback<Realm> done) {
    world->registry().realms().Create(*realm, kFuzzActor, std::move(done));
  });
  Expect(result, "CreateRealm",
         {StatusCode::kInvalidArgument, StatusCode::kAlreadyExists});
  if (result.ok()) CheckStoredRealm(world->registry(), *result);
}

void GetRealm(absl::string_view bytes) {
  muster::v1::GetRealmRequest request;
  if (!Parse(bytes, request)) return;
  absl::StatusOr<Realm> realm = world->registry().realms().Get(request.name());
  if (!realm.ok()) {
    return CheckRefusal(realm.status(), "GetRealm",
                        {StatusCode::kInvalidArgument, StatusCode::kNotFound});
  }
  CheckStoredRealm(world->registry(), *realm);
}

void ListRealms(absl::string_view bytes) {
  muster::v1::ListRealmsRequest request;
  if (!Parse(bytes, request)) return;
  for (const auto& counts : world->registry().realms().List().realms) {
    CheckStoredRealm(world->registry(), counts.realm);
  }
}

void UpdateRealm(absl::string_view bytes) {
  muster::v1::UpdateRealmRequest request;
  if (!Parse(bytes, request)) return;
  absl::StatusOr<Realms::SettingsUpdate> update =
      registry::UpdateFromRequest(request);
  if (!update.ok()) {
    return CheckRefusal(update.status(), "UpdateRealm",
                        {StatusCode::kInvalidArgument});
  }
  auto result = Await<Realm>([&](Callback<Realm> done) {
    world->registry().realms().Update(*update, kFuzzActor, std::move(done));
  });
  Expect(result, "UpdateRealm",
         {StatusCode::kInvalidArgument, StatusCode::kNotFound});
  if (!result.ok()) return;
  CheckStoredRealm(world->registry(), *result);
  if (update->description.has_value()) {
    FUZZ_CHECK(result->description == *update->description,
               "description not applied");
  }
}

void DeleteRealm(absl::string_view bytes) {
  muster::v1::DeleteRealmRequest request;
  if (!Parse(bytes, request)) return;
  auto result =
      Await<Realms::DeleteResult>([&](Callback<Realms::DeleteResult> done) {
        world->registry().realms().Delete(request.name(), request.force(),
                                          kFuzzActor, std::move(done));
      });
  Expect(result, "DeleteRealm",
         {StatusCode::kInvalidArgument, StatusCode::kNotFound,
          StatusCode::kFailedPrecondition});
  if (result.ok()) {
    FUZZ_CHECK(!world->registry().realms().Get(request.name()).ok(),
               "realm %s still there after its delete", request.name().c_str());
  }
}

void CreateToken(absl::string_view bytes) {
  muster::v1::CreateTokenRequest request;
  if (!Parse(bytes, request)) return;
  absl::StatusOr<registry::Tokens::Spec> spec =
      registry::TokenSpecFromProto(request);
  if (!spec.ok()) {
    return CheckRefusal(spec.status(), "CreateToken",
                        {StatusCode::kInvalidArgument});
  }
  auto result = Await<registry::Tokens::Created>(
      [&](Callback<registry::Tokens::Created> done) {
        world->registry().tokens().Create(*spec, kFuzzActor, std::move(done));
      });
  Expect(result, "CreateToken",
         {StatusCode::kInvalidArgument, StatusCode::kAlreadyExists});
  if (!result.ok()) return;
  CheckStoredToken(world->registry(), result->token);
  // The secret, shown once, authenticates as that token.
  auto holder = world->registry().tokens().Authenticate(result->secret,
                                                        world->clock().Now());
  FUZZ_CHECK(holder.ok() && (*holder)->name == result->token.name,
             "a new token's secret does not authenticate: %s",
             holder.status().ToString().c_str());
}

void ListTokens(absl::string_view bytes) {
  muster::v1::ListTokensRequest request;
  if (!Parse(bytes, request)) return;
  for (const registry::Token& token : world->registry().tokens().List()) {
    CheckStoredToken(world->registry(), token);
  }
}

void RevokeToken(absl::string_view bytes) {
  muster::v1::RevokeTokenRequest request;
  if (!Parse(bytes, request)) return;
  auto result = Await<uint64_t>([&](Callback<uint64_t> done) {
    world->registry().tokens().Revoke(request.name(), kFuzzActor,
                                      std::move(done));
  });
  Expect(result, "RevokeToken",
         {StatusCode::kInvalidArgument, StatusCode::kNotFound});
  if (!result.ok()) return;
  auto token = world->registry().tokens().Get(request.name());
  FUZZ_CHECK(token.ok(), "a revoked token is gone: %s",
             token.status().ToString().c_str());
  CheckStoredToken(world->registry(), *token);
}

// In the order of the services' methods in the .proto files.
constexpr void (*kRpcs[])(absl::string_view) = {
    Register,      Deregister,   Heartbeat,  SetAdminState, GetInstance,
    ListInstances, ListServices, Watch,      ListEvents,    ServerInfo,
    Ping,          CreateRealm,  GetRealm,   ListRealms,    UpdateRealm,
    DeleteRealm,   CreateToken,  ListTokens, RevokeToken,
};

}  // namespace
}  // namespace muster::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // libprotobuf logs every string field that is not UTF-8; musterd routes
  // those lines through its rate-limited logger, here they are noise.
  google::protobuf::SetLogHandler(nullptr);
  // The registry logs every realm change; millions of them here.
  muster::SetLogLevel(muster::LogLevel::kError);
  muster::fuzz::world = new muster::fuzz::RegistryWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using muster::fuzz::kRpcs;
  if (size < 1) return 0;
  const size_t rpc = data[0] % (sizeof(kRpcs) / sizeof(kRpcs[0]));
  muster::fuzz::dirty = false;
  kRpcs[rpc](
      absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (muster::fuzz::dirty) muster::fuzz::world->Restore();
  // Tokens cannot be deleted, only revoked: a fresh registry now and then
  // keeps the token table small.
  if (muster::fuzz::world->registry().tokens().List().size() > 32) {
    delete muster::fuzz::world;
    muster::fuzz::world = new muster::fuzz::RegistryWorld();
  }
  return 0;
}
