#pragma once

// Shared pieces of the musterctl end-to-end tests: a fixture owning a
// temp dir and a real musterd, running the real musterctl, and strict
// JSON parsing into the API's messages.

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "testkit/child_process.h"
#include "testkit/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace muster::e2e {

using testing::Child;
using testing::ReadFile;
using testing::Run;
using testing::RunResult;
using testing::Sink;
using testing::SpawnOptions;

// Runs musterctl with `args` against `address` (through MUSTER_ADDR, with
// MUSTER_REALM and NO_COLOR cleared unless `env` sets them).
RunResult RunCtl(const std::string& address, std::vector<std::string> args,
                 const std::vector<std::string>& env = {});

// The musterctl argv and environment RunCtl uses, for long-running
// children (watch).
SpawnOptions CtlOptions(const std::string& address,
                        std::vector<std::string> args,
                        const std::vector<std::string>& env = {});

// One real musterd per test, on free 127.0.0.1 ports with its data dir
// in `temp` (its log next to it).
class DaemonFixture {
 public:
  DaemonFixture();
  virtual ~DaemonFixture();

  // musterctl against this fixture's daemon; REQUIREs exit code 0 unless
  // told otherwise by the *Raw variant.
  std::string Ctl(std::vector<std::string> args);
  RunResult CtlRaw(std::vector<std::string> args,
                   const std::vector<std::string>& env = {});

  testing::TempDir temp;
  std::unique_ptr<testing::DaemonProcess> daemon;
};

// Parses `json` strictly (unknown fields are an error) into T.
template <typename T>
T ParseJson(const std::string& json) {
  T message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status =
      google::protobuf::util::JsonStringToMessage(json, &message, options);
  INFO("JSON: " << json);
  INFO("parse: " << status.ToString());
  REQUIRE(status.ok());
  return message;
}

// Field `name` of a JSON object document, parsed strictly into T.
template <typename T>
T ParseJsonField(const google::protobuf::Struct& doc, const std::string& name) {
  auto it = doc.fields().find(name);
  INFO("field " << name);
  REQUIRE(it != doc.fields().end());
  std::string json;
  REQUIRE(google::protobuf::util::MessageToJsonString(it->second, &json).ok());
  return ParseJson<T>(json);
}

// The lines of `text`.
std::vector<std::string> SplitLines(const std::string& text);

// Whitespace-separated words of `line`.
std::vector<std::string> Words(const std::string& line);

bool Contains(const std::string& text, const std::string& part);

}  // namespace muster::e2e
