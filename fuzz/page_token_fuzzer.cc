// Fuzzes the page-token decoding of registry/index.h: tokens are the
// position of a page's last record, authenticated with a SipHash of the
// query and the position under a key drawn at start-up, so a client can
// neither forge nor alter one, nor carry one over to another query.
//
// The index holds a fixed realm. Byte 0 picks the listing (instances with
// one of a few filters, or services) and how the token is made:
//   raw        the rest of the input is the token;
//   text edit  a genuine token of this run with the input's (position,
//              xor) byte pairs applied to its base64 text;
//   raw edit   the same edits applied to the decoded bytes, re-encoded
//              (the MAC no longer matches the position);
//   other      a genuine token of another listing or query.
// The key changes at every start, so no corpus file can hold a genuine
// token: the edit modes reach them from inside.
//
// Invariants: a token is accepted only when it decodes to the bytes of a
// token this index returned for this very query, and then gives the same
// page as that token; anything else is INVALID_ARGUMENT naming
// page_token. Following the tokens from the first page with any page size
// visits every matching record exactly once, in order.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "registry/index.h"
#include "registry/model.h"

namespace {

using muster::registry::Index;
using muster::registry::Instance;
using muster::registry::InstancePage;
using muster::registry::ListQuery;
using muster::registry::Realm;
using muster::registry::ServicesPage;
using muster::registry::StoredState;

constexpr char kRealm[] = "default";

// A listing: instances with a query, or services (query.realm only).
struct Listing {
  bool services = false;
  ListQuery query;
};

// One page of `listing` from `token` with `page_size`: the keys of its
// records and its next token, or the error.
struct Page {
  std::vector<std::string> keys;
  std::string next;
};

absl::StatusOr<Page> Fetch(const Index& index, const Listing& listing,
                           uint32_t page_size, const std::string& token) {
  Page page;
  if (listing.services) {
    absl::StatusOr<ServicesPage> got =
        index.ServicesPaged(listing.query.realm, page_size, token);
    if (!got.ok()) return got.status();
    for (const auto& service : got->services) page.keys.push_back(service.name);
    page.next = got->next_page_token;
    return page;
  }
  ListQuery query = listing.query;
  query.page_size = page_size;
  query.page_token = token;
  absl::StatusOr<InstancePage> got = index.List(query);
  if (!got.ok()) return got.status();
  for (const auto& instance : got->instances) {
    page.keys.push_back(instance->Key().ToString());
  }
  page.next = got->next_page_token;
  return page;
}

struct World {
  Index index;
  std::vector<Listing> listings;
  // Per listing: every genuine token (page size 1 hands out one per
  // record but the last), by its decoded bytes; and every record in
  // order.
  std::vector<std::map<std::string, std::string>> genuine;
  std::vector<std::vector<std::string>> all;
};

World* world = nullptr;

std::shared_ptr<const Instance> MakeInstance(const std::string& service,
                                             const std::string& id,
                                             const std::string& zone,
                                             std::vector<std::string> tags) {
  auto instance = std::make_shared<Instance>();
  instance->realm = kRealm;
  instance->service = service;
  instance->id = id;
  instance->address = "10.0.0.1";
  instance->port = 80;
  instance->zone = zone;
  instance->tags = std::move(tags);
  instance->health = muster::Health::kPassing;
  instance->create_revision = 1;
  instance->modify_revision = 1;
  return instance;
}

std::string Decoded(const std::string& token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return "";
  return raw;
}

void Build() {
  world = new World();
  StoredState state;
  state.revision = 1;
  state.oldest_retained_revision = 2;
  Realm realm;
  realm.name = kRealm;
  state.realms.push_back(realm);
  for (const char* service : {"api", "db", "web", "web2"}) {
    for (int i = 0; i < 4; ++i) {
      state.instances.push_back(MakeInstance(
          service, absl::StrCat(service, "-", i), i % 2 == 0 ? "z1" : "z2",
          i == 0 ? std::vector<std::string>{"blue"}
                 : std::vector<std::string>{"blue", "green"}));
    }
  }
  world->index.Load(std::move(state));
  auto listing = [](auto fill) {
    Listing l;
    l.query.realm = kRealm;
    fill(l);
    return l;
  };
  world->listings = {
      listing([](Listing&) {}),
      listing([](Listing& l) { l.query.service = "web"; }),
      listing([](Listing& l) { l.query.zone = "z1"; }),
      listing([](Listing& l) { l.query.tags = {"green"}; }),
      listing([](Listing& l) { l.query.routable_only = true; }),
      listing([](Listing& l) { l.services = true; }),
  };
  for (const Listing& l : world->listings) {
    std::map<std::string, std::string> tokens;
    std::vector<std::string> keys;
    std::string token;
    do {
      absl::StatusOr<Page> page = Fetch(world->index, l, 1, token);
      FUZZ_CHECK(page.ok(), "paging: %s", page.status().ToString().c_str());
      keys.insert(keys.end(), page->keys.begin(), page->keys.end());
      token = page->next;
      if (!token.empty()) tokens.emplace(Decoded(token), token);
    } while (!token.empty());
    FUZZ_CHECK(!keys.empty(), "a listing with nothing to list");
    world->genuine.push_back(std::move(tokens));
    world->all.push_back(std::move(keys));
  }
}

// Follows the tokens from the first page: every record once, in order.
void CheckWalk(size_t listing, uint32_t page_size) {
  std::vector<std::string> seen;
  std::string token;
  do {
    absl::StatusOr<Page> page =
        Fetch(world->index, world->listings[listing], page_size, token);
    FUZZ_CHECK(page.ok(), "walking: %s", page.status().ToString().c_str());
    FUZZ_CHECK(!page->keys.empty() || seen.empty(), "an empty middle page");
    seen.insert(seen.end(), page->keys.begin(), page->keys.end());
    token = page->next;
  } while (!token.empty());
  FUZZ_CHECK(seen == world->all[listing],
             "paging by %u does not visit every record once, in order",
             page_size);
}

// Applies (position, xor) pairs from `edits` to `text`.
std::string Edit(std::string text, std::string_view edits) {
  for (size_t i = 0; i + 1 < edits.size() && !text.empty(); i += 2) {
    const size_t at = static_cast<unsigned char>(edits[i]) % (text.size() + 1);
    const auto value = static_cast<char>(edits[i + 1]);
    if (at == text.size()) {
      text.push_back(value);  // Appending is an edit too.
    } else {
      text[at] = static_cast<char>(text[at] ^ value);
    }
  }
  return text;
}

const std::string& Pick(const std::map<std::string, std::string>& tokens,
                        uint8_t which) {
  auto it = tokens.begin();
  std::advance(it, which % tokens.size());
  return it->second;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  Build();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const size_t listing = data[0] % world->listings.size();
  const int mode = (data[0] / world->listings.size()) % 4;
  const uint32_t page_size = data[1] % 6;  // 0: the default size.
  const std::string_view rest(reinterpret_cast<const char*>(data) + 3,
                              size - 3);
  const auto& tokens = world->genuine[listing];
  std::string token;
  switch (mode) {
    case 0:
      token = std::string(rest);
      break;
    case 1:
      token = Edit(Pick(tokens, data[2]), rest);
      break;
    case 2:
      token =
          absl::WebSafeBase64Escape(Edit(Decoded(Pick(tokens, data[2])), rest));
      break;
    case 3: {
      const size_t other = (listing + 1 + data[2]) % world->listings.size();
      token = Pick(world->genuine[other], data[2] / 7);
      break;
    }
  }
  if (page_size != 0) CheckWalk(listing, page_size);

  absl::StatusOr<Page> page =
      Fetch(world->index, world->listings[listing], page_size, token);
  if (!page.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(page.status()) &&
                   absl::StartsWith(page.status().message(), "page_token: "),
               "a bad token gives %s", page.status().ToString().c_str());
    return 0;
  }
  if (token.empty()) return 0;
  // Accepted: it must be (an encoding of) a genuine token of this query.
  auto genuine = tokens.find(Decoded(token));
  FUZZ_CHECK(genuine != tokens.end(),
             "accepted a token this index never returned for this query: "
             "\"%s\"",
             absl::CHexEscape(token).c_str());
  absl::StatusOr<Page> want =
      Fetch(world->index, world->listings[listing], page_size, genuine->second);
  FUZZ_CHECK(want.ok() && want->keys == page->keys,
             "an accepted token gives another page than the genuine one");
  return 0;
}
