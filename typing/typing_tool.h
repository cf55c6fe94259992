// Start here: typing tools from a segmentation study (docs/typing-tool.md).
//
// Market research delivers a segmentation as a study: respondents who
// answered the questionnaire, each with the segment the research assigned.
// A typing tool is one linear function per segment over a few inputs; the
// highest wins (the rule language's `assignment: method: typing_tool`).
// This module fits one by linear discriminant analysis, estimates how well
// it types by k-fold cross-validation, picks the fewest questions by forward
// selection, and writes the functions as a rule-set fragment. It also types
// a study with a rule set's own typing tool, through the real engine.
//
// Pipeline: ReadStudy (study.yaml, respondents.csv, the study's rule set) →
// FitTypingTool (LDA over Eigen) → FragmentYaml; or ReadStudy → TestTypingTool.
// Transport-free; `harmonia typing-tool` is the CLI shim.
#ifndef HARMONIA_TYPING_TYPING_TOOL_H_
#define HARMONIA_TYPING_TYPING_TOOL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/issue.h"
#include "engine/rule_set.h"

namespace harmonia::typing {

// A study folder, read and checked.
struct Study {
  std::string dir;
  std::string therapy_area;
  std::string title;
  std::string fielded;  // YYYY-MM-DD
  std::string rule_set_path;
  std::shared_ptr<const engine::RuleSet> rule_set;  // the questionnaire the study asked
  // The columns of respondents.csv after respondent_id and segment: rule-set
  // input columns (questions, and metrics the research appended).
  std::vector<int> columns;
  // The accepted respondents, in file order.
  std::vector<std::string> respondent_ids;
  std::vector<int> segments;   // rule-set segment index per respondent
  std::vector<double> values;  // respondents × columns, row-major; NaN = not answered
  std::vector<int> lines;      // respondents.csv line of each respondent
  std::optional<double> best_possible_accuracy;  // from a generator, when it says
  // Rejected rows and other problems (file:line:column, field, allowed values).
  std::vector<Issue> problems;

  size_t size() const { return segments.size(); }
  double value(size_t respondent, size_t column) const {
    return values[respondent * columns.size() + column];
  }
  const std::string& column_id(size_t column) const { return rule_set->inputs[columns[column]].id; }
};

// Reads DIR/study.yaml, DIR/respondents.csv and the rule set study.yaml names.
// Bad rows are left out, each with a problem; the rest goes through. Errors:
// a missing or unreadable file, a rule set that does not compile, a header
// naming no known input, no respondents left.
absl::StatusOr<Study> ReadStudy(const std::string& dir);

enum class Priors { kStudy, kEqual };

struct FitOptions {
  // Inputs the functions may weight (ids of study columns); empty = all.
  std::vector<std::string> questions;
  // > 0: forward selection of at most this many, fewer when one more would
  // not raise cross-validated accuracy by kMinGain.
  int max_questions = 0;
  Priors priors = Priors::kStudy;
  int folds = 10;  // 2 to 50
};

// Forward selection stops when the best next input adds less than this to the
// cross-validated accuracy: one more respondent in a hundred typed right, about
// twice the sampling noise of a 1,000-respondent study's accuracy.
inline constexpr double kMinGain = 0.01;

// Accuracy, per-segment recall and the confusion matrix over the study's
// segments that have respondents (`segments`, rule-set indexes, in rule-set
// order). confusion[true][typed]; the last typed column counts respondents
// left untyped (a missing weighted input).
struct Evaluation {
  Evaluation() = default;
  // No respondent yet: an all-zero matrix over `segments`.
  explicit Evaluation(std::vector<int> segments_in)
      : segments(std::move(segments_in)),
        confusion(segments.size(), std::vector<int64_t>(segments.size() + 1, 0)) {}

  std::vector<int> segments;
  int64_t respondents = 0;
  int64_t typed_right = 0;
  std::vector<std::vector<int64_t>> confusion;

  // One respondent of slot `truth` (an index into `segments`) typed as slot
  // `typed` (segments.size(): untyped).
  void Add(size_t truth, size_t typed) {
    ++confusion[truth][typed];
    ++respondents;
    typed_right += typed == truth;
  }
  double accuracy() const {
    return respondents == 0 ? 0 : static_cast<double>(typed_right) / respondents;
  }
  double recall(size_t k) const;
};

// One written function.
struct Function {
  int segment = -1;  // rule-set segment index
  double intercept = 0;
  std::vector<double> weights;  // per Fit::columns
};

struct SelectionStep {
  int column = -1;      // study column added
  double accuracy = 0;  // cross-validated, with it
};

struct Fit {
  std::vector<int> columns;         // study columns weighted, in study order
  std::vector<Function> functions;  // rounded as written, in segment order
  int significant_digits = 0;       // of the written numbers
  int64_t respondents = 0;          // used: every weighted input answered
  int folds = 0;
  Evaluation cross_validated;        // the accuracy stated in the provenance
  Evaluation written;                // the written functions on the whole study
  std::vector<SelectionStep> steps;  // forward selection's trail; empty without it
  std::vector<std::string> warnings;
};

// Fits linear discriminant analysis: pooled within-segment covariance (the
// maximum-likelihood estimate, Σ_k n_k S_k / n), solved by Eigen's complete
// orthogonal decomposition (the minimum-norm solution when it is singular);
// function k = μ_k' Σ⁻¹ x − ½ μ_k' Σ⁻¹ μ_k + log prior_k. Folds are
// stratified and fixed: the j-th respondent of a segment, in file order, is in
// fold j mod K. Numbers are rounded to the fewest significant digits (at
// least 3) with which the written functions type every respondent as the
// exact ones do. InvalidArgument for an unknown input id, folds outside 2 to
// 50 or more folds than respondents, fewer than two segments.
absl::StatusOr<Fit> FitTypingTool(const Study& study, const FitOptions& options);

// The `assignment:` fragment: method, provenance (study, respondents,
// cross-validated accuracy, folds, fieldwork date) and the functions.
std::string FragmentYaml(const Study& study, const Fit& fit);

// Types the study's respondents with a typing tool through the engine: `tool`
// is a rule set with a typing tool, or a fragment of one (an `assignment:`
// alone), which is put into the study's rule set. `name` labels messages.
absl::StatusOr<Evaluation> TestTypingTool(const Study& study, const std::string& tool_text,
                                          const std::string& name);

}  // namespace harmonia::typing

#endif  // HARMONIA_TYPING_TYPING_TOOL_H_
