#include "tests/fault/ack_log.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

namespace muster::testing {
namespace {

using muster::v1::Event;
using muster::v1::Instance;

using Key = std::pair<std::string, std::string>;  // service, id

constexpr size_t kMaxProblems = 20;

std::string KeyName(const Key& key) { return key.first + "/" + key.second; }

std::string Describe(const Mutation& m) {
  std::ostringstream out;
  switch (m.kind) {
    case MutationKind::kRegister:
      out << (m.created ? "register(created)" : "register(updated)");
      break;
    case MutationKind::kDeregister:
      out << "deregister";
      break;
    case MutationKind::kSetAdminState:
      out << "set-admin-state(" << muster::v1::AdminState_Name(m.admin_state)
          << ")";
      break;
  }
  out << " of " << m.service << "/" << m.id << " at revision " << m.revision
      << " (cycle " << m.cycle << ", writer " << m.writer << ")";
  return out.str();
}

bool Puts(const Mutation& m) { return m.kind != MutationKind::kDeregister; }

}  // namespace

Outcome OutcomeOf(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return Outcome::kAcknowledged;
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::ALREADY_EXISTS:
      return Outcome::kRejected;
    default:
      return Outcome::kInDoubt;
  }
}

void CheckReport::Problem(std::string text) {
  if (problems.size() < kMaxProblems) problems.push_back(std::move(text));
}

void AckLog::Record(Mutation mutation) {
  absl::MutexLock lock(&mu_);
  mutations_.push_back(std::move(mutation));
}

std::vector<Mutation> AckLog::mutations() const {
  absl::MutexLock lock(&mu_);
  return mutations_;
}

uint64_t AckLog::acknowledged() const {
  absl::MutexLock lock(&mu_);
  return std::count_if(
      mutations_.begin(), mutations_.end(),
      [](const Mutation& m) { return m.outcome == Outcome::kAcknowledged; });
}

uint64_t AckLog::acknowledged(MutationKind kind) const {
  absl::MutexLock lock(&mu_);
  return std::count_if(
      mutations_.begin(), mutations_.end(), [kind](const Mutation& m) {
        return m.outcome == Outcome::kAcknowledged && m.kind == kind;
      });
}

uint64_t AckLog::MaxAcknowledgedRevision() const {
  absl::MutexLock lock(&mu_);
  uint64_t max = 0;
  for (const Mutation& m : mutations_) {
    if (m.outcome == Outcome::kAcknowledged) max = std::max(max, m.revision);
  }
  return max;
}

uint64_t AckLog::MinAcknowledgedRevision(int cycle) const {
  absl::MutexLock lock(&mu_);
  uint64_t min = 0;
  for (const Mutation& m : mutations_) {
    if (m.outcome != Outcome::kAcknowledged || m.cycle != cycle) continue;
    if (min == 0 || m.revision < min) min = m.revision;
  }
  return min;
}

void AckLog::CheckRevisions(CheckReport& report) const {
  std::vector<Mutation> all = mutations();
  std::map<uint64_t, const Mutation*> by_revision;
  std::map<int, const Mutation*> last_of_writer;
  for (const Mutation& m : all) {
    if (m.outcome != Outcome::kAcknowledged) continue;
    auto [it, inserted] = by_revision.emplace(m.revision, &m);
    if (!inserted) {
      ++report.revisions_reused;
      report.Problem("revision reused: " + Describe(m) + " and " +
                     Describe(*it->second));
    }
    const Mutation*& previous = last_of_writer[m.writer];
    if (previous != nullptr && m.revision <= previous->revision) {
      ++report.out_of_order;
      report.Problem("revision not above the writer's previous ack: " +
                     Describe(m) + " after " + Describe(*previous));
    }
    previous = &m;
  }
}

