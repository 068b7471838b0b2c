#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// RETURN_IF_ERROR(expr): returns the absl::Status of `expr` when it is not
// OK. ASSIGN_OR_RETURN(lhs, expr): evaluates an absl::StatusOr<T>, returns
// its status when not OK, else assigns (or declares) `lhs` from its value.

#define MUSTER_STATUS_CONCAT_INNER(a, b) a##b
#define MUSTER_STATUS_CONCAT(a, b) MUSTER_STATUS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status muster_status_ = (expr);          \
    if (!muster_status_.ok()) return muster_status_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr)                                        \
  MUSTER_ASSIGN_OR_RETURN_IMPL(MUSTER_STATUS_CONCAT(muster_or_, __LINE__), \
                               lhs, expr)

#define MUSTER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
