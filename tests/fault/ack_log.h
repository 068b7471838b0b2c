#pragma once

// What fault-test writers were told, and the checks that follow from it.
// Writers record every mutation they sent and how it ended: acknowledged
// (an OK reply), rejected (an error that says nothing was stored:
// NOT_FOUND, FAILED_PRECONDITION, ...) or in doubt (no reply, UNAVAILABLE,
// a deadline: it may or may not have been applied). The checks derive the
// state musterd must hold from acknowledged replies only and compare it
// with what a restarted musterd serves and with its change log.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status.h"
#include "muster/v1/types.pb.h"

namespace muster::testing {

enum class MutationKind { kRegister, kDeregister, kSetAdminState };
enum class Outcome { kAcknowledged, kRejected, kInDoubt };

// The outcome of a finished RPC: OK is acknowledged; codes by which the
// server says it stored nothing are rejected; anything else is in doubt.
Outcome OutcomeOf(const grpc::Status& status);

// One mutation a writer sent.
struct Mutation {
  int cycle = 0;   // the daemon run (between two restarts) it was sent to
  int writer = 0;  // the writer that sent it; a writer sends one at a time
  MutationKind kind = MutationKind::kRegister;
  std::string service;
  std::string id;
  Outcome outcome = Outcome::kInDoubt;
  // The requested admin state (kSetAdminState).
  muster::v1::AdminState admin_state = muster::v1::ADMIN_STATE_UNSPECIFIED;
  // Acknowledged only: the revision of the reply, whether Register
  // created a new incarnation, and the instance the reply carried
  // (Register and SetAdminState).
  uint64_t revision = 0;
  bool created = false;
  muster::v1::Instance instance;
};

// Counts of what the checks found; `problems` describes the first few.
struct CheckReport {
  uint64_t lost = 0;              // keys whose state contradicts the acks
  uint64_t unexpected = 0;        // stored keys no writer ever sent
  uint64_t revisions_reused = 0;  // acknowledged revisions seen twice
  uint64_t out_of_order = 0;      // acks not above the writer's previous one
  uint64_t gaps = 0;              // revisions with no change-log event
  uint64_t duplicates = 0;        // change-log events not above the previous
  uint64_t event_mismatches = 0;  // acks whose event is missing or differs
  std::vector<std::string> problems;

  bool ok() const {
    return lost == 0 && unexpected == 0 && revisions_reused == 0 &&
           out_of_order == 0 && gaps == 0 && duplicates == 0 &&
           event_mismatches == 0;
  }
  void Problem(std::string text);
};

// The mutations of one test. Record() is thread-safe; the checks are
// meant for when no writer runs.
class AckLog final {
 public:
  void Record(Mutation mutation);

  std::vector<Mutation> mutations() const;
  uint64_t acknowledged() const;
  uint64_t acknowledged(MutationKind kind) const;
  // The highest acknowledged revision so far (0 when none).
  uint64_t MaxAcknowledgedRevision() const;
  // The lowest acknowledged revision of `cycle` (0 when none).
  uint64_t MinAcknowledgedRevision(int cycle) const;

  // No acknowledged revision is reused, and each writer's acknowledged
  // revisions grow strictly (its next call went out after the reply).
  void CheckRevisions(CheckReport& report) const;

  // `stored` is every instance of the realm. Per key, the acknowledged
  // mutation with the highest revision fixes the state (absent after a
  // deregistration, else the reply's incarnation, modify revision, admin
  // state and version), unless a mutation in doubt of the same or a later
  // cycle may have come after it; then a stored instance must at least
  // not predate that acknowledged revision.
  void CheckState(const std::vector<muster::v1::Instance>& stored,
                  CheckReport& report) const;

  // `events` is the realm's whole change log (ListEvents, paged, oldest
  // first), holding [oldest, current]. Every revision in that range has
  // exactly one event, except those in `eventless` (realm changes), and
  // every acknowledged revision in range shows its event: same key, the
  // matching type and cause, and for a put the reply's incarnation and
  // admin state. One event per revision holds for every mutation except a
  // forced DeleteRealm, which a caller of this check must not use.
  void CheckChangeLog(const std::vector<muster::v1::Event>& events,
                      uint64_t oldest, uint64_t current,
                      const std::vector<uint64_t>& eventless,
                      CheckReport& report) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<Mutation> mutations_ ABSL_GUARDED_BY(mu_);  // recording order
};

}  // namespace muster::testing