void AckLog::CheckState(const std::vector<Instance>& stored,
                        CheckReport& report) const {
  struct History {
    const Mutation* last_ack = nullptr;  // highest acknowledged revision
    int last_doubt_cycle = -1;           // latest cycle with one in doubt
  };
  std::vector<Mutation> all = mutations();
  std::map<Key, History> history;
  for (const Mutation& m : all) {
    History& h = history[{m.service, m.id}];
    if (m.outcome == Outcome::kInDoubt) {
      h.last_doubt_cycle = std::max(h.last_doubt_cycle, m.cycle);
    } else if (m.outcome == Outcome::kAcknowledged) {
      if (h.last_ack == nullptr || m.revision > h.last_ack->revision)
        h.last_ack = &m;
    }
  }
  std::map<Key, const Instance*> present;
  for (const Instance& instance : stored) {
    Key key{instance.service(), instance.id()};
    present[key] = &instance;
    if (history.count(key) == 0) {
      ++report.unexpected;
      report.Problem("stored but never sent: " + KeyName(key));
    }
  }
  for (const auto& [key, h] : history) {
    auto found = present.find(key);
    const Instance* now = found == present.end() ? nullptr : found->second;
    const Mutation* ack = h.last_ack;
    // A mutation in doubt may have been applied at any revision after it
    // was sent, so one of the cycle of the last ack (or later) may follow
    // it; one of an earlier cycle ended with that daemon, before the ack.
    const bool settled = ack != nullptr ? h.last_doubt_cycle < ack->cycle
                                        : h.last_doubt_cycle < 0;
    if (!settled) {
      // Whatever came later has a higher revision than the last ack.
      if (ack != nullptr && now != nullptr &&
          (now->modify_revision() < ack->revision ||
           (!Puts(*ack) && now->modify_revision() == ack->revision))) {
        ++report.lost;
        report.Problem(KeyName(key) + " is at modify revision " +
                       std::to_string(now->modify_revision()) +
                       ", older than the acknowledged " + Describe(*ack));
      }
      continue;
    }
    if (ack == nullptr || !Puts(*ack)) {
      if (now != nullptr) {
        ++report.lost;
        report.Problem(KeyName(key) + " is stored (modify revision " +
                       std::to_string(now->modify_revision()) + ") but " +
                       (ack == nullptr ? std::string("no mutation of it was "
                                                     "acknowledged or in doubt")
                                       : "the last ack is " + Describe(*ack)));
      }
      continue;
    }
    const Instance& want = ack->instance;
    if (now == nullptr) {
      ++report.lost;
      report.Problem(KeyName(key) + " is missing after " + Describe(*ack));
      continue;
    }
    if (now->create_revision() != want.create_revision() ||
        now->modify_revision() != ack->revision ||
        now->admin_state() != want.admin_state() ||
        now->admin_reason() != want.admin_reason() ||
        now->version() != want.version() || now->port() != want.port()) {
      ++report.lost;
      std::ostringstream text;
      text << KeyName(key) << " is incarnation " << now->create_revision()
           << " modify revision " << now->modify_revision() << " "
           << muster::v1::AdminState_Name(now->admin_state()) << " version "
           << now->version() << ", but " << Describe(*ack) << " answered "
           << want.create_revision() << " "
           << muster::v1::AdminState_Name(want.admin_state()) << " version "
           << want.version();
      report.Problem(text.str());
    }
  }
}

void AckLog::CheckChangeLog(const std::vector<Event>& events, uint64_t oldest,
                            uint64_t current,
                            const std::vector<uint64_t>& eventless,
                            CheckReport& report) const {
  std::map<uint64_t, const Event*> by_revision;
  uint64_t previous = 0;
  for (const Event& event : events) {
    if (event.revision() <= previous) {
      ++report.duplicates;
      report.Problem("change-log event at revision " +
                     std::to_string(event.revision()) + " after revision " +
                     std::to_string(previous));
    }
    previous = std::max(previous, event.revision());
    if (event.revision() < oldest || event.revision() > current) {
      ++report.gaps;
      report.Problem("change-log event at revision " +
                     std::to_string(event.revision()) + " outside [" +
                     std::to_string(oldest) + ", " + std::to_string(current) +
                     "]");
    }
    by_revision.emplace(event.revision(), &event);
  }
  const std::set<uint64_t> no_event(eventless.begin(), eventless.end());
  for (uint64_t revision = std::max<uint64_t>(oldest, 1); revision <= current;
       ++revision) {
    if (by_revision.count(revision) != 0 || no_event.count(revision) != 0)
      continue;
    ++report.gaps;
    report.Problem("no change-log event at revision " +
                   std::to_string(revision));
  }

  for (const Mutation& m : mutations()) {
    if (m.outcome != Outcome::kAcknowledged || m.revision < oldest) continue;
    auto found = by_revision.find(m.revision);
    if (found == by_revision.end()) {
      ++report.event_mismatches;
      report.Problem("no event for " + Describe(m));
      continue;
    }
    const Event& event = *found->second;
    Event::Type type = Event::PUT;
    Event::Cause cause = Event::ADMIN_CHANGED;
    if (m.kind == MutationKind::kRegister) {
      cause = m.created ? Event::REGISTERED : Event::UPDATED;
    } else if (m.kind == MutationKind::kDeregister) {
      type = Event::DELETE;
      cause = Event::DEREGISTERED;
    }
    bool same = event.instance().service() == m.service &&
                event.instance().id() == m.id && event.type() == type &&
                event.cause() == cause;
    if (same && Puts(m)) {
      same =
          event.instance().create_revision() == m.instance.create_revision() &&
          event.instance().admin_state() == m.instance.admin_state();
    }
    if (same && m.kind == MutationKind::kSetAdminState)
      same = event.instance().admin_state() == m.admin_state;
    if (!same) {
      ++report.event_mismatches;
      report.Problem("event at revision " + std::to_string(m.revision) +
                     " is " + Event::Cause_Name(event.cause()) + " of " +
                     event.instance().service() + "/" + event.instance().id() +
                     ", not " + Describe(m));
    }
  }
}

}  // namespace muster::testing
