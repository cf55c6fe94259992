#include "proto/issue_convert.h"

namespace harmonia {

void IssueToProto(const Issue& issue, harmonia::v1::Issue* out) {
  out->set_severity(issue.severity == Severity::kError ? harmonia::v1::Issue::ERROR
                                                       : harmonia::v1::Issue::WARNING);
  out->set_file(issue.file);
  out->set_line(issue.line);
  out->set_column(issue.column);
  out->set_message(issue.message);
}

Issue IssueFromProto(const harmonia::v1::Issue& issue) {
  return {issue.severity() == harmonia::v1::Issue::WARNING ? Severity::kWarning : Severity::kError,
          issue.file(), issue.line(), issue.column(), issue.message()};
}

}  // namespace harmonia
