#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "registry/committer.h"
#include "registry/model.h"
#include "registry/token.h"

// Submit: the one way the registry's parts queue a mutation on the
// committer and hear back from it.
namespace muster::registry {

namespace submit_internal {
template <typename T>
struct Signatures {
  using Prepare = std::function<absl::Status(Txn&, T&)>;
  using Done = std::function<void(absl::StatusOr<T>)>;
};
template <>
struct Signatures<void> {
  using Prepare = std::function<absl::Status(Txn&)>;
  using Done = std::function<void(absl::Status)>;
};
}  // namespace submit_internal

// What the caller of an asynchronous mutation is told: the result or why
// it failed. Callback<void>: the status only.
template <typename T>
using Callback = typename submit_internal::Signatures<T>::Done;

// Computes a mutation's writes inside `txn` and fills its result.
// Prepare<void> has no result.
template <typename T>
using Prepare = typename submit_internal::Signatures<T>::Prepare;

// How a mutation shares the commit thread.
enum class CommitMode {
  // Grouped with whatever else is queued (one synced write for all).
  kGrouped,
  // Alone in its group: needed to read Txn::RealmInstances.
  kExclusive,
  // Grouped, and with a replicated store written only while this replica
  // holds its membership (the health checker's writes).
  kFenced,
  // Grouped, and `done` only answers a caller (an RPC): it may run on the
  // committer's completion thread (see CommitOp::done_anywhere).
  kGroupedReply,
};

// A result prepared against kPendingRevision gets the revision the
// replicated store assigned (see Txn::revision). Every result type of a
// Submit has an overload, found by argument-dependent lookup.
void RebaseRevision(uint64_t& revision, uint64_t assigned);
void RebaseRevision(std::shared_ptr<const Instance>& instance,
                    uint64_t assigned);
void RebaseRevision(Realm& realm, uint64_t assigned);
void RebaseRevision(Token& token, uint64_t assigned);

// Queues a mutation. `prepare` runs on the commit thread, in queue order,
// against a default-constructed result. With a replicated store it may run
// more than once (prepared again after another replica's write): it must
// not consume what it captured (unless Txn::may_prepare_again is false).
// `done` then runs once, on the commit thread (kGroupedReply: maybe on the
// completion thread) after the group's synced write: with prepare's error, the
// write's UNAVAILABLE, or the result. After Committer::Stop, or while the
// store cannot write, `done` gets UNAVAILABLE and `prepare` never runs.
template <typename T>
void Submit(Committer& committer, CommitMode mode, Prepare<T> prepare,
            Callback<T> done) {
  CommitOp op;
  op.exclusive = mode == CommitMode::kExclusive;
  op.fenced = mode == CommitMode::kFenced;
  op.done_anywhere = mode == CommitMode::kGroupedReply;
  if constexpr (std::is_void_v<T>) {
    op.prepare = std::move(prepare);
    op.done = std::move(done);
  } else {
    // Written by prepare and read by done, both on the commit thread.
    auto result = std::make_shared<T>();
    op.prepare = [prepare = std::move(prepare), result](Txn& txn) {
      // A group prepared again (replicated stores) starts over.
      *result = T{};
      return prepare(txn, *result);
    };
    op.rebase = [result](uint64_t assigned) {
      RebaseRevision(*result, assigned);
    };
    op.done = [done = std::move(done), result](absl::Status status) {
      if (!status.ok()) {
        done(std::move(status));
        return;
      }
      done(std::move(*result));
    };
  }
  committer.Submit(std::move(op));
}

}  // namespace muster::registry
