#include "muster/client/options.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "client/src/names.h"

namespace muster::client {
namespace {

using internal::IsName;

constexpr char kDefaultAddress[] = "127.0.0.1:7400";
constexpr char kDefaultRealm[] = "default";

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

std::string Trim(const std::string& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin])))
    ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1])))
    --end;
  return text.substr(begin, end - begin);
}

// "host:port", "[v6]:port" or "unix:/path"; "" when valid, else the rule.
std::string CheckAddress(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) {
    return address.size() > 5 ? "" : "unix: needs a path";
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return "must be host:port";
  }
  const std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.front() == '[' ? host.back() != ']' || host.size() < 3
                          : host.find(':') != std::string::npos) {
    return "an IPv6 host must be in brackets ([::1]:7400)";
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return "the port must be a number 1..65535";
  }
  const long number = std::strtol(port.c_str(), nullptr, 10);
  if (number < 1 || number > 65535) {
    return "the port must be a number 1..65535";
  }
  return "";
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    part = Trim(part);
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// Sets `field` from the variable when the field is empty.
void FromVariable(const GetEnv& getenv, const char* variable,
                  std::string& field) {
  if (!field.empty()) return;
  if (const char* value = getenv(variable)) field = value;
}

}  // namespace

grpc::Status ApplyEnvironment(ClientOptions& options, const GetEnv& given) {
  const GetEnv getenv =
      given ? given : [](const char* name) { return std::getenv(name); };

  // Daemon addresses.
  const bool addresses_given = !options.addresses.empty();
  if (!addresses_given) {
    if (const char* value = getenv("MUSTER_ADDR")) {
      options.addresses = SplitList(value);
    }
    if (options.addresses.empty()) options.addresses = {kDefaultAddress};
  }
  const std::string address_field =
      addresses_given ? "addresses" : "MUSTER_ADDR";
  for (const std::string& address : options.addresses) {
    const std::string problem = CheckAddress(address);
    if (!problem.empty()) {
      return Invalid(address_field + ": \"" + address + "\" " + problem);
    }
  }

  // Realm and zone.
  const bool realm_given = !options.realm.empty();
  FromVariable(getenv, "MUSTER_REALM", options.realm);
  if (options.realm.empty()) options.realm = kDefaultRealm;
  if (!IsName(options.realm)) {
    return Invalid(std::string(realm_given ? "realm" : "MUSTER_REALM") +
                   ": \"" + options.realm +
                   "\" must be 1..63 of [a-z0-9-], not starting or ending "
                   "with '-'");
  }
  const bool zone_given = !options.zone.empty();
  FromVariable(getenv, "MUSTER_ZONE", options.zone);
  if (!options.zone.empty() && !IsName(options.zone)) {
    return Invalid(std::string(zone_given ? "zone" : "MUSTER_ZONE") + ": \"" +
                   options.zone +
                   "\" must be 1..63 of [a-z0-9-], not starting or ending "
                   "with '-'");
  }

  // TLS.
  TlsOptions& tls = options.tls;
  if (!tls.enabled) {
    if (const char* value = getenv("MUSTER_TLS")) {
      const std::string flag = value;
      tls.enabled = flag == "1" || flag == "true" || flag == "yes";
    }
  }
  FromVariable(getenv, "MUSTER_CA", tls.ca_file);
  FromVariable(getenv, "MUSTER_CERT", tls.cert_file);
  FromVariable(getenv, "MUSTER_KEY", tls.key_file);
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return Invalid(
        "tls: a client certificate needs its key (cert_file/MUSTER_CERT and "
        "key_file/MUSTER_KEY go together)");
  }
  if (!tls.ca_file.empty() || !tls.cert_file.empty()) tls.enabled = true;

  // Token.
  FromVariable(getenv, "MUSTER_TOKEN", options.token);
  if (options.token.empty()) {
    if (const char* path = getenv("MUSTER_TOKEN_FILE")) {
      std::ifstream file(path);
      std::stringstream content;
      content << file.rdbuf();
      if (!file) {
        return Invalid(std::string("MUSTER_TOKEN_FILE: cannot read ") + path);
      }
      options.token = Trim(content.str());
      if (options.token.empty()) {
        return Invalid(std::string("MUSTER_TOKEN_FILE: ") + path + " is empty");
      }
    }
  }

  if (options.call_timeout.count() <= 0) {
    return Invalid("call_timeout: must be positive");
  }
  return grpc::Status::OK;
}

}  // namespace muster::client
