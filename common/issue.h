// Issues: problems found in a user's file or data (every mistake in a
// file is reported with file, line and column and what is expected: docs/files.md
// "Bad rows").
//
// Issues are data, not failures: a compiler or loader collects all of them and
// returns them to the caller, who decides what to print. Broken infrastructure
// (I/O, bugs) is reported through absl::Status instead.
#ifndef HARMONIA_COMMON_ISSUE_H_
#define HARMONIA_COMMON_ISSUE_H_

#include <string>
#include <string_view>
#include <vector>

namespace harmonia {

enum class Severity { kError, kWarning };

struct Issue {
  Severity severity = Severity::kError;
  std::string file;  // as given by the caller, e.g. "rules/oncology.yaml"
  int line = 0;      // 1-based; 0 = the whole file
  int column = 0;    // 1-based; 0 = the whole line
  std::string message;
};

// Renders "file:line:column: error: message" (line and column omitted when 0).
std::string FormatIssue(const Issue& issue);
// Every issue rendered by FormatIssue, joined by `separator` ("; " in a
// one-line message, "\n" in a multi-line one).
std::string FormatIssues(const std::vector<Issue>& issues, std::string_view separator);

// Collects issues for one file, in the order they are found.
class IssueList {
 public:
  explicit IssueList(std::string file) : file_(std::move(file)) {}

  void Error(int line, int column, std::string message) {
    issues_.push_back({Severity::kError, file_, line, column, std::move(message)});
  }
  void Warning(int line, int column, std::string message) {
    issues_.push_back({Severity::kWarning, file_, line, column, std::move(message)});
  }

  bool has_errors() const;
  const std::string& file() const { return file_; }
  const std::vector<Issue>& issues() const { return issues_; }
  std::vector<Issue> Take() { return std::move(issues_); }

 private:
  std::string file_;
  std::vector<Issue> issues_;
};

// Sorts issues by line, then column, keeping discovery order among equals.
void SortIssues(std::vector<Issue>* issues);

}  // namespace harmonia

#endif  // HARMONIA_COMMON_ISSUE_H_
