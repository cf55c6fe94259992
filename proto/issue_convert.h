// Issues (common/issue.h) to and from their API form, harmonia.v1.Issue:
// one conversion for the services, the reports and the CLI.
#ifndef HARMONIA_PROTO_ISSUE_CONVERT_H_
#define HARMONIA_PROTO_ISSUE_CONVERT_H_

#include "common/issue.h"
#include "harmonia/v1/common.pb.h"

namespace harmonia {

void IssueToProto(const Issue& issue, harmonia::v1::Issue* out);
Issue IssueFromProto(const harmonia::v1::Issue& issue);

}  // namespace harmonia

#endif  // HARMONIA_PROTO_ISSUE_CONVERT_H_
