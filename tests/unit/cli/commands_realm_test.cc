// `realm update` against an in-process fake Realms service on
// 127.0.0.1:0: the request it builds (only the flags given, named in the
// update mask), its usage errors, and its output (that of `realm get`).

#include <catch2/catch.hpp>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/app.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/run.h"
#include "google/protobuf/util/json_util.h"
#include "muster/v1/realm.grpc.pb.h"
#include "tests/unit/cli/loopback_server.h"

namespace muster::cli {
namespace {

// One realm, "prod"; UpdateRealm records the request and answers the
// realm with the named settings applied. Thread-safe: gRPC runs handlers
// on its own threads.
class FakeRealms final : public v1::Realms::Service {
 public:
  FakeRealms() {
    realm_.set_name("prod");
    realm_.mutable_settings()->set_description("production");
    realm_.mutable_settings()->set_eviction_protection_share(0.3);
    realm_.mutable_settings()->mutable_default_deregister_after()->set_seconds(
        1800);
    realm_.mutable_created_at()->set_seconds(1700000000 - 3600);
    realm_.set_create_revision(4);
    realm_.set_modify_revision(4);
  }

  grpc::Status GetRealm(grpc::ServerContext*, const v1::GetRealmRequest*,
                        v1::Realm* response) override {
    absl::MutexLock lock(&mu_);
    *response = realm_;
    return grpc::Status::OK;
  }

  grpc::Status UpdateRealm(grpc::ServerContext*,
                           const v1::UpdateRealmRequest* request,
                           v1::Realm* response) override {
    absl::MutexLock lock(&mu_);
    updates_.push_back(*request);
    v1::RealmSettings& settings = *realm_.mutable_settings();
    for (const std::string& path : request->update_mask().paths()) {
      if (path == "description") {
        settings.set_description(request->settings().description());
      } else if (path == "eviction_protection_share") {
        settings.set_eviction_protection_share(
            request->settings().eviction_protection_share());
      } else if (path == "default_deregister_after") {
        *settings.mutable_default_deregister_after() =
            request->settings().default_deregister_after();
      } else {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, path);
      }
    }
    realm_.set_modify_revision(realm_.modify_revision() + 1);
    *response = realm_;
    return grpc::Status::OK;
  }

  std::vector<v1::UpdateRealmRequest> updates() {
    absl::MutexLock lock(&mu_);
    return updates_;
  }

 private:
  absl::Mutex mu_;
  v1::Realm realm_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::UpdateRealmRequest> updates_ ABSL_GUARDED_BY(mu_);
};

// FakeRealms on 127.0.0.1:<port 0>, and Contexts to run commands with.
class RealmHarness {
 public:
  RealmHarness()
      : client_(std::make_unique<Client>(
            ConnectionOptions{address(), absl::Seconds(5)})) {}

  std::string address() const { return server_.address(); }

  Context MakeContext(Format format) {
    return Context{*client_,
                   "default",
                   OutputOptions{format, Colour::kOff},
                   out,
                   err,
                   [] { return absl::FromUnixSeconds(1700000000); },
                   [](absl::Duration) {}};
  }

  FakeRealms realms;
  std::ostringstream out;
  std::ostringstream err;

