#include "store/store.h"

#include "absl/strings/str_cat.h"
#include "store/internal/postgres_store.h"
#include "store/internal/sqlite_store.h"

namespace harmonia::store {
namespace {

constexpr const char* kStatusNames[] = {"submitted", "accepted", "approved", "rejected",
                                        "applied",   "expired",  "withdrawn"};

}  // namespace

const char* RefinementStatusName(RefinementStatus status) {
  return kStatusNames[static_cast<int>(status)];
}

std::optional<RefinementStatus> ParseRefinementStatus(std::string_view name) {
  for (size_t i = 0; i < std::size(kStatusNames); ++i) {
    if (name == kStatusNames[i]) return static_cast<RefinementStatus>(i);
  }
  return std::nullopt;
}

bool RefinementTransitionAllowed(RefinementStatus from, RefinementStatus to) {
  using S = RefinementStatus;
  switch (from) {
    case S::kSubmitted:
      return to == S::kAccepted || to == S::kApproved || to == S::kRejected || to == S::kWithdrawn;
    case S::kAccepted:
    case S::kApproved:
      return to == S::kApplied || to == S::kRejected || to == S::kExpired || to == S::kWithdrawn;
    case S::kApplied:
      // Applied again in a later cycle, expired, rejected by a later cycle
      // (its segment gone from a new rule-set version, say), or withdrawn.
      return to == S::kApplied || to == S::kExpired || to == S::kRejected || to == S::kWithdrawn;
    case S::kRejected:
    case S::kExpired:
    case S::kWithdrawn:
      return false;
  }
  return false;
}

std::string DisplayUrl(const std::string& url) { return internal::RedactPostgresUrl(url); }

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0) {
    absl::StatusOr<std::unique_ptr<internal::SqliteStore>> s =
        internal::SqliteStore::Open(url.substr(7));
    if (!s.ok()) return s.status();
    return std::unique_ptr<Store>(std::move(*s));
  }
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    absl::StatusOr<std::unique_ptr<internal::PostgresStore>> s = internal::PostgresStore::Open(url);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Store>(std::move(*s));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("store URL '", internal::RedactPostgresUrl(url),
                   "': expected sqlite:PATH or postgresql://USER@HOST:PORT/DB"));
}

}  // namespace harmonia::store
