#include "dns/answer.h"

#include <ldns/ldns.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace muster::dns {
namespace {

using muster::AdminState;
using muster::Health;
using registry::Instance;

class FakeDirectory final : public Directory {
 public:
  void Add(const std::string& service, const std::string& id,
           const std::string& address, uint32_t port, Health health,
           AdminState admin = AdminState::kEnabled, uint32_t weight = 1) {
    auto instance = std::make_shared<Instance>();
    instance->realm = "prod";
    instance->service = service;
    instance->id = id;
    instance->address = address;
    instance->port = port;
    instance->health = health;
    instance->admin_state = admin;
    instance->weight = weight;
    services_[service].push_back(instance);
  }
  bool RealmExists(const std::string& realm) const override {
    return realm == "prod";
  }
  ServiceView Service(const std::string& realm,
                      const std::string& service) const override {
    ServiceView view;
    if (realm != "prod") return view;
    auto it = services_.find(service);
    if (it == services_.end()) return view;
    view.exists = true;
    for (const auto& instance : it->second) {
      if (instance->Routable()) view.routable.push_back(instance);
    }
    return view;
  }

 private:
  std::map<std::string, std::vector<std::shared_ptr<const Instance>>> services_;
};

struct PacketFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketFree>;

std::vector<uint8_t> Query(const std::string& name, ldns_rr_type type,
                           int edns_size = 0) {
  ldns_pkt* query = nullptr;
  REQUIRE(ldns_pkt_query_new_frm_str(&query, name.c_str(), type,
                                     LDNS_RR_CLASS_IN,
                                     LDNS_RD) == LDNS_STATUS_OK);
  ldns_pkt_set_id(query, 4242);
  if (edns_size > 0) ldns_pkt_set_edns_udp_size(query, edns_size);
  uint8_t* data = nullptr;
  size_t size = 0;
  REQUIRE(ldns_pkt2wire(&data, query, &size) == LDNS_STATUS_OK);
  std::vector<uint8_t> wire(data, data + size);
  free(data);
  ldns_pkt_free(query);
  return wire;
}

struct Reply {
  Answered answered;
  Packet packet;
  std::vector<std::string> answers;     // rdata text of the answer section
  std::vector<std::string> additional;  // "owner rdata"
};

std::string RdataText(const ldns_rr* rr) {
  std::string text;
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    char* field = ldns_rdf2str(ldns_rr_rdf(rr, i));
    if (!text.empty()) text += " ";
    text += field;
    free(field);
  }
  return text;
}

Reply Ask(const FakeDirectory& directory, const std::string& name,
          ldns_rr_type type, AnswerOptions options = {}, int edns_size = 0) {
  static std::mt19937_64 rng(7);
  const std::vector<uint8_t> query = Query(name, type, edns_size);
  Reply reply;
  reply.answered = Answer(query.data(), query.size(), directory, options, rng);
  REQUIRE_FALSE(reply.answered.drop);
  ldns_pkt* packet = nullptr;
  REQUIRE(ldns_wire2pkt(&packet, reply.answered.wire.data(),
                        reply.answered.wire.size()) == LDNS_STATUS_OK);
  reply.packet.reset(packet);
  REQUIRE(ldns_pkt_id(packet) == 4242);
  REQUIRE(ldns_pkt_qr(packet));
  ldns_rr_list* answer = ldns_pkt_answer(packet);
  for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    REQUIRE(ldns_rr_ttl(rr) == options.ttl_seconds);
    reply.answers.push_back(RdataText(rr));
  }
  ldns_rr_list* additional = ldns_pkt_additional(packet);
  for (size_t i = 0; i < ldns_rr_list_rr_count(additional); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(additional, i);
    char* owner = ldns_rdf2str(ldns_rr_owner(rr));
    reply.additional.push_back(std::string(owner) + " " + RdataText(rr));
    free(owner);
  }
  return reply;
}

std::set<std::string> Set(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

FakeDirectory Fleet() {
  FakeDirectory directory;
  directory.Add("web", "w1", "10.0.0.1", 8080, Health::kPassing);
  directory.Add("web", "w2", "10.0.0.2", 8080, Health::kWarning,
                AdminState::kEnabled, 5);
  directory.Add("web", "w3", "10.0.0.3", 8080, Health::kCritical);
  directory.Add("web", "w4", "10.0.0.4", 8080, Health::kPassing,
                AdminState::kDraining);
  directory.Add("web", "W5.Host:1", "fd00::5", 8081, Health::kPassing);
  directory.Add("web", "h", "web-6.example.com", 8082, Health::kPassing);
  directory.Add("down", "d1", "10.0.1.1", 80, Health::kCritical);
  directory.Add("v4", "a", "10.0.2.1", 80, Health::kPassing);
  return directory;
}

}  // namespace

