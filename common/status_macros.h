// Status helpers missing from Debian's Abseil 20220623.
//
//   HARMONIA_RETURN_IF_ERROR(expr);            // returns the non-OK status
//   HARMONIA_ASSIGN_OR_RETURN(auto x, expr);   // x = *expr or return status
#ifndef HARMONIA_COMMON_STATUS_MACROS_H_
#define HARMONIA_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HARMONIA_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::absl::Status harmonia_status_ = (expr);            \
    if (!harmonia_status_.ok()) return harmonia_status_; \
  } while (0)

#define HARMONIA_STATUS_CONCAT_INNER_(a, b) a##b
#define HARMONIA_STATUS_CONCAT_(a, b) HARMONIA_STATUS_CONCAT_INNER_(a, b)

#define HARMONIA_ASSIGN_OR_RETURN(lhs, expr) \
  HARMONIA_ASSIGN_OR_RETURN_IMPL_(HARMONIA_STATUS_CONCAT_(harmonia_statusor_, __LINE__), lhs, expr)

#define HARMONIA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(*tmp)

#endif  // HARMONIA_COMMON_STATUS_MACROS_H_
