#include "dns/answer.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace muster::dns {
namespace {

using registry::Instance;

struct PacketFree {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketFree>;

bool IsLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  for (char c : label) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

const char* RcodeName(uint8_t rcode) {
  switch (rcode) {
    case LDNS_RCODE_NOERROR:
      return "NOERROR";
    case LDNS_RCODE_FORMERR:
      return "FORMERR";
    case LDNS_RCODE_SERVFAIL:
      return "SERVFAIL";
    case LDNS_RCODE_NXDOMAIN:
      return "NXDOMAIN";
    case LDNS_RCODE_NOTIMPL:
      return "NOTIMP";
    case LDNS_RCODE_REFUSED:
      return "REFUSED";
    default:
      return "other";
  }
}

// A header-only reply to bytes that do not parse: the id, opcode and RD
// copied, QR and `rcode` set, no sections.
std::vector<uint8_t> HeaderOnly(const uint8_t* query, uint8_t rcode) {
  std::vector<uint8_t> wire(12, 0);
  wire[0] = query[0];
  wire[1] = query[1];
  wire[2] = static_cast<uint8_t>(0x80 | (query[2] & 0x79));  // QR, opcode, RD
  wire[3] = rcode & 0x0f;
  return wire;
}

bool AddRecord(ldns_pkt* packet, ldns_pkt_section section,
               const std::string& text) {
  ldns_rr* rr = nullptr;
  if (ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr) !=
      LDNS_STATUS_OK) {
    return false;
  }
  ldns_pkt_push_rr(packet, section, rr);
  return true;
}

enum class Family { kV4, kV6, kHostname };

Family FamilyOf(const std::string& address) {
  in6_addr v6;
  in_addr v4;
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return Family::kV4;
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) return Family::kV6;
  return Family::kHostname;
}

// The records of one answer, as zone-file lines.
struct Records {
  uint8_t rcode = LDNS_RCODE_NOERROR;
  std::vector<std::string> answer;
  std::vector<std::string> authority;
  std::vector<std::string> additional;
};

std::string Soa(uint32_t ttl) {
  return absl::StrCat(kZone, " ", ttl, " IN SOA ns.", kZone, " hostmaster.",
                      kZone, " 1 3600 600 86400 ", ttl);
}

std::string AddressRecord(const std::string& owner, uint32_t ttl,
                          const Instance& instance) {
  return absl::StrCat(
      owner, " ", ttl, " IN ",
      FamilyOf(instance.address) == Family::kV4 ? "A " : "AAAA ",
      instance.address);
}

std::string TargetOf(const Instance& instance) {
  if (FamilyOf(instance.address) == Family::kHostname) {
    return absl::StrCat(instance.address, ".");
  }
  return absl::StrCat(SanitizeLabel(instance.id), ".", instance.service, ".",
                      instance.realm, ".", kZone);
}

void AddAddresses(const std::string& owner, ldns_rr_type type, uint32_t ttl,
                  const std::vector<std::shared_ptr<const Instance>>& routable,
                  Records& out) {
  const Family want = type == LDNS_RR_TYPE_A ? Family::kV4 : Family::kV6;
  for (const auto& instance : routable) {
    if (FamilyOf(instance->address) == want) {
      out.answer.push_back(AddressRecord(owner, ttl, *instance));
    }
  }
}

void AddSrv(const std::string& owner, uint32_t ttl,
            const std::vector<std::shared_ptr<const Instance>>& routable,
            Records& out) {
  for (const auto& instance : routable) {
    const uint32_t weight =
        std::min<uint32_t>(std::max<uint32_t>(instance->weight, 1), 65535);
    const std::string target = TargetOf(*instance);
    out.answer.push_back(absl::StrCat(owner, " ", ttl, " IN SRV 1 ", weight,
                                      " ", instance->port, " ", target));
    if (FamilyOf(instance->address) != Family::kHostname) {
      out.additional.push_back(AddressRecord(target, ttl, *instance));
    }
  }
}

