#include "cli/output.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "muster/v1/registry.pb.h"

namespace muster::cli {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

TEST_CASE("FormatAge is coarse and readable", "[output]") {
  CHECK(FormatAge(kNow, kNow) == "just now");
  CHECK(FormatAge(kNow - absl::Milliseconds(999), kNow) == "just now");
  CHECK(FormatAge(kNow - absl::Seconds(1), kNow) == "1s ago");
  CHECK(FormatAge(kNow - absl::Seconds(59), kNow) == "59s ago");
  CHECK(FormatAge(kNow - absl::Seconds(60), kNow) == "1m ago");
  CHECK(FormatAge(kNow - absl::Seconds(199), kNow) == "3m ago");
  CHECK(FormatAge(kNow - absl::Minutes(59), kNow) == "59m ago");
  CHECK(FormatAge(kNow - absl::Hours(5), kNow) == "5h ago");
  CHECK(FormatAge(kNow - absl::Hours(23) - absl::Minutes(59), kNow) ==
        "23h ago");
  CHECK(FormatAge(kNow - absl::Hours(49), kNow) == "2d ago");
  CHECK(FormatAge(kNow + absl::Minutes(3), kNow) == "in 3m");
}

TEST_CASE("Unset proto timestamps print as a dash", "[output]") {
  google::protobuf::Timestamp unset;
  CHECK(FormatAge(unset, kNow) == "-");
  CHECK(FormatRfc3339(unset) == "-");
  CHECK_FALSE(FromProtoTimestamp(unset).has_value());
  google::protobuf::Timestamp t;
  t.set_seconds(1700000000 - 120);
  CHECK(FormatAge(t, kNow) == "2m ago");
  CHECK(FormatRfc3339(t) == "2023-11-14T22:11:20Z");
}

TEST_CASE("Enum names lose their prefix", "[output]") {
  CHECK(HealthName(v1::HEALTH_PASSING) == "PASSING");
  CHECK(HealthName(v1::HEALTH_UNSPECIFIED) == "-");
  CHECK(AdminStateName(v1::ADMIN_STATE_DRAINING) == "DRAINING");
  CHECK(CheckKindName(v1::CHECK_KIND_GRPC) == "GRPC");
  CHECK(CheckKindName(v1::CHECK_KIND_UNSPECIFIED) == "NONE");
  CHECK(EventTypeName(v1::Event::DELETE) == "DELETE");
  CHECK(EventCauseName(v1::Event::EVICTED) == "EVICTED");
}

TEST_CASE("Colour only on a terminal without NO_COLOR", "[output]") {
  CHECK(ChooseColour(Terminal::kYes, nullptr) == Colour::kOn);
  CHECK(ChooseColour(Terminal::kYes, "") == Colour::kOn);
  CHECK(ChooseColour(Terminal::kYes, "1") == Colour::kOff);
  CHECK(ChooseColour(Terminal::kNo, nullptr) == Colour::kOff);
  CHECK(PaintHealth("CRITICAL", v1::HEALTH_CRITICAL, Colour::kOff) ==
        "CRITICAL");
  CHECK(PaintHealth("CRITICAL", v1::HEALTH_CRITICAL, Colour::kOn) ==
        "\x1b[31mCRITICAL\x1b[0m");
  CHECK(PaintAdminState("ENABLED", v1::ADMIN_STATE_ENABLED, Colour::kOn) ==
        "ENABLED");
}

TEST_CASE("Routable means enabled and passing or warning", "[output]") {
  v1::Instance i;
  i.set_admin_state(v1::ADMIN_STATE_ENABLED);
  i.set_health(v1::HEALTH_WARNING);
  CHECK(IsRoutable(i));
  i.set_health(v1::HEALTH_STARTING);
  CHECK_FALSE(IsRoutable(i));
  i.set_health(v1::HEALTH_PASSING);
  i.set_admin_state(v1::ADMIN_STATE_DRAINING);
  CHECK_FALSE(IsRoutable(i));
}

TEST_CASE("ToJson uses lowerCamelCase and prints defaults", "[output]") {
  v1::Instance i;
  i.set_service("web");
  i.set_create_revision(12);
  absl::StatusOr<std::string> line = ToJson(i, JsonLayout::kOneLine);
  REQUIRE(line.ok());
  CHECK(line->find('\n') == std::string::npos);
  CHECK(line->find("\"createRevision\":\"12\"") != std::string::npos);
  CHECK(line->find("\"port\":0") != std::string::npos);
  v1::Instance back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(*line, &back).ok());
  CHECK(back.service() == "web");

