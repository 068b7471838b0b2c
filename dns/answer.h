#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "registry/model.h"

namespace muster::dns {

// The zone muster answers for.
inline constexpr char kZone[] = "muster.";

// What a name under `muster.` asks for. Value type.
struct ParsedName {
  enum class Kind {
    kApex,        // muster.
    kRealm,       // <realm>.muster.
    kService,     // <service>.<realm>.muster.
    kSrvService,  // _<service>._tcp.<realm>.muster. (RFC 2782)
    kInstance,    // <instance-label>.<service>.<realm>.muster.
  };
  Kind kind = Kind::kApex;
  std::string realm;
  std::string service;
  // kInstance: SanitizeLabel(instance id).
  std::string instance_label;
};

// Parses a query name, in any case, with or without the final dot.
// NOT_FOUND when the name is not under `muster.` (another zone);
// INVALID_ARGUMENT when it is under `muster.` but no name muster has
// (NXDOMAIN).
absl::StatusOr<ParsedName> ParseName(absl::string_view name);

// An instance id as one DNS label: lower case, every byte other than
// [a-z0-9-] becomes '-', at most 63 bytes; "x" for an empty id.
std::string SanitizeLabel(absl::string_view id);

// What the registry holds under one name. Value type.
struct ServiceView {
  // Any instance registered (routable or not).
  bool exists = false;
  // The routable ones (ENABLED and PASSING or WARNING).
  std::vector<std::shared_ptr<const registry::Instance>> routable;
};

// The registry as the answers see it. Implementations are thread-safe.
class Directory {
 public:
  virtual ~Directory() = default;
  virtual bool RealmExists(const std::string& realm) const = 0;
  virtual ServiceView Service(const std::string& realm,
                              const std::string& service) const = 0;
};

// One answered query. Value type.
struct Answered {
  // Nothing to send (too short to have an id, or a response): drop it.
  bool drop = false;
  std::vector<uint8_t> wire;
  // For metrics: "A", "AAAA", "SRV", "other" or "none"; the RCODE name.
  std::string qtype = "none";
  std::string rcode = "NOERROR";
  bool truncated = false;
};

struct AnswerOptions {
  uint32_t ttl_seconds = 0;
  // TCP: no 512-byte or EDNS limit, only the 65535 of the framing.
  bool tcp = false;
  // The UDP payload size muster advertises in its OPT record.
  uint16_t edns_size = 1232;
};

// Answers the DNS query in `query` (wire format). Records are shuffled
// with `rng`. An answer larger than the client can take (512 bytes
// without EDNS, its EDNS size otherwise; 65535 over TCP) goes out with TC
// set and no records. Thread-compatible (`rng` is the caller's).
Answered Answer(const uint8_t* query, size_t size, const Directory& directory,
                const AnswerOptions& options, std::mt19937_64& rng);

}  // namespace muster::dns
