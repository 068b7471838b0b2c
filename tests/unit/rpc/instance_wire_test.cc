// Lookups served as bytes (codec/instance_wire.h): a ListInstancesResponse
// and a GetInstance reply assembled from cached instance encodings parse
// as the typed conversion of the same page or instance, for many filters
// and page positions of a real Index; the encoding is made once per
// instance version, shared by concurrent readers, and not carried over to
// a copy (a new version).

#include "codec/instance_wire.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "codec/model_proto.h"
#include "codec/read_responses.h"
#include "muster/v1/registry.pb.h"
#include "registry/index.h"
#include "registry/limits.h"
#include "registry/store.h"

namespace muster::registry {
namespace {

using google::protobuf::util::MessageDifferencer;

// Instance `i` of service `service`: tags, metadata, zone, health and
// admin state vary with i; every 10th carries a check output. A heavy one
// has 60 metadata values of 500 bytes (so that pages also end by bytes).
Instance MakeInstance(const std::string& service, int i, bool heavy = false,
                      const std::string& realm = "default") {
  Instance instance;
  instance.realm = realm;
  instance.service = service;
  instance.id = absl::StrCat("i-", i / 10, i % 10);
  instance.address = absl::StrCat("10.0.", i / 250, ".", i % 250);
  instance.port = 8000 + static_cast<uint32_t>(i);
  if (i % 2 == 0) instance.tags.push_back("even");
  if (i % 3 == 0) instance.tags.push_back("three");
  instance.tags.push_back("x");
  std::sort(instance.tags.begin(), instance.tags.end());
  instance.metadata = {{"shard", absl::StrCat(i % 4)}, {"team", "search"}};
  if (heavy) {
    for (int k = 0; k < 60; ++k) {
      instance.metadata.emplace_back(absl::StrCat("z", k / 10, k % 10),
                                     std::string(500, 'v'));
    }
  }
  instance.weight = static_cast<uint32_t>(i % 5);
  instance.zone = i % 2 == 0 ? "eu-1a" : "eu-1b";
  instance.version = i % 4 == 0 ? "" : "1.2.3";
  if (i % 3 == 0) {
    instance.mutable_check()->kind = CheckKind::kHttp;
    instance.mutable_check()->http_url = "http://10.0.0.1/health";
    instance.mutable_check()->interval = absl::Seconds(5);
  }
  const Health healths[] = {Health::kPassing, Health::kWarning,
                            Health::kCritical, Health::kStarting};
  instance.health = healths[i % 4];
  if (i % 5 == 0) {
    instance.admin_state = AdminState::kDraining;
    instance.set_admin_reason("upgrade");
  }
  if (i % 10 == 3) instance.set_check_output("HTTP 503");
  instance.registered_at = absl::FromUnixMillis(1800000000000 + i);
  if (i % 6 != 0)
    instance.status_changed_at = absl::FromUnixMillis(1800000001000 + i);
  instance.create_revision = 1 + static_cast<uint64_t>(i);
  instance.modify_revision = 1000 + static_cast<uint64_t>(i);
  return instance;
}

void Load(Index& index) {
  StoredState state;
  state.revision = 5000;
  Realm realm;
  realm.name = "default";
  state.realms.push_back(realm);
  Realm empty;
  empty.name = "empty";
  state.realms.push_back(empty);
  Realm bulk;
  bulk.name = "bulk";
  state.realms.push_back(bulk);
  for (int k = 0; k < 100; ++k) {
    state.instances.push_back(std::make_shared<const Instance>(
        MakeInstance("big", k, /*heavy=*/k % 4 != 0, "bulk")));
  }
  int i = 0;
  for (const std::string service : {"api", "db", "web"}) {
    const int count = service == "db" ? 3 : 160;
    for (int k = 0; k < count; ++k, ++i) {
      state.instances.push_back(
          std::make_shared<const Instance>(MakeInstance(service, i)));
    }
  }
  index.Load(std::move(state));
}

muster::v1::ListInstancesResponse Typed(const InstancePage& page) {
  muster::v1::ListInstancesResponse typed;
  ToProto(page, &typed);
  return typed;
}

muster::v1::ListInstancesResponse Raw(const InstancePage& page) {
  std::string bytes(ListInstancesSize(page), '\0');
  char* end = WriteListInstances(page, bytes.data());
  REQUIRE(end == bytes.data() + bytes.size());
  muster::v1::ListInstancesResponse raw;
  REQUIRE(raw.ParseFromString(bytes));
  return raw;
}

// Compares every page of `query` (following the tokens); returns the
// number of instances seen.
size_t ComparePages(const Index& index, ListQuery query) {
  size_t seen = 0;
  for (int pages = 0; pages < 1000; ++pages) {
    absl::StatusOr<InstancePage> page = index.List(query);
    REQUIRE(page.ok());
    const muster::v1::ListInstancesResponse typed = Typed(*page);
    const muster::v1::ListInstancesResponse raw = Raw(*page);
    std::string difference;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&difference);
    INFO("page " << pages << ": " << difference);
    REQUIRE(differencer.Compare(typed, raw));
    seen += page->instances.size();
    if (page->next_page_token.empty()) return seen;
    query.page_token = page->next_page_token;
  }
  FAIL("pagination did not end");
  return seen;
}

TEST_CASE(
    "a ListInstancesResponse built from cached bytes parses as the "
    "typed one for every filter and page",
    "[instance_wire]") {
  Index index;
  Load(index);
  size_t queries = 0;
  for (const std::string service : {"", "api", "db", "web", "none"}) {
    for (bool routable_only : {false, true}) {
      for (const std::vector<std::string>& tags :
           std::vector<std::vector<std::string>>{
               {}, {"even"}, {"even", "three"}, {"missing"}}) {
        for (const std::string zone : {"", "eu-1b"}) {
          for (const bool metadata : {false, true}) {
            for (uint32_t page_size : {0u, 1u, 7u, 100u, 1000u}) {
              ListQuery query;
              query.realm = "default";
              query.service = service;
              query.routable_only = routable_only;
              query.tags = tags;
              query.zone = zone;
              if (metadata) query.metadata = {{"shard", "2"}};
              query.page_size = page_size;
              ComparePages(index, query);
              ++queries;
            }
          }
        }
      }
    }
  }
  CHECK(queries == 800);

  // Pages that end by bytes, not by count: 75 heavy instances of about
  // 31 KB pass the 2 MiB reply bound.
  ListQuery all;
  all.realm = "bulk";
  all.page_size = limits::kMaxPageSize;
  absl::StatusOr<InstancePage> page = index.List(all);
  REQUIRE(page.ok());
  CHECK(!page->next_page_token.empty());
  CHECK(page->instances.size() < 100);
  CHECK(ComparePages(index, all) == 100);
  all.routable_only = true;
  ComparePages(index, all);

  // An empty realm: no instances, the revision only.
  ListQuery empty;
  empty.realm = "empty";
  CHECK(ComparePages(index, empty) == 0);
}

TEST_CASE("a page with no revision and no token encodes the instances only",
          "[instance_wire]") {
  InstancePage page;
  CHECK(ListInstancesSize(page) == 0);
  page.instances.push_back(
      std::make_shared<const Instance>(MakeInstance("web", 3)));
  const muster::v1::ListInstancesResponse raw = Raw(page);
  CHECK(MessageDifferencer::Equals(raw, Typed(page)));
  CHECK(ListInstancesSize(page) == WireOf(*page.instances[0]).entry().size());
}

TEST_CASE("an instance's wire form is its typed serialization",
          "[instance_wire]") {
  for (int i : {0, 3, 7, 13}) {
    const Instance instance = MakeInstance("web", i);
    const InstanceWire& wire = WireOf(instance);
    muster::v1::Instance parsed;
    REQUIRE(parsed.ParseFromString(std::string(wire.message())));
    muster::v1::Instance typed;
    ToProto(instance, &typed);
    CHECK(MessageDifferencer::Equals(parsed, typed));
    CHECK(wire.entry().size() > wire.message().size());
    CHECK(wire.entry().substr(wire.entry().size() - wire.message().size()) ==
          wire.message());
  }
}

TEST_CASE(
    "GetInstance's cached bytes plus the live fields parse as "
    "ToProto plus FillHealthDetail",
    "[instance_wire]") {
  std::vector<healthchecker::HealthDetail> details(4);
  // details[0]: all defaults (no output at all).
  details[1].output = "connect: connection refused";
  details[1].last_checked_at = absl::FromUnixMillis(1800000002000);
  details[1].consecutive_failures = 3;
  details[1].evict_at = absl::FromUnixSeconds(1800000300);
  details[1].eviction_paused = true;
  details[2].output = "ok";
  details[2].consecutive_successes = 9;
  details[2].last_heartbeat_at = absl::FromUnixMillis(1800000003000);
  details[3].last_heartbeat_at = absl::FromUnixSeconds(1);
  // Instance 3 has a stored check output ("HTTP 503"), instance 1 none: an
  // empty live output clears the stored one, as FillHealthDetail does.
  for (int i : {1, 3, 7}) {
    const Instance instance = MakeInstance("web", i);
    for (const healthchecker::HealthDetail& detail : details) {
      muster::v1::Instance typed;
      ToProto(instance, &typed);
      FillHealthDetail(detail, &typed);
      const std::string bytes =
          std::string(WireOf(instance).message()) + LiveInstanceFields(detail);
      muster::v1::Instance raw;
      REQUIRE(raw.ParseFromString(bytes));
      std::string difference;
      MessageDifferencer differencer;
      differencer.ReportDifferencesToString(&difference);
      INFO("instance " << i << ": " << difference);
      CHECK(differencer.Compare(typed, raw));
    }
  }
}

TEST_CASE(
    "an instance is encoded once, on first read, and a copy starts "
    "without the encoding",
    "[instance_wire]") {
  auto instance = std::make_shared<const Instance>(MakeInstance("web", 4));
  CHECK(instance->encoding.get() == nullptr);

  // Readers racing for the first encoding all get the one installed.
  std::vector<const InstanceWire*> seen(8, nullptr);
  std::vector<std::thread> readers;
  for (size_t t = 0; t < seen.size(); ++t) {
    readers.emplace_back([&, t] { seen[t] = &WireOf(*instance); });
  }
  for (std::thread& reader : readers) reader.join();
  for (const InstanceWire* wire : seen) CHECK(wire == seen[0]);
  CHECK(instance->encoding.get() == seen[0]);
  CHECK(&WireOf(*instance) == seen[0]);

  // A new version made from a copy is encoded anew, from its own fields.
  Instance next = *instance;
  CHECK(next.encoding.get() == nullptr);
  next.admin_state = AdminState::kDraining;
  next.modify_revision += 1;
  muster::v1::Instance parsed;
  REQUIRE(parsed.ParseFromString(std::string(WireOf(next).message())));
  CHECK(parsed.admin_state() == muster::v1::ADMIN_STATE_DRAINING);
  CHECK(parsed.modify_revision() == instance->modify_revision + 1);
  REQUIRE(parsed.ParseFromString(std::string(WireOf(*instance).message())));
  CHECK(parsed.admin_state() == muster::v1::ADMIN_STATE_ENABLED);

  // Assigning a value drops the encoding it had; moving leaves none.
  next = *instance;
  CHECK(next.encoding.get() == nullptr);
  WireOf(next);
  Instance moved = std::move(next);
  CHECK(moved.encoding.get() == nullptr);
}

}  // namespace
}  // namespace muster::registry
