// musterctl update: which flag combinations are refused, and how the
// changes merge into the instance as read.

#include "cli/update_request.h"

#include <catch2/catch.hpp>

#include "cli/errors.h"

namespace muster::cli {
namespace {

v1::Instance Current() {
  v1::Instance i;
  i.set_realm("prod");
  i.set_service("web");
  i.set_id("web-1");
  i.set_address("10.0.0.7");
  i.set_port(8080);
  i.add_tags("a");
  i.add_tags("b");
  (*i.mutable_metadata())["team"] = "core";
  (*i.mutable_metadata())["owner"] = "ann";
  i.set_weight(3);
  i.set_zone("eu-1");
  i.set_version("1.0");
  i.mutable_check()->set_kind(v1::CHECK_KIND_TTL);
  i.mutable_check()->mutable_ttl()->set_seconds(30);
  // Output-only fields, as GetInstance returns them.
  i.set_health(v1::HEALTH_PASSING);
  i.set_admin_state(v1::ADMIN_STATE_DRAINING);
  i.set_admin_reason("maintenance");
  i.mutable_health_detail()->set_output("ttl: heartbeat received");
  i.mutable_registered_at()->set_seconds(100);
  i.mutable_status_changed_at()->set_seconds(101);
  i.mutable_last_heartbeat_at()->set_seconds(102);
  i.set_create_revision(42);
  i.set_modify_revision(50);
  return i;
}

v1::Instance Apply(const UpdateArgs& args) {
  absl::StatusOr<InstanceChanges> changes = ParseInstanceChanges(args);
  INFO(changes.status().ToString());
  REQUIRE(changes.ok());
  v1::RegisterRequest request = BuildUpdateRequest("prod", *changes, Current());
  CHECK(request.realm() == "prod");
  return request.instance();
}

std::vector<std::string> Tags(const v1::Instance& i) {
  return std::vector<std::string>(i.tags().begin(), i.tags().end());
}

TEST_CASE("update keeps every field not named and clears output-only ones",
          "[update]") {
  UpdateArgs args;
  args.weight = "7";
  v1::Instance sent = Apply(args);
  v1::Instance expected = Current();
  expected.set_weight(7);
  // What Register refuses; the daemon keeps its own values.
  expected.clear_realm();
  expected.clear_health();
  expected.clear_admin_state();
  expected.clear_admin_reason();
  expected.clear_health_detail();
  expected.clear_registered_at();
  expected.clear_status_changed_at();
  expected.clear_last_heartbeat_at();
  expected.clear_create_revision();
  expected.clear_modify_revision();
  CHECK(sent.DebugString() == expected.DebugString());
}

TEST_CASE("update merges tags and metadata", "[update]") {
  SECTION("--tag replaces the set, without duplicates") {
    UpdateArgs args;
    args.tags = {"x", "y", "x"};
    CHECK(Tags(Apply(args)) == std::vector<std::string>{"x", "y"});
  }
  SECTION("--add-tag and --remove-tag edit it, keeping the order") {
    UpdateArgs args;
    args.add_tags = {"c", "a"};
    args.remove_tags = {"b", "absent"};
    CHECK(Tags(Apply(args)) == std::vector<std::string>{"a", "c"});
  }
  SECTION("--meta sets, --remove-meta drops") {
    UpdateArgs args;
    args.meta = {"team=payments", "tier=1"};
    args.remove_meta = {"owner"};
    v1::Instance sent = Apply(args);
    CHECK(sent.metadata().size() == 2);
    CHECK(sent.metadata().at("team") == "payments");
    CHECK(sent.metadata().at("tier") == "1");
    CHECK(Tags(sent) == std::vector<std::string>{"a", "b"});
  }
  SECTION("--zone '' and --instance-version '' clear") {
    UpdateArgs args;
    args.zone = "";
    args.version = "";
    v1::Instance sent = Apply(args);
    CHECK(sent.zone().empty());
    CHECK(sent.version().empty());
    CHECK(sent.weight() == 3);
  }
}

TEST_CASE("update refuses no change and contradictions", "[update]") {
  struct Case {
    UpdateArgs args;
    const char* message;
  };
  UpdateArgs none;
  UpdateArgs replace_and_add;
  replace_and_add.tags = {"x"};
  replace_and_add.add_tags = {"y"};
  UpdateArgs add_and_remove;
  add_and_remove.add_tags = {"x"};
  add_and_remove.remove_tags = {"x"};
  UpdateArgs set_and_drop;
  set_and_drop.meta = {"k=v"};
  set_and_drop.remove_meta = {"k"};
  UpdateArgs bad_meta;
  bad_meta.meta = {"novalue"};
  UpdateArgs bad_weight;
  bad_weight.weight = "heavy";
  UpdateArgs empty_tag;
  empty_tag.add_tags = {""};
  const Case cases[] = {
      {none, "update: give at least one change"},
      {replace_and_add, "--tag replaces every tag"},
      {add_and_remove, "--add-tag and --remove-tag both name \"x\""},
      {set_and_drop, "--meta and --remove-meta both name key \"k\""},
      {bad_meta, "--meta"},
      {bad_weight, "--weight"},
      {empty_tag, "--add-tag: must not be empty"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<InstanceChanges> changes = ParseInstanceChanges(c.args);
    REQUIRE_FALSE(changes.ok());
    INFO(changes.status().message());
    CHECK(ExitCodeFor(changes.status()) == kExitUsage);
    CHECK(changes.status().message().find(c.message) != std::string::npos);
  }
}

}  // namespace
}  // namespace muster::cli
