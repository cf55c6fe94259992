// The ListAudit RPC's translation, which the rules service and the country
// workers share: request → store::AuditQuery (checked), a page of entries →
// response. No logic beyond paging: the cores decide who may read what.
#ifndef HARMONIA_SERVICES_AUDIT_RPC_H_
#define HARMONIA_SERVICES_AUDIT_RPC_H_

#include <vector>

#include "absl/status/statusor.h"
#include "harmonia/v1/common.pb.h"
#include "store/store.h"

namespace harmonia::services {

// InvalidArgument for a page_size outside 0..10000. The query asks for one
// entry more than the page, to tell whether another page follows.
absl::StatusOr<store::AuditQuery> AuditQueryFromProto(const harmonia::v1::ListAuditRequest& req);

// Fills `resp` with at most the request's page of `entries` (as the query
// above read them) and the id to continue after.
void AuditPageToProto(const harmonia::v1::ListAuditRequest& req,
                      const std::vector<store::AuditEntry>& entries,
                      harmonia::v1::ListAuditResponse* resp);

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_AUDIT_RPC_H_
