#include "store/store.h"

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "common/strings.h"
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

std::string AuditHash(const std::string& prev_hash, const AuditEntry& e) {
  // Each field as <byte length>:<bytes>\n, after a version line: no two
  // different entries encode alike, whatever their text holds.
  std::string canonical = "harmonia-audit-v1\n";
  const std::string at = absl::StrCat(e.at_unix);
  for (const std::string_view field :
       {std::string_view(prev_hash), std::string_view(at), std::string_view(e.principal),
        std::string_view(e.action), std::string_view(e.object), std::string_view(e.country),
        std::string_view(e.before), std::string_view(e.after)}) {
    absl::StrAppend(&canonical, field.size(), ":");
    canonical.append(field);
    canonical.push_back('\n');
  }
  return Sha256Hex(canonical);
}

absl::StatusOr<AuditVerification> VerifyAuditLog(Store& store) {
  AuditVerification v;
  auto bad = [&](int64_t id, std::string problem) {
    v.intact = false;
    v.first_bad_id = id;
    v.problem = std::move(problem);
    return v;
  };
  // Every committed entry moved the head in its own transaction, so a head
  // read *after* the entries names the last of them, or a later one that
  // was committed meanwhile on a live store (then its entries are read too).
  // An entry the head does not reach was not written by the store.
  std::string previous_hash;  // the chain's last hash so far ("" = none yet)
  int64_t previous_id = 0;
  // (Its counts of entries from before the chain never change.)
  HARMONIA_ASSIGN_OR_RETURN(AuditHead head, store.GetAuditHead());
  int64_t head_read_at = -1;  // previous_id when the head was last read at the end
  constexpr int64_t kPage = 10000;
  for (AuditQuery page{.after_id = 0, .limit = kPage};;) {
    HARMONIA_ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, store.ListAudit(page));
    if (entries.empty()) {
      // At the end: nothing committed meanwhile, or entries cut from the
      // end (the check below says so); else read what came since.
      if (head_read_at == previous_id) break;
      HARMONIA_ASSIGN_OR_RETURN(head, store.GetAuditHead());
      head_read_at = previous_id;
      if (head.last_id <= previous_id) break;
      continue;
    }
    for (const AuditEntry& e : entries) {
      ++v.entries;
      const std::string what = absl::StrCat("audit entry ", e.audit_id, " (", e.action, " by ",
                                            Quoted(e.principal), ")");
      if (e.hash.empty()) {
        if (!previous_hash.empty() || e.audit_id > head.unchained_last_id ||
            ++v.before_chain > head.unchained_entries) {
          return bad(e.audit_id, absl::StrCat(what, " has no hash and is not one of the ",
                                              head.unchained_entries,
                                              " entries from before the chain: it was inserted "
                                              "or replaced behind the store"));
        }
        previous_id = e.audit_id;
        continue;
      }
      if (e.prev_hash != previous_hash) {
        return bad(e.audit_id,
                   absl::StrCat(what, " does not follow entry ", previous_id,
                                ": an entry between them was removed, inserted or replaced"));
      }
      if (AuditHash(e.prev_hash, e) != e.hash) {
        return bad(e.audit_id, absl::StrCat(what,
                                            ": its content does not match its hash: it was "
                                            "edited or replaced"));
      }
      previous_hash = e.hash;
      previous_id = e.audit_id;
    }
    page.after_id = entries.back().audit_id;
  }
  v.head_id = previous_id;
  v.head_hash = previous_hash;
  if (v.before_chain != head.unchained_entries) {
    return bad(
        0, absl::StrCat(head.unchained_entries - v.before_chain, " of the ", head.unchained_entries,
                        " entries from before the chain were removed"));
  }
  if (head.last_hash != previous_hash || (!previous_hash.empty() && head.last_id != previous_id)) {
    return bad(0, absl::StrCat("the log ends at entry ", previous_id, " but its head names entry ",
                               head.last_id,
                               ": entries were removed from the end, or the head was changed"));
  }
  return v;
}

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