TEST_CASE("DNS names parse into realm, service and instance", "[dns]") {
  auto service = ParseName("Web.Prod.MUSTER.");
  REQUIRE(service.ok());
  CHECK(service->kind == ParsedName::Kind::kService);
  CHECK(service->service == "web");
  CHECK(service->realm == "prod");
  auto srv = ParseName("_web._tcp.prod.muster");
  REQUIRE(srv.ok());
  CHECK(srv->kind == ParsedName::Kind::kSrvService);
  CHECK(srv->service == "web");
  auto instance = ParseName("w1.web.prod.muster.");
  REQUIRE(instance.ok());
  CHECK(instance->kind == ParsedName::Kind::kInstance);
  CHECK(instance->instance_label == "w1");
  CHECK(ParseName("muster.")->kind == ParsedName::Kind::kApex);
  CHECK(ParseName("prod.muster.")->kind == ParsedName::Kind::kRealm);
  CHECK(absl::IsNotFound(ParseName("example.com.").status()));
  CHECK(absl::IsNotFound(ParseName("muster.example.").status()));
  CHECK(absl::IsInvalidArgument(ParseName("_web._udp.prod.muster.").status()));
  CHECK(absl::IsInvalidArgument(ParseName("a.b.c.d.muster.").status()));
  CHECK(absl::IsInvalidArgument(ParseName("web..muster.").status()));
  CHECK(SanitizeLabel("W5.Host:1") == "w5-host-1");
  CHECK(SanitizeLabel("") == "x");
  CHECK(SanitizeLabel(std::string(100, 'a')).size() == 63);
}

TEST_CASE("A and AAAA answer the routable instances of the family only",
          "[dns]") {
  const FakeDirectory directory = Fleet();
  Reply a = Ask(directory, "web.prod.muster.", LDNS_RR_TYPE_A);
  CHECK(a.answered.rcode == "NOERROR");
  CHECK(ldns_pkt_aa(a.packet.get()));
  CHECK(Set(a.answers) == std::set<std::string>{"10.0.0.1", "10.0.0.2"});
  Reply aaaa = Ask(directory, "WEB.prod.muster.", LDNS_RR_TYPE_AAAA);
  CHECK(Set(aaaa.answers) == std::set<std::string>{"fd00::5"});
  // The owner is the query name (compressed to the question's, in its
  // case).
  char* owner = ldns_rdf2str(
      ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_answer(aaaa.packet.get()), 0)));
  CHECK(std::string(owner) == "WEB.prod.muster.");
  free(owner);
}

TEST_CASE("SRV answers carry port, weight and glue for each routable instance",
          "[dns]") {
  const FakeDirectory directory = Fleet();
  AnswerOptions options;
  options.ttl_seconds = 30;
  for (const char* name : {"web.prod.muster.", "_web._tcp.prod.muster."}) {
    Reply srv = Ask(directory, name, LDNS_RR_TYPE_SRV, options);
    CHECK(Set(srv.answers) ==
          std::set<std::string>{"1 1 8080 w1.web.prod.muster.",
                                "1 5 8080 w2.web.prod.muster.",
                                "1 1 8081 w5-host-1.web.prod.muster.",
                                "1 1 8082 web-6.example.com."});
    CHECK(Set(srv.additional) ==
          std::set<std::string>{"w1.web.prod.muster. 10.0.0.1",
                                "w2.web.prod.muster. 10.0.0.2",
                                "w5-host-1.web.prod.muster. fd00::5"});
  }
  // The glue names resolve too.
  Reply glue =
      Ask(directory, "w5-host-1.web.prod.muster.", LDNS_RR_TYPE_AAAA, options);
  CHECK(glue.answers == std::vector<std::string>{"fd00::5"});
}

TEST_CASE("NXDOMAIN for names that do not exist, NODATA for missing types",
          "[dns]") {
  const FakeDirectory directory = Fleet();
  auto rcode_and_count = [&](const std::string& name, ldns_rr_type type) {
    Reply reply = Ask(directory, name, type);
    return std::make_pair(reply.answered.rcode, reply.answers.size());
  };
  using Pair = std::pair<std::string, size_t>;
  CHECK(rcode_and_count("nope.prod.muster.", LDNS_RR_TYPE_A) ==
        Pair{"NXDOMAIN", 0});
  CHECK(rcode_and_count("web.nope.muster.", LDNS_RR_TYPE_A) ==
        Pair{"NXDOMAIN", 0});
  CHECK(rcode_and_count("nope.muster.", LDNS_RR_TYPE_A) == Pair{"NXDOMAIN", 0});
  CHECK(rcode_and_count("w3.web.prod.muster.", LDNS_RR_TYPE_A) ==
        Pair{"NXDOMAIN", 0});
  CHECK(rcode_and_count("a.b.c.prod.muster.", LDNS_RR_TYPE_A) ==
        Pair{"NXDOMAIN", 0});
  // Exists, no record of the type: NOERROR, empty, SOA in authority.
  Reply nodata = Ask(directory, "v4.prod.muster.", LDNS_RR_TYPE_AAAA);
  CHECK(nodata.answered.rcode == "NOERROR");
  CHECK(nodata.answers.empty());
  CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(nodata.packet.get())) == 1);
  CHECK(rcode_and_count("down.prod.muster.", LDNS_RR_TYPE_A) ==
        Pair{"NOERROR", 0});
  CHECK(rcode_and_count("web.prod.muster.", LDNS_RR_TYPE_TXT) ==
        Pair{"NOERROR", 0});
  CHECK(rcode_and_count("prod.muster.", LDNS_RR_TYPE_A) == Pair{"NOERROR", 0});
  CHECK(rcode_and_count("muster.", LDNS_RR_TYPE_SOA) == Pair{"NOERROR", 1});
  // Other zones and unsupported queries.
  CHECK(rcode_and_count("example.com.", LDNS_RR_TYPE_A) == Pair{"REFUSED", 0});
  CHECK(rcode_and_count("web.prod.muster.", LDNS_RR_TYPE_ANY) ==
        Pair{"NOTIMP", 0});
  CHECK(rcode_and_count("web.prod.muster.", LDNS_RR_TYPE_AXFR) ==
        Pair{"NOTIMP", 0});
}