Records Resolve(const ParsedName& name, const std::string& owner,
                ldns_rr_type type, const Directory& directory, uint32_t ttl,
                std::mt19937_64& rng) {
  Records out;
  const bool soa = type == LDNS_RR_TYPE_SOA;
  switch (name.kind) {
    case ParsedName::Kind::kApex:
      if (soa) {
        out.answer.push_back(Soa(ttl));
        return out;
      }
      break;
    case ParsedName::Kind::kRealm:
      if (!directory.RealmExists(name.realm)) out.rcode = LDNS_RCODE_NXDOMAIN;
      break;
    case ParsedName::Kind::kService:
    case ParsedName::Kind::kSrvService:
    case ParsedName::Kind::kInstance: {
      ServiceView view = directory.Service(name.realm, name.service);
      if (name.kind == ParsedName::Kind::kInstance) {
        bool registered = false;
        std::vector<std::shared_ptr<const Instance>> mine;
        // An instance's name exists while the instance is routable.
        for (const auto& instance : view.routable) {
          if (SanitizeLabel(instance->id) == name.instance_label) {
            registered = true;
            mine.push_back(instance);
          }
        }
        if (!registered) {
          out.rcode = LDNS_RCODE_NXDOMAIN;
          break;
        }
        view.routable = std::move(mine);
      } else if (!view.exists) {
        out.rcode = LDNS_RCODE_NXDOMAIN;
        break;
      }
      std::shuffle(view.routable.begin(), view.routable.end(), rng);
      if (name.kind == ParsedName::Kind::kSrvService) {
        if (type == LDNS_RR_TYPE_SRV) AddSrv(owner, ttl, view.routable, out);
      } else if (type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_AAAA) {
        AddAddresses(owner, type, ttl, view.routable, out);
      } else if (type == LDNS_RR_TYPE_SRV &&
                 name.kind == ParsedName::Kind::kService) {
        AddSrv(owner, ttl, view.routable, out);
      }
      break;
    }
  }
  // NXDOMAIN and NODATA carry the SOA (negative caching, RFC 2308).
  if (out.answer.empty()) out.authority.push_back(Soa(ttl));
  return out;
}

// The reply's header and question, and the OPT record when the query had
// one.
Packet Reply(const ldns_pkt* query, bool edns, uint16_t edns_size) {
  Packet reply(ldns_pkt_new());
  ldns_pkt_set_id(reply.get(), ldns_pkt_id(query));
  ldns_pkt_set_qr(reply.get(), true);
  ldns_pkt_set_opcode(reply.get(), ldns_pkt_get_opcode(query));
  ldns_pkt_set_rd(reply.get(), ldns_pkt_rd(query));
  if (ldns_pkt_qdcount(query) == 1) {
    ldns_pkt_push_rr(
        reply.get(), LDNS_SECTION_QUESTION,
        ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(query), 0)));
  }
  if (edns) {
    ldns_pkt_set_edns_udp_size(reply.get(), edns_size);
    ldns_pkt_set_edns_version(reply.get(), 0);
  }
  return reply;
}

std::vector<uint8_t> Wire(const ldns_pkt* packet) {
  uint8_t* data = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&data, packet, &size) != LDNS_STATUS_OK) return {};
  std::vector<uint8_t> wire(data, data + size);
  std::free(data);
  return wire;
}

}  // namespace

absl::StatusOr<ParsedName> ParseName(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  std::vector<std::string> labels = absl::StrSplit(lower, '.');
  if (labels.empty() || labels.back() != "muster") {
    return absl::NotFoundError(absl::StrCat(name, " is not under muster."));
  }
  labels.pop_back();
  for (const std::string& label : labels) {
    if (!IsLabel(label)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": a label is empty, too long or not a name"));
    }
  }
  ParsedName parsed;
  switch (labels.size()) {
    case 0:
      parsed.kind = ParsedName::Kind::kApex;
      return parsed;
    case 1:
      parsed.kind = ParsedName::Kind::kRealm;
      parsed.realm = labels[0];
      return parsed;
    case 2:
      parsed.kind = ParsedName::Kind::kService;
      parsed.service = labels[0];
      parsed.realm = labels[1];
      break;
    case 3:
      if (labels[0].size() > 1 && labels[0][0] == '_') {
        if (labels[1] != "_tcp") {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ": only _tcp services"));
        }
        parsed.kind = ParsedName::Kind::kSrvService;
        parsed.service = labels[0].substr(1);
      } else {
        parsed.kind = ParsedName::Kind::kInstance;
        parsed.instance_label = labels[0];
        parsed.service = labels[1];
      }
      parsed.realm = labels[2];
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": too many labels"));
  }
  for (const std::string* label : {&parsed.service, &parsed.realm}) {
    if (label->find('_') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": not a service or realm name"));
    }
  }
  return parsed;
}

std::string SanitizeLabel(absl::string_view id) {
  std::string label;
  for (char c : id.substr(0, 63)) {
    const char lower = absl::ascii_tolower(c);
    label.push_back(absl::ascii_isalnum(lower) || lower == '-' ? lower : '-');
  }
  if (label.empty()) label = "x";
  return label;
}

