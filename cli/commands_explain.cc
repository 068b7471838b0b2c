// explain and history: the "operators should never have to guess" pair.

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "explain/explain.h"

namespace muster::cli {

using explain::DescribeCheck;
using explain::DescribeCheckTls;
using explain::Explain;
using explain::Explanation;
namespace {

// ListEvents answers at most 1000 events; a few pages cover any retained
// history of one instance, and the cap guards against a daemon that never
// says "no more".
constexpr uint32_t kEventsPageSize = 1000;
constexpr int kMaxEventPages = 1000;

// "Last check" -> "lastCheck", like the proto JSON names.
std::string JsonKey(const std::string& label) {
  std::string key;
  bool upper = false;
  for (char c : label) {
    if (c == ' ') {
      upper = true;
      continue;
    }
    key += upper ? absl::ascii_toupper(c) : absl::ascii_tolower(c);
    upper = false;
  }
  return key;
}

// "Last change": who made the instance's latest change and why, from its
// event at modify_revision (gone once the change log is compacted past it).
std::string DescribeLastChange(Context& ctx, const v1::Instance& instance) {
  v1::ListEventsRequest request;
  request.set_realm(ctx.realm);
  request.set_service(instance.service());
  request.set_id(instance.id());
  request.set_from_revision(instance.modify_revision());
  request.set_limit(1);
  absl::StatusOr<v1::ListEventsResponse> events = ctx.client.Call(
      ctx.client.registry(), &v1::Registry::StubInterface::ListEvents, request);
  if (!events.ok() || events->events().empty() ||
      events->events(0).revision() != instance.modify_revision()) {
    return absl::StrCat("revision ", instance.modify_revision(),
                        " (no longer in the change log)");
  }
  const v1::Event& event = events->events(0);
  std::string text = absl::StrCat(
      "revision ", event.revision(), ", ", FormatAge(event.time(), ctx.now()),
      " ago: ", EventCauseName(event.cause()), " by ",
      event.actor().empty() ? "(not recorded)" : OneLine(event.actor()));
  if (!event.reason().empty()) {
    absl::StrAppend(&text, " (", OneLine(event.reason()), ")");
  }
  return text;
}

}  // namespace

absl::Status RunExplain(Context& ctx, const InstanceRef& ref) {
  v1::GetInstanceRequest request;
  request.set_realm(ctx.realm);
  request.set_service(ref.service);
  request.set_id(ref.id);
  absl::StatusOr<v1::Instance> instance =
      ctx.client.Call(ctx.client.registry(),
                      &v1::Registry::StubInterface::GetInstance, request);
  if (!instance.ok()) return instance.status();
  Explanation explanation = Explain(*instance, ctx.now());
  explanation.findings.emplace_back("Last change",
                                    DescribeLastChange(ctx, *instance));

  if (ctx.output.format == Format::kJson) {
    JsonObject doc;
    doc.AddBool("routable", explanation.routable);
    doc.AddString("verdict", explanation.verdict);
    JsonObject findings;
    for (const auto& [label, text] : explanation.findings) {
      findings.AddString(JsonKey(label), text);
    }
    doc.AddObject("findings", findings);
    doc.AddStrings("hints", explanation.hints);
    absl::Status added = doc.AddMessage("instance", *instance);
    if (!added.ok()) return added;
    ctx.out << doc.Print() << '\n';
    return absl::OkStatus();
  }

  ctx.out << explanation.verdict << "\n\n";
  PrintFields(ctx.out, explanation.findings);
  if (!explanation.hints.empty()) {
    ctx.out << '\n';
    for (const std::string& hint : explanation.hints) {
      ctx.out << "Hint: " << hint << '\n';
    }
  }
  return absl::OkStatus();
}

absl::Status RunHistory(Context& ctx, const InstanceRef& ref) {
  v1::ListEventsRequest request;
  request.set_realm(ctx.realm);
  request.set_service(ref.service);
  request.set_id(ref.id);
  request.set_limit(kEventsPageSize);
  v1::ListEventsResponse all;
  for (int page = 0;; ++page) {
    absl::StatusOr<v1::ListEventsResponse> response =
        ctx.client.Call(ctx.client.registry(),
                        &v1::Registry::StubInterface::ListEvents, request);
    if (!response.ok()) return response.status();
    if (page == 0) {
      all.set_oldest_retained_revision(response->oldest_retained_revision());
    }
    all.set_revision(response->revision());
    bool empty = response->events().empty();
    for (v1::Event& event : *response->mutable_events()) {
      *all.add_events() = std::move(event);
    }
    uint64_t next = response->next_revision();
    if (empty || next == 0 || next <= request.from_revision()) break;
    if (page + 1 >= kMaxEventPages) {
      return absl::InternalError(
          "the daemon keeps returning more events; history stopped");
    }
    request.set_from_revision(next);
  }
  if (ctx.output.format == Format::kJson) return PrintJson(ctx, all);

  absl::Time now = ctx.now();
  Table table({"REVISION", "AGE", "TIME", "TYPE", "CAUSE", "HEALTH", "ADMIN",
               "ACTOR", "REASON"});
  for (const v1::Event& e : all.events()) {
    const v1::Instance& i = e.instance();
    table.AddRow(
        {absl::StrCat(e.revision()), FormatAge(e.time(), now),
         FormatRfc3339(e.time()), EventTypeName(e.type()),
         EventCauseName(e.cause()),
         PaintHealth(HealthName(i.health()), i.health(), ctx.output.colour),
         PaintAdminState(AdminStateName(i.admin_state()), i.admin_state(),
                         ctx.output.colour),
         e.actor().empty() ? "-" : OneLine(e.actor()), OneLine(e.reason())});
  }
  table.Print(ctx.out);
  if (all.events().empty()) {
    ctx.out << "no retained events for " << ref.service << "/" << ref.id
            << " in realm \"" << ctx.realm << "\" (the change log keeps "
            << "revisions from " << all.oldest_retained_revision() << ")\n";
  }
  return absl::OkStatus();
}

}  // namespace muster::cli