TEST_CASE("malformed DNS queries get FORMERR or are dropped", "[dns]") {
  const FakeDirectory directory = Fleet();
  std::mt19937_64 rng(1);
  std::vector<uint8_t> query = Query("web.prod.muster.", LDNS_RR_TYPE_A);
  // Cut inside the question: FORMERR with the id.
  Answered cut = Answer(query.data(), 15, directory, {}, rng);
  REQUIRE_FALSE(cut.drop);
  CHECK(cut.rcode == "FORMERR");
  REQUIRE(cut.wire.size() == 12);
  CHECK(cut.wire[0] == query[0]);
  CHECK(cut.wire[1] == query[1]);
  CHECK((cut.wire[3] & 0x0f) == LDNS_RCODE_FORMERR);
  // Too short for a header, or a response: dropped.
  CHECK(Answer(query.data(), 5, directory, {}, rng).drop);
  std::vector<uint8_t> response = query;
  response[2] |= 0x80;
  CHECK(Answer(response.data(), response.size(), directory, {}, rng).drop);
  // Two questions: FORMERR. An opcode other than QUERY: NOTIMP.
  std::vector<uint8_t> two = query;
  two[5] = 2;
  CHECK(Answer(two.data(), two.size(), directory, {}, rng).rcode != "NOERROR");
  std::vector<uint8_t> status = query;
  status[2] = static_cast<uint8_t>((status[2] & 0x87) | (2 << 3));
  CHECK(Answer(status.data(), status.size(), directory, {}, rng).rcode ==
        "NOTIMP");
}

TEST_CASE("answers too large for the client's buffer are truncated with TC",
          "[dns]") {
  FakeDirectory directory;
  for (int i = 0; i < 60; ++i) {
    directory.Add("big", "i" + std::to_string(i),
                  "10.1.0." + std::to_string(i + 1), 9000, Health::kPassing);
  }
  // No EDNS: 512 bytes; 60 A records do not fit.
  Reply plain = Ask(directory, "big.prod.muster.", LDNS_RR_TYPE_A);
  CHECK(ldns_pkt_tc(plain.packet.get()));
  CHECK(plain.answered.truncated);
  CHECK(plain.answers.empty());
  CHECK(plain.answered.wire.size() <= 512);
  CHECK_FALSE(ldns_pkt_edns(plain.packet.get()));
  // EDNS 4096: all of them, and an OPT record back.
  Reply edns = Ask(directory, "big.prod.muster.", LDNS_RR_TYPE_A, {}, 4096);
  CHECK_FALSE(ldns_pkt_tc(edns.packet.get()));
  CHECK(edns.answers.size() == 60);
  CHECK(ldns_pkt_edns(edns.packet.get()));
  CHECK(ldns_pkt_edns_udp_size(edns.packet.get()) == 1232);
  // SRV with glue over EDNS 1232 does not fit: TC, the OPT still echoed.
  Reply srv = Ask(directory, "big.prod.muster.", LDNS_RR_TYPE_SRV, {}, 1232);
  CHECK(ldns_pkt_tc(srv.packet.get()));
  CHECK(ldns_pkt_edns(srv.packet.get()));
  CHECK(srv.answered.wire.size() <= 1232);
  // TCP: everything.
  AnswerOptions tcp;
  tcp.tcp = true;
  Reply all = Ask(directory, "big.prod.muster.", LDNS_RR_TYPE_SRV, tcp);
  CHECK_FALSE(ldns_pkt_tc(all.packet.get()));
  CHECK(all.answers.size() == 60);
  CHECK(all.additional.size() == 60);
}

TEST_CASE("DNS answers are shuffled", "[dns]") {
  FakeDirectory directory;
  for (int i = 0; i < 8; ++i) {
    directory.Add("s", "i" + std::to_string(i),
                  "10.2.0." + std::to_string(i + 1), 80, Health::kPassing);
  }
  std::set<std::string> firsts;
  for (int i = 0; i < 50; ++i) {
    firsts.insert(Ask(directory, "s.prod.muster.", LDNS_RR_TYPE_A).answers[0]);
  }
  CHECK(firsts.size() > 3);
}

}  // namespace muster::dns
