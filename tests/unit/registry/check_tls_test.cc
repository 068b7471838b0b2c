// A check's TLS settings (grpc_tls, tls_skip_verify, tls_server_name):
// the validation rules and the model <-> proto round trip.

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"
#include "codec/model_proto.h"
#include "registry/validation.h"

namespace muster::registry {
namespace {

CheckSpec Https() {
  CheckSpec check;
  check.kind = CheckKind::kHttp;
  check.http_url = "https://10.0.0.1:8443/healthz";
  return check;
}

CheckSpec GrpcTls() {
  CheckSpec check;
  check.kind = CheckKind::kGrpc;
  check.grpc_tls = true;
  return check;
}

void RequireInvalid(const absl::Status& status, const std::string& path,
                    const std::string& fragment) {
  INFO(status.ToString());
  REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(absl::StartsWith(status.message(), path + ": "));
  REQUIRE(absl::StrContains(status.message(), fragment));
}

void RequireOk(const absl::Status& status) {
  INFO(status.ToString());
  REQUIRE(status.ok());
}

TEST_CASE("check TLS settings are accepted where TLS is used",
          "[validation][check_tls]") {
  for (CheckSpec check : {Https(), GrpcTls()}) {
    RequireOk(ValidateCheckSpec(check, "instance.check"));
    check.tls_skip_verify = true;
    RequireOk(ValidateCheckSpec(check, "instance.check"));
    check.tls_server_name = "api.internal.example";
    RequireOk(ValidateCheckSpec(check, "instance.check"));
    check.tls_server_name = std::string(63, 'a') + "." + std::string(63, 'b');
    RequireOk(ValidateCheckSpec(check, "instance.check"));
  }
  CheckSpec upper = Https();
  upper.http_url = "HTTPS://10.0.0.1/";
  upper.tls_skip_verify = true;
  RequireOk(ValidateCheckSpec(upper, "instance.check"));
}

TEST_CASE("grpc_tls is for grpc checks only", "[validation][check_tls]") {
  for (CheckKind kind :
       {CheckKind::kNone, CheckKind::kTtl, CheckKind::kHttp, CheckKind::kTcp}) {
    CheckSpec check = Https();
    check.kind = kind;
    if (kind != CheckKind::kHttp) check.http_url.clear();
    if (kind == CheckKind::kTtl) check.ttl = absl::Seconds(30);
    check.grpc_tls = true;
    RequireInvalid(ValidateCheckSpec(check, "instance.check"),
                   "instance.check.grpc_tls", "must be unset for");
  }
}

TEST_CASE("TLS settings without TLS are refused naming the field",
          "[validation][check_tls]") {
  CheckSpec http = Https();
  http.http_url = "http://10.0.0.1/healthz";
  http.tls_skip_verify = true;
  RequireInvalid(ValidateCheckSpec(http, "instance.check"),
                 "instance.check.tls_skip_verify", "https://");
  http.tls_skip_verify = false;
  http.tls_server_name = "api.example";
  RequireInvalid(ValidateCheckSpec(http, "instance.check"),
                 "instance.check.tls_server_name", "https://");

  CheckSpec grpc = GrpcTls();
  grpc.grpc_tls = false;
  grpc.tls_skip_verify = true;
  RequireInvalid(ValidateCheckSpec(grpc, "instance.check"),
                 "instance.check.tls_skip_verify", "grpc_tls");
  grpc.tls_skip_verify = false;
  grpc.tls_server_name = "api.example";
  RequireInvalid(ValidateCheckSpec(grpc, "instance.check"),
                 "instance.check.tls_server_name", "grpc_tls");

  CheckSpec tcp;
  tcp.kind = CheckKind::kTcp;
  tcp.tls_skip_verify = true;
  RequireInvalid(ValidateCheckSpec(tcp, "instance.check"),
                 "instance.check.tls_skip_verify", "must be unset for tcp");
}

TEST_CASE("tls_server_name must be a DNS name", "[validation][check_tls]") {
  for (const std::string& bad :
       {std::string("10.0.0.1"), std::string("::1"), std::string("[::1]"),
        std::string("bad_name.example"), std::string("-a.example"),
        std::string("a..example"), std::string("a.example:443"),
        std::string("a b"), std::string(64, 'a') + ".example",
        std::string(254, 'a'), std::string("a\nb")}) {
    CAPTURE(bad);
    CheckSpec check = GrpcTls();
    check.tls_server_name = bad;
    const absl::Status status = ValidateCheckSpec(check, "instance.check");
    INFO(status.ToString());
    REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(
        absl::StartsWith(status.message(), "instance.check.tls_server_name: "));
  }
  CheckSpec ip = Https();
  ip.tls_server_name = "10.0.0.1";
  RequireInvalid(ValidateCheckSpec(ip, "instance.check"),
                 "instance.check.tls_server_name", "is an IP address");
}

TEST_CASE("a registration with TLS settings names the instance path",
          "[validation][check_tls]") {
  Instance instance;
  instance.service = "web";
  instance.address = "10.0.0.1";
  instance.port = 8443;
  instance.set_check(GrpcTls());
  instance.mutable_check()->tls_server_name = "web.internal";
  RequireOk(ValidateRegistration(instance));
  instance.mutable_check()->tls_server_name = "web_internal";
  RequireInvalid(ValidateRegistration(instance),
                 "instance.check.tls_server_name", "not a valid hostname");
}

TEST_CASE("check TLS settings round trip through the proto",
          "[model_proto][check_tls]") {
  for (CheckSpec check : {Https(), GrpcTls()}) {
    check.tls_skip_verify = true;
    check.tls_server_name = "api.internal.example";
    muster::v1::CheckSpec proto;
    ToProto(check, &proto);
    CHECK(proto.grpc_tls() == check.grpc_tls);
    CHECK(proto.tls_skip_verify());
    CHECK(proto.tls_server_name() == "api.internal.example");
    muster::v1::CheckSpec parsed;
    REQUIRE(parsed.ParseFromString(proto.SerializeAsString()));
    absl::StatusOr<CheckSpec> back = CheckSpecFromProto(parsed, "check");
    INFO(back.status().ToString());
    REQUIRE(back.ok());
    CHECK(back->grpc_tls == check.grpc_tls);
    CHECK(back->tls_skip_verify);
    CHECK(back->tls_server_name == "api.internal.example");
    CHECK(*back == check);
  }
  // The fields are part of the check: changing one is a new registration.
  CheckSpec a = GrpcTls();
  CheckSpec b = a;
  b.tls_skip_verify = true;
  CHECK(a != b);
  b = a;
  b.tls_server_name = "x.example";
  CHECK(a != b);
  b = a;
  b.grpc_tls = false;
  CHECK(a != b);
}

}  // namespace
}  // namespace muster::registry
