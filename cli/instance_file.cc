#include "cli/instance_file.h"

#include <yaml-cpp/yaml.h>

#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/duration.h"
#include "cli/errors.h"
#include "cli/flag_values.h"

namespace muster::cli {
namespace {

constexpr uint64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

// Check kinds as bits, to say which check fields apply to which kinds.
enum KindBit : unsigned {
  kTtlBit = 1,
  kHttpBit = 2,
  kTcpBit = 4,
  kGrpcBit = 8,
  kNoneBit = 16,
};
constexpr unsigned kProbed = kHttpBit | kTcpBit | kGrpcBit;
constexpr unsigned kChecked = kTtlBit | kProbed;

struct CheckField {
  const char* name;
  unsigned kinds;
};
constexpr CheckField kCheckFields[] = {
    {"kind", kChecked | kNoneBit},
    {"ttl", kTtlBit},
    {"interval", kProbed},
    {"timeout", kProbed},
    {"deregister_after", kChecked},
    {"healthy_threshold", kChecked},
    {"unhealthy_threshold", kChecked},
    {"http_url", kHttpBit},
    {"http_method", kHttpBit},
    {"http_headers", kHttpBit},
    {"http_follow_redirects", kHttpBit},
    {"grpc_service", kGrpcBit},
    {"grpc_tls", kGrpcBit},
    {"tls_skip_verify", kHttpBit | kGrpcBit},
    {"tls_server_name", kHttpBit | kGrpcBit},
};

// "httpUrl" -> "http_url"; snake_case names stay as they are.
std::string SnakeCase(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (absl::ascii_isupper(static_cast<unsigned char>(c))) {
      out += '_';
      out += absl::ascii_tolower(static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> Scalar(const std::string& field,
                                   const YAML::Node& node) {
  if (!node.IsScalar()) {
    return UsageError(
        absl::StrCat(field, ": want a single value, not a list or an object"));
  }
  return node.Scalar();
}

absl::StatusOr<bool> Bool(const std::string& field, const YAML::Node& node) {
  absl::StatusOr<std::string> text = Scalar(field, node);
  if (!text.ok()) return text.status();
  if (*text == "true") return true;
  if (*text == "false") return false;
  return UsageError(
      absl::StrCat(field, ": want true or false, got \"", *text, "\""));
}

absl::StatusOr<google::protobuf::Duration> PositiveDuration(
    const std::string& field, const YAML::Node& node) {
  absl::StatusOr<std::string> text = Scalar(field, node);
  if (!text.ok()) return text.status();
  absl::StatusOr<absl::Duration> d = ParseDuration(field, *text);
  if (!d.ok()) return d.status();
  if (*d <= absl::ZeroDuration()) {
    return UsageError(absl::StrCat(
        field, ": must be longer than zero (leave it out for the default)"));
  }
  return ToProtoDuration(*d);
}

// A map of single values: metadata, http_headers.
absl::Status StringMap(const std::string& field, const YAML::Node& node,
                       google::protobuf::Map<std::string, std::string>& out) {
  if (!node.IsMap()) {
    return UsageError(absl::StrCat(field, ": want an object of key: value"));
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    if (key.empty()) {
      return UsageError(absl::StrCat(field, ": a key must not be empty"));
    }
    absl::StatusOr<std::string> value =
        kv.second.IsNull() ? std::string()
                           : Scalar(field + "." + key, kv.second);
    if (!value.ok()) return value.status();
    out[key] = *value;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<v1::CheckKind, unsigned>> ParseKind(
    const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) {
    return UsageError("check.kind: required: ttl, http, tcp, grpc or none");
  }
  absl::StatusOr<std::string> text = Scalar("check.kind", node);
  if (!text.ok()) return text.status();
  std::string kind = absl::AsciiStrToLower(*text);
  // The API's own names (CHECK_KIND_TTL, as `-o json` prints them) too.
  if (absl::StartsWith(kind, "check_kind_")) kind = kind.substr(11);
  if (kind == "ttl") return std::make_pair(v1::CHECK_KIND_TTL, +kTtlBit);
  if (kind == "http") return std::make_pair(v1::CHECK_KIND_HTTP, +kHttpBit);
  if (kind == "tcp") return std::make_pair(v1::CHECK_KIND_TCP, +kTcpBit);
  if (kind == "grpc") return std::make_pair(v1::CHECK_KIND_GRPC, +kGrpcBit);
  if (kind == "none") return std::make_pair(v1::CHECK_KIND_NONE, +kNoneBit);
  return UsageError(absl::StrCat(
      "check.kind: want ttl, http, tcp, grpc or none, got \"", *text, "\""));
}

absl::Status ParseCheckField(const std::string& name, const YAML::Node& value,
                             v1::CheckSpec& check) {
  const std::string field = "check." + name;
  struct DurationField {
    const char* name;
    google::protobuf::Duration* target;
  };
  for (const DurationField& d :
       {DurationField{"ttl", check.mutable_ttl()},
        DurationField{"interval", check.mutable_interval()},
        DurationField{"timeout", check.mutable_timeout()},
        DurationField{"deregister_after", check.mutable_deregister_after()}}) {
    if (name != d.name) continue;
    absl::StatusOr<google::protobuf::Duration> parsed =
        PositiveDuration(field, value);
    if (!parsed.ok()) return parsed.status();
    *d.target = *parsed;
    return absl::OkStatus();
  }
  if (name == "healthy_threshold" || name == "unhealthy_threshold") {
    absl::StatusOr<std::string> text = Scalar(field, value);
    if (!text.ok()) return text.status();
    absl::StatusOr<uint64_t> n = ParseUnsigned(field, *text, 1, kMaxUint32);
    if (!n.ok()) return n.status();
    if (name == "healthy_threshold") {
      check.set_healthy_threshold(static_cast<uint32_t>(*n));
    } else {
      check.set_unhealthy_threshold(static_cast<uint32_t>(*n));
    }
    return absl::OkStatus();
  }
  if (name == "http_headers") {
    return StringMap(field, value, *check.mutable_http_headers());
  }
  if (name == "http_follow_redirects" || name == "grpc_tls" ||
      name == "tls_skip_verify") {
    absl::StatusOr<bool> b = Bool(field, value);
    if (!b.ok()) return b.status();
    if (name == "http_follow_redirects") check.set_http_follow_redirects(*b);
    if (name == "grpc_tls") check.set_grpc_tls(*b);
    if (name == "tls_skip_verify") check.set_tls_skip_verify(*b);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> text = Scalar(field, value);
  if (!text.ok()) return text.status();
  if (name == "http_url") check.set_http_url(*text);
  if (name == "http_method") check.set_http_method(*text);
  if (name == "grpc_service") check.set_grpc_service(*text);
  if (name == "tls_server_name") check.set_tls_server_name(*text);
  return absl::OkStatus();
}

absl::Status ParseCheck(const YAML::Node& node, v1::CheckSpec& check) {
  if (node.IsScalar()) {  // check: tcp
    absl::StatusOr<std::pair<v1::CheckKind, unsigned>> kind = ParseKind(node);
    if (!kind.ok()) return kind.status();
    if (kind->second == kTtlBit || kind->second == kHttpBit) {
      return UsageError(
          "check: a ttl or http check needs an object: {kind: ttl, ttl: 30s} "
          "or {kind: http, http_url: URL}");
    }
    check.set_kind(kind->first);
    return absl::OkStatus();
  }
  if (!node.IsMap()) {
    return UsageError("check: want an object such as {kind: ttl, ttl: 30s}");
  }
  absl::StatusOr<std::pair<v1::CheckKind, unsigned>> kind =
      ParseKind(node["kind"]);
  if (!kind.ok()) return kind.status();
  check.set_kind(kind->first);
  const std::string kind_name =
      absl::AsciiStrToLower(v1::CheckKind_Name(kind->first).substr(11));
  for (const auto& kv : node) {
    const std::string name = SnakeCase(kv.first.Scalar());
    if (kv.second.IsNull()) continue;
    const CheckField* known = nullptr;
    for (const CheckField& f : kCheckFields) {
      if (name == f.name) known = &f;
    }
    if (known == nullptr) {
      return UsageError(
          absl::StrCat("check: unknown field \"", kv.first.Scalar(), "\""));
    }
    if ((known->kinds & kind->second) == 0) {
      return UsageError(absl::StrCat(
          "check.", name, ": does not apply to a check of kind ", kind_name));
    }
    if (name == "kind") continue;
    absl::Status s = ParseCheckField(name, kv.second, check);
    if (!s.ok()) return s;
  }
  if (kind->first == v1::CHECK_KIND_TTL && !check.has_ttl()) {
    return UsageError("check.ttl: required for a ttl check, e.g. 30s");
  }
  if (kind->first == v1::CHECK_KIND_HTTP && check.http_url().empty()) {
    return UsageError(
        "check.http_url: required for an http check, e.g. "
        "http://10.0.0.7:8080/health");
  }
  if (kind->first == v1::CHECK_KIND_GRPC && !check.grpc_tls() &&
      (check.tls_skip_verify() || !check.tls_server_name().empty())) {
    return UsageError(
        "check.tls_skip_verify, check.tls_server_name: need grpc_tls: true");
  }
  return absl::OkStatus();
}

absl::Status ParseEntry(const YAML::Node& node, v1::Instance& instance) {
  if (!node.IsMap()) {
    return UsageError("want an object with service, address and port");
  }
  for (const auto& kv : node) {
    const std::string key = SnakeCase(kv.first.Scalar());
    const YAML::Node& value = kv.second;
    if (value.IsNull()) continue;  // "zone:" with nothing after it
    if (key == "check") {
      absl::Status s = ParseCheck(value, *instance.mutable_check());
      if (!s.ok()) return s;
      continue;
    }
    if (key == "tags") {
      if (!value.IsSequence()) {
        return UsageError("tags: want a list, e.g. [canary, v2]");
      }
      for (const YAML::Node& tag : value) {
        absl::StatusOr<std::string> text = Scalar("tags", tag);
        if (!text.ok()) return text.status();
        if (text->empty()) return UsageError("tags: a tag must not be empty");
        instance.add_tags(*text);
      }
      continue;
    }
    if (key == "metadata") {
      absl::Status s =
          StringMap("metadata", value, *instance.mutable_metadata());
      if (!s.ok()) return s;
      continue;
    }
    absl::StatusOr<std::string> text = Scalar(key, value);
    if (key == "service" || key == "id" || key == "address" || key == "port" ||
        key == "weight" || key == "zone" || key == "version") {
      if (!text.ok()) return text.status();
    }
    if (key == "service") {
      instance.set_service(*text);
    } else if (key == "id") {
      instance.set_id(*text);
    } else if (key == "address") {
      instance.set_address(*text);
    } else if (key == "port") {
      absl::StatusOr<uint32_t> port = ParsePort("port", *text);
      if (!port.ok()) return port.status();
      instance.set_port(*port);
    } else if (key == "weight") {
      absl::StatusOr<uint64_t> weight =
          ParseUnsigned("weight", *text, 0, kMaxUint32);
      if (!weight.ok()) return weight.status();
      instance.set_weight(static_cast<uint32_t>(*weight));
    } else if (key == "zone") {
      instance.set_zone(*text);
    } else if (key == "version") {
      instance.set_version(*text);
    } else {
      return UsageError(absl::StrCat(
          "unknown field \"", kv.first.Scalar(),
          "\" (want service, id, address, port, tags, metadata, weight, zone, "
          "version or check)"));
    }
  }
  if (instance.service().empty()) return UsageError("service: required");
  if (instance.address().empty()) return UsageError("address: required");
  if (instance.port() == 0) return UsageError("port: required, 1..65535");
  if (!instance.has_check())
    instance.mutable_check()->set_kind(v1::CHECK_KIND_NONE);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::RegisterRequest>> Parse(
    const std::string& name, const std::string& text,
    const std::string& realm) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return UsageError(absl::StrCat(name, ": line ", e.mark.line + 1,
                                   ": not valid JSON or YAML: ", e.msg));
  }
  const char kShape[] =
      "want a list of instances, or an object {\"instances\": [...]}";
  YAML::Node entries = root;
  if (root.IsMap()) {
    for (const auto& kv : root) {
      if (kv.first.Scalar() != "instances") {
        return UsageError(absl::StrCat(name, ": unknown field \"",
                                       kv.first.Scalar(), "\"; ", kShape));
      }
    }
    entries = root["instances"];
  }
  if (!entries.IsSequence()) {
    return UsageError(absl::StrCat(name, ": ", kShape));
  }
  if (entries.size() == 0) {
    return UsageError(absl::StrCat(name, ": no instances in the file"));
  }
  std::vector<v1::RegisterRequest> requests;
  std::map<std::string, size_t> ids;  // service/id -> instance number
  size_t index = 0;
  for (const YAML::Node& entry : entries) {
    ++index;
    const std::string where = absl::StrCat(
        name, ": instance ", index, " (line ", entry.Mark().line + 1, "): ");
    v1::RegisterRequest request;
    request.set_realm(realm);
    absl::Status s = ParseEntry(entry, *request.mutable_instance());
    if (!s.ok()) return UsageError(absl::StrCat(where, s.message()));
    const v1::Instance& instance = request.instance();
    if (!instance.id().empty()) {
      std::string key = absl::StrCat(instance.service(), "/", instance.id());
      auto [it, inserted] = ids.emplace(key, index);
      if (!inserted) {
        return UsageError(
            absl::StrCat(where, "id: ", key, " is also instance ", it->second));
      }
    }
    requests.push_back(std::move(request));
  }
  return requests;
}

}  // namespace

absl::StatusOr<std::vector<v1::RegisterRequest>> ParseInstanceFile(
    const std::string& name, const std::string& text,
    const std::string& realm) {
  // yaml-cpp reports errors by exception; none escapes this function.
  try {
    return Parse(name, text, realm);
  } catch (const YAML::Exception& e) {
    return UsageError(
        absl::StrCat(name, ": line ", e.mark.line + 1, ": ", e.msg));
  }
}

}  // namespace muster::cli