 private:
  LoopbackServer server_{&realms};
  std::unique_ptr<Client> client_;
};

std::vector<std::string> Paths(const v1::UpdateRealmRequest& request) {
  return {request.update_mask().paths().begin(),
          request.update_mask().paths().end()};
}

TEST_CASE("realm update sends the flags given and names them in the mask",
          "[commands][realm]") {
  RealmHarness h;
  Context ctx = h.MakeContext(Format::kTable);

  RealmUpdateArgs args;
  args.name = "prod";
  args.description = "production, eu-1";
  absl::Status s = RunRealmUpdate(ctx, args);
  INFO(s.ToString());
  REQUIRE(s.ok());

  args.description.reset();
  args.eviction_protection_share = "0.25";
  args.default_deregister_after = "1h30m";
  REQUIRE(RunRealmUpdate(ctx, args).ok());

  // "default" sends the field at zero, named; '' clears the description.
  args.description = "";
  args.eviction_protection_share = "default";
  args.default_deregister_after = "default";
  REQUIRE(RunRealmUpdate(ctx, args).ok());

  std::vector<v1::UpdateRealmRequest> updates = h.realms.updates();
  REQUIRE(updates.size() == 3);
  CHECK(updates[0].name() == "prod");
  CHECK(Paths(updates[0]) == std::vector<std::string>{"description"});
  CHECK(updates[0].settings().description() == "production, eu-1");
  CHECK(updates[0].settings().eviction_protection_share() == 0);
  CHECK_FALSE(updates[0].settings().has_default_deregister_after());

  CHECK(Paths(updates[1]) ==
        std::vector<std::string>{"eviction_protection_share",
                                 "default_deregister_after"});
  CHECK(updates[1].settings().description().empty());
  CHECK(updates[1].settings().eviction_protection_share() == 0.25);
  CHECK(updates[1].settings().default_deregister_after().seconds() == 5400);

  CHECK(Paths(updates[2]) ==
        std::vector<std::string>{"description", "eviction_protection_share",
                                 "default_deregister_after"});
  CHECK(updates[2].settings().SerializeAsString().empty());
}

TEST_CASE("realm update without a setting flag is a usage error",
          "[commands][realm]") {
  RealmHarness h;
  CommandLine command_line;
  std::vector<const char*> argv = {"musterctl", "--addr", "",
                                   "realm",     "update", "prod"};
  const std::string address = h.address();
  argv[2] = address.c_str();
  std::ostringstream parse_out;
  std::ostringstream parse_err;
  REQUIRE_FALSE(command_line
                    .Parse(static_cast<int>(argv.size()), argv.data(),
                           parse_out, parse_err)
                    .has_value());
  REQUIRE(command_line.invocation().command == Command::kRealmUpdate);

  Environment env{h.out, h.err, Colour::kOff,
                  [] { return absl::FromUnixSeconds(1700000000); },
                  [](absl::Duration) {}};
  absl::Status s = Run(command_line.invocation(), command_line, env);
  CHECK(ExitCodeFor(s) == kExitUsage);
  CHECK(ErrorLine(s) ==
        "musterctl: realm update: give at least one setting to change: "
        "--description, --eviction-protection-share or "
        "--default-deregister-after");
  CHECK(h.realms.updates().empty());
  CHECK(h.out.str().empty());
}

TEST_CASE("realm update refuses bad values before sending",
          "[commands][realm]") {
  RealmHarness h;
  Context ctx = h.MakeContext(Format::kTable);
  struct Case {
    std::optional<std::string> share;
    std::optional<std::string> after;
    const char* message;
  };
  const Case cases[] = {
      {"1.5", std::nullopt, "--eviction-protection-share: want a fraction"},
      {"0", std::nullopt, "--eviction-protection-share: want a fraction"},
      {std::nullopt, "0", "--default-deregister-after: must be longer"},
      {std::nullopt, "soon", "--default-deregister-after"},
  };
  for (const Case& c : cases) {
    RealmUpdateArgs args;
    args.name = "prod";
    args.description = "named too, but nothing is sent";
    args.eviction_protection_share = c.share;
    args.default_deregister_after = c.after;
    absl::Status s = RunRealmUpdate(ctx, args);
    INFO(s.ToString());
    CHECK(ExitCodeFor(s) == kExitUsage);
    CHECK_THAT(std::string(s.message()), Catch::StartsWith(c.message));
  }
  CHECK(h.realms.updates().empty());
}

TEST_CASE("realm update prints the realm as realm get does",
          "[commands][realm]") {
  RealmHarness h;
  Context ctx = h.MakeContext(Format::kTable);
  RealmUpdateArgs args;
  args.name = "prod";
  args.description = "production, eu-1";
  REQUIRE(RunRealmUpdate(ctx, args).ok());
  const std::string updated = h.out.str();
  h.out.str("");
  REQUIRE(RunRealmGet(ctx, "prod").ok());
  CHECK(updated == h.out.str());
  CHECK(updated ==
        "Name:                       prod\n"
        "Description:                production, eu-1\n"
        "Eviction protection share:  0.3\n"
        "Default deregister-after:   30m\n"
        "Created:                    1h ago (2023-11-14T21:13:20Z)\n"
        "Revisions:                  create 4, modify 5\n");

  h.out.str("");
  Context json = h.MakeContext(Format::kJson);
  args.eviction_protection_share = "default";
  REQUIRE(RunRealmUpdate(json, args).ok());
  v1::Realm parsed;
  REQUIRE(
      google::protobuf::util::JsonStringToMessage(h.out.str(), &parsed).ok());
  CHECK(parsed.name() == "prod");
  CHECK(parsed.settings().eviction_protection_share() == 0);
  CHECK(parsed.settings().default_deregister_after().seconds() == 1800);
  CHECK(parsed.modify_revision() == 6);
}

}  // namespace
}  // namespace muster::cli
