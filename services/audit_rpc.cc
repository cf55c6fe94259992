#include "services/audit_rpc.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace harmonia::services {
namespace {

constexpr int kDefaultPage = 1000;
constexpr int kMaxPage = 10000;

int PageSize(const harmonia::v1::ListAuditRequest& req) {
  return req.page_size() == 0 ? kDefaultPage : req.page_size();
}

}  // namespace

absl::StatusOr<store::AuditQuery> AuditQueryFromProto(const harmonia::v1::ListAuditRequest& req) {
  if (req.page_size() < 0 || req.page_size() > kMaxPage) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: ", req.page_size(), " outside 1..",
                                                   kMaxPage, " (0 = ", kDefaultPage, ")"));
  }
  store::AuditQuery q;
  q.after_id = req.after_id();
  q.limit = PageSize(req) + 1;
  q.principal = req.principal();
  q.action = req.action();
  q.country = req.country();
  if (req.since_unix() != 0) q.since_unix = req.since_unix();
  if (req.until_unix() != 0) q.until_unix = req.until_unix();
  return q;
}

void AuditPageToProto(const harmonia::v1::ListAuditRequest& req,
                      const std::vector<store::AuditEntry>& entries,
                      harmonia::v1::ListAuditResponse* resp) {
  const size_t page = static_cast<size_t>(PageSize(req));
  for (size_t i = 0; i < entries.size() && i < page; ++i) {
    const store::AuditEntry& e = entries[i];
    harmonia::v1::AuditEntry* out = resp->add_entries();
    out->set_audit_id(e.audit_id);
    out->set_at_unix(e.at_unix);
    out->set_principal(e.principal);
    out->set_action(e.action);
    out->set_object(e.object);
    out->set_before(e.before);
    out->set_after(e.after);
    out->set_country(e.country);
    out->set_prev_hash(e.prev_hash);
    out->set_hash(e.hash);
  }
  if (entries.size() > page) resp->set_next_after_id(entries[page - 1].audit_id);
}

}  // namespace harmonia::services