Answered Answer(const uint8_t* query_wire, size_t size,
                const Directory& directory, const AnswerOptions& options,
                std::mt19937_64& rng) {
  Answered out;
  // Shorter than a header, or a response: nothing to answer.
  if (size < 12 || (query_wire[2] & 0x80) != 0) {
    out.drop = true;
    return out;
  }
  ldns_pkt* parsed = nullptr;
  if (ldns_wire2pkt(&parsed, query_wire, size) != LDNS_STATUS_OK) {
    out.wire = HeaderOnly(query_wire, LDNS_RCODE_FORMERR);
    out.rcode = "FORMERR";
    return out;
  }
  const Packet query(parsed);
  const bool edns = ldns_pkt_edns(query.get());
  size_t limit = 512;
  if (options.tcp) {
    limit = 65535;
  } else if (edns) {
    limit = std::max<size_t>(512, ldns_pkt_edns_udp_size(query.get()));
  }
  Packet reply = Reply(query.get(), edns, options.edns_size);
  uint8_t rcode = LDNS_RCODE_NOERROR;
  Records records;
  if (ldns_pkt_get_opcode(query.get()) != LDNS_PACKET_QUERY) {
    rcode = LDNS_RCODE_NOTIMPL;
  } else if (ldns_pkt_qdcount(query.get()) != 1) {
    rcode = LDNS_RCODE_FORMERR;
  } else {
    const ldns_rr* question =
        ldns_rr_list_rr(ldns_pkt_question(query.get()), 0);
    const ldns_rr_type type = ldns_rr_get_type(question);
    out.qtype = type == LDNS_RR_TYPE_A      ? "A"
                : type == LDNS_RR_TYPE_AAAA ? "AAAA"
                : type == LDNS_RR_TYPE_SRV  ? "SRV"
                                            : "other";
    char* owner_text = ldns_rdf2str(ldns_rr_owner(question));
    const std::string owner =
        absl::AsciiStrToLower(owner_text != nullptr ? owner_text : "");
    std::free(owner_text);
    absl::StatusOr<ParsedName> name = ParseName(owner);
    if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN ||
        type == LDNS_RR_TYPE_ANY || type == LDNS_RR_TYPE_AXFR ||
        type == LDNS_RR_TYPE_IXFR) {
      rcode = LDNS_RCODE_NOTIMPL;
    } else if (absl::IsNotFound(name.status())) {
      rcode = LDNS_RCODE_REFUSED;
    } else if (!name.ok()) {
      rcode = LDNS_RCODE_NXDOMAIN;
      records.authority.push_back(Soa(options.ttl_seconds));
    } else {
      records =
          Resolve(*name, owner, type, directory, options.ttl_seconds, rng);
      rcode = records.rcode;
    }
  }
  ldns_pkt_set_rcode(reply.get(), rcode);
  out.rcode = RcodeName(rcode);
  const bool authoritative =
      rcode == LDNS_RCODE_NOERROR || rcode == LDNS_RCODE_NXDOMAIN;
  ldns_pkt_set_aa(reply.get(), authoritative);
  bool built = true;
  for (const std::string& text : records.answer)
    built = built && AddRecord(reply.get(), LDNS_SECTION_ANSWER, text);
  for (const std::string& text : records.authority)
    built = built && AddRecord(reply.get(), LDNS_SECTION_AUTHORITY, text);
  for (const std::string& text : records.additional)
    built = built && AddRecord(reply.get(), LDNS_SECTION_ADDITIONAL, text);
  if (built) out.wire = Wire(reply.get());
  if (!built || out.wire.empty()) {
    reply = Reply(query.get(), edns, options.edns_size);
    ldns_pkt_set_rcode(reply.get(), LDNS_RCODE_SERVFAIL);
    out.rcode = "SERVFAIL";
    out.wire = Wire(reply.get());
    return out;
  }
  if (out.wire.size() > limit) {
    // Never trimmed silently: no records, TC set; the client retries over
    // TCP (or with a larger EDNS size).
    reply = Reply(query.get(), edns, options.edns_size);
    ldns_pkt_set_rcode(reply.get(), rcode);
    ldns_pkt_set_aa(reply.get(), authoritative);
    ldns_pkt_set_tc(reply.get(), true);
    out.truncated = true;
    out.wire = Wire(reply.get());
  }
  return out;
}

}  // namespace muster::dns
