// musterctl's TLS flags and variables: which wins, and the errors.

#include "cli/tls_options.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <string>

#include "cli/errors.h"
#include "tests/support/temp_dir.h"

namespace muster::cli {
namespace {

struct Env {
  std::map<std::string, std::string> values;
  const char* operator()(const char* name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  }
};

std::string Write(const testing::TempDir& dir, const std::string& name,
                  const std::string& content) {
  std::ofstream(dir.File(name)) << content;
  return dir.File(name);
}

std::string ErrorOf(const TlsFlags& flags, const Env& env) {
  auto resolved = ResolveCredentials(flags, env);
  REQUIRE_FALSE(resolved.ok());
  CHECK(ClassOf(resolved.status()) == ErrorClass::kUsage);
  return std::string(resolved.status().message());
}

}  // namespace

TEST_CASE("no TLS flag or variable: plaintext", "[cli][tls]") {
  CHECK(ResolveCredentials(TlsFlags{}, Env{}).ok());
}

TEST_CASE("an unreadable or non-PEM file names its flag or variable",
          "[cli][tls]") {
  testing::TempDir dir;
  const std::string missing = dir.File("missing.crt");
  const std::string text = Write(dir, "text.crt", "not a certificate\n");
  CHECK_THAT(ErrorOf(TlsFlags{false, missing, "", ""}, Env{}),
             Catch::StartsWith("--ca: cannot read " + missing));
  CHECK_THAT(ErrorOf(TlsFlags{}, Env{{{"MUSTER_CA", missing}}}),
             Catch::StartsWith("MUSTER_CA: cannot read " + missing));
  CHECK(ErrorOf(TlsFlags{false, text, "", ""}, Env{}) ==
        "--ca: " + text + " holds no PEM data");
  const std::string pem =
      Write(dir, "ca.crt",
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
  CHECK_THAT(ErrorOf(TlsFlags{false, pem, missing, pem}, Env{}),
             Catch::StartsWith("--cert: cannot read"));
  CHECK_THAT(
      ErrorOf(TlsFlags{}, Env{{{"MUSTER_CERT", pem}, {"MUSTER_KEY", missing}}}),
      Catch::StartsWith("MUSTER_KEY: cannot read"));
}

TEST_CASE("a flag wins over its variable", "[cli][tls]") {
  testing::TempDir dir;
  const std::string pem =
      Write(dir, "ca.crt",
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
  Env env{{{"MUSTER_CA", dir.File("missing.crt")}}};
  CHECK(ResolveCredentials(TlsFlags{false, pem, "", ""}, env).ok());
  CHECK_THAT(ErrorOf(TlsFlags{true, "", "", ""}, env),
             Catch::StartsWith("MUSTER_CA: cannot read"));
}

TEST_CASE("a client certificate needs its key and the reverse", "[cli][tls]") {
  CHECK(ErrorOf(TlsFlags{false, "", "c.crt", ""}, Env{}) ==
        "--cert: needs --key too");
  CHECK(ErrorOf(TlsFlags{}, Env{{{"MUSTER_KEY", "c.key"}}}) ==
        "MUSTER_KEY: needs --cert too");
}

}  // namespace muster::cli