  absl::StatusOr<std::string> pretty = ToJson(i, JsonLayout::kPretty);
  REQUIRE(pretty.ok());
  CHECK(pretty->find('\n') != std::string::npos);
  CHECK(pretty->back() == '}');
}

TEST_CASE("Event lines carry revision, type, instance and health", "[output]") {
  v1::Event e;
  e.set_revision(42);
  e.set_type(v1::Event::PUT);
  e.set_cause(v1::Event::HEALTH_CHANGED);
  e.mutable_time()->set_seconds(1700000000);
  e.mutable_instance()->set_service("web");
  e.mutable_instance()->set_id("web-1");
  e.mutable_instance()->set_health(v1::HEALTH_CRITICAL);
  e.mutable_instance()->set_admin_state(v1::ADMIN_STATE_ENABLED);
  e.set_reason("HTTP 503");
  e.set_actor("health-checker");
  std::string line = FormatEventLine(e, Colour::kOff);
  CHECK(line.rfind("42 ", 0) == 0);
  CHECK(absl::EndsWith(line, "HTTP 503  by health-checker"));
  for (const char* part : {"2023-11-14T22:13:20Z", "PUT", "HEALTH_CHANGED",
                           "web/web-1", "CRITICAL", "ENABLED", "HTTP 503"}) {
    INFO(part);
    CHECK(line.find(part) != std::string::npos);
  }
  // Fixed columns: the header and a line start each column at one offset.
  std::string header = EventLineHeader();
  CHECK(header.find("TYPE") == line.find("PUT"));
  CHECK(header.find("INSTANCE") == line.find("web/web-1"));
}

}  // namespace
}  // namespace muster::cli

namespace muster::cli {
namespace {

TEST_CASE("JsonQuote escapes what JSON requires", "[output]") {
  CHECK(JsonQuote("plain") == "\"plain\"");
  CHECK(JsonQuote("a\"b\\c\nd\x01") == "\"a\\\"b\\\\c\\nd\\u0001\"");
  CHECK(JsonQuote("zürich") == "\"zürich\"");
}

TEST_CASE("JsonObject keeps member order and nests pretty JSON", "[output]") {
  v1::Instance instance;
  instance.set_id("web-1");
  JsonObject inner;
  inner.AddString("adminState", "ENABLED");
  JsonObject doc;
  doc.AddBool("routable", true);
  doc.AddString("verdict", "say \"yes\"");
  doc.AddObject("findings", inner);
  doc.AddStrings("hints", {"one", "two"});
  doc.AddStrings("none", {});
  REQUIRE(doc.AddMessage("instance", instance).ok());
  std::string json = doc.Print();
  CHECK(
      json.rfind("{\n \"routable\": true,\n \"verdict\": \"say \\\"yes\\\"\",\n"
                 " \"findings\": {\n  \"adminState\": \"ENABLED\"\n },\n"
                 " \"hints\": [\n  \"one\",\n  \"two\"\n ],\n \"none\": [],\n",
                 0) == 0);
  CHECK(json.find("\"instance\": {\n  \"realm\": \"\",") != std::string::npos);
  CHECK(json.back() == '}');
  google::protobuf::Struct parsed;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok());
  CHECK(parsed.fields()
            .at("instance")
            .struct_value()
            .fields()
            .at("id")
            .string_value() == "web-1");
  CHECK(parsed.fields().at("hints").list_value().values_size() == 2);
  CHECK(JsonObject().Print() == "{}");
}

}  // namespace
}  // namespace muster::cli
