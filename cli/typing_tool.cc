// `harmonia typing-tool fit` and `harmonia typing-tool test`: the CLI shim
// over typing/typing_tool.h (docs/typing-tool.md).
#include "typing/typing_tool.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/file.h"
#include "common/json.h"

namespace harmonia::cli {
namespace {

constexpr const char* kFitUsage =
    "usage: harmonia typing-tool fit --study DIR --out FRAGMENT.yaml "
    "[--questions q1,q2…|--max-questions N] [--priors study|equal] [--folds K] [--json]\n\n"
    "Fits a typing tool to a segmentation study by linear discriminant analysis (pooled "
    "within-segment covariance, the segments' priors) and writes its functions as the rule "
    "set's `assignment:` with their provenance. Prints the k-fold cross-validated accuracy, the "
    "recall of each segment and the confusion matrix. With --max-questions it picks the fewest "
    "inputs by forward selection on cross-validated accuracy. Warns about weighted questions "
    "that are not required: they send customers to unprofiled (docs/typing-tool.md).";

constexpr const char* kTestUsage =
    "usage: harmonia typing-tool test --study DIR --tool FILE [--json]\n\n"
    "Types a study's respondents with a typing tool through the engine, as a cycle would, and "
    "prints the accuracy, each segment's recall and the confusion matrix. FILE is a rule set "
    "whose assignment is a typing tool, or a fragment written by `typing-tool fit`, which is "
    "put into the study's rule set (docs/typing-tool.md).";

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "harmonia typing-tool %s: %s\n", command,
               std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::string Percent(double share) { return absl::StrFormat("%.1f%%", 100 * share); }

const std::string& SegmentId(const typing::Study& study, int segment) {
  return study.rule_set->segments[static_cast<size_t>(segment)].id;
}

// Recall and the confusion matrix, as text.
std::string EvaluationText(const typing::Study& study, const typing::Evaluation& e) {
  std::string out = "  recall by segment:\n";
  const size_t n = e.segments.size();
  for (size_t k = 0; k < n; ++k) {
    int64_t total = 0;
    for (int64_t c : e.confusion[k]) total += c;
    absl::StrAppendFormat(&out, "    %-24s %6s  of %d\n", SegmentId(study, e.segments[k]),
                          Percent(e.recall(k)), total);
  }
  out += "  confusion (rows: the study's segment; columns: typed as):\n";
  absl::StrAppendFormat(&out, "    %-24s", "");
  for (size_t k = 0; k < n; ++k) {
    absl::StrAppendFormat(&out, " %8.8s", SegmentId(study, e.segments[k]));
  }
  out += "   untyped\n";
  for (size_t k = 0; k < n; ++k) {
    absl::StrAppendFormat(&out, "    %-24s", SegmentId(study, e.segments[k]));
    for (int64_t c : e.confusion[k]) absl::StrAppendFormat(&out, " %8d", c);
    out += "\n";
  }
  return out;
}

std::string EvaluationJson(const typing::Study& study, const typing::Evaluation& e) {
  std::vector<std::string> segments, recall, rows;
  for (size_t k = 0; k < e.segments.size(); ++k) {
    segments.push_back(JsonString(SegmentId(study, e.segments[k])));
    recall.push_back(absl::StrFormat("%.6f", e.recall(k)));
    rows.push_back(absl::StrCat("[", absl::StrJoin(e.confusion[k], ","), "]"));
  }
  return absl::StrCat("{\"respondents\":", e.respondents, ",\"typed_right\":", e.typed_right,
                      ",\"accuracy\":", absl::StrFormat("%.6f", e.accuracy()), ",\"segments\":[",
                      absl::StrJoin(segments, ","), "],\"recall\":[", absl::StrJoin(recall, ","),
                      "],\"confusion\":[", absl::StrJoin(rows, ","), "]}");
}

void PrintProblems(const typing::Study& study) {
  for (const Issue& issue : study.problems) {
    std::fprintf(stderr, "%s\n", FormatIssue(issue).c_str());
  }
}

int Rejected(const typing::Study& study) {
  int rejected = 0;
  for (const Issue& issue : study.problems) rejected += issue.severity == Severity::kError;
  return rejected;
}

// The study's own figures as JSON members: respondents, rejected rows and,
// when it states one, the best possible accuracy.
std::string StudyJson(const typing::Study& study) {
  return absl::StrCat("\"study\":{\"therapy_area\":", JsonString(study.therapy_area),
                      ",\"title\":", JsonString(study.title),
                      ",\"fielded\":", JsonString(study.fielded), ",\"respondents\":", study.size(),
                      ",\"rejected_rows\":", Rejected(study), ",\"best_possible_accuracy\":",
                      study.best_possible_accuracy
                          ? absl::StrFormat("%.6f", *study.best_possible_accuracy)
                          : std::string("null"),
                      "}");
}

std::string StudyLine(const typing::Study& study) {
  const int rejected = Rejected(study);
  return absl::StrFormat("%s: %s, fielded %s: %d respondents (%d rows rejected)",
                         study.therapy_area, study.title, study.fielded, study.size(), rejected);
}

std::string BestPossible(const typing::Study& study) {
  if (!study.best_possible_accuracy) return "";
  return absl::StrCat(" (the best any typing tool can reach on this study: ",
                      Percent(*study.best_possible_accuracy), ", from its generator)");
}

int RunFit(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"study", "DIR", "the study folder: study.yaml, respondents.csv (required)", true},
      {"out", "FRAGMENT.yaml", "where to write the `assignment:` fragment (required)", true},
      {"questions", "q1,q2…", "the inputs the functions may weigh (default: every column)"},
      {"max-questions", "N", "forward selection: at most N inputs, the fewest that type best"},
      {"priors", "study|equal", "segment priors: the study's shares or equal (default: study)"},
      {"folds", "K", "folds of the cross-validation, 2 to 50 (default: 10)"},
      {"json", "", "print the figures as JSON on stdout"},
      {"help", "", "show this help"},
  };
  if (WantsHelp(argc, argv, first, kFitUsage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("typing-tool fit", specs, argc, argv, first);
  if (!args.ok()) return Fail("fit", args.status());
  typing::FitOptions options;
  absl::StatusOr<long long> folds = args->GetInt("folds", 10, 2, 50);
  absl::StatusOr<long long> max = args->GetInt("max-questions", 0, 1, 1000);
  for (const auto* s : {&folds.status(), &max.status()}) {
    if (!s->ok()) return Fail("fit", *s);
  }
  options.folds = static_cast<int>(*folds);
  options.max_questions = static_cast<int>(*max);
  if (args->Has("questions")) {
    if (args->Has("max-questions")) {
      return Fail("fit", absl::InvalidArgumentError(
                             "--questions and --max-questions: give one or the other"));
    }
    for (absl::string_view q : absl::StrSplit(args->Get("questions"), ',')) {
      if (!q.empty()) options.questions.emplace_back(q);
    }
    if (options.questions.empty()) {
      return Fail("fit", absl::InvalidArgumentError(
                             "--questions: list at least one input (q1,q2…), or leave it out"));
    }
  }
  const std::string priors = args->Get("priors", "study");
  if (priors == "equal") {
    options.priors = typing::Priors::kEqual;
  } else if (priors != "study") {
    return Fail("fit", absl::InvalidArgumentError(
                           absl::StrCat("--priors: '", priors, "' is not one of: study, equal")));
  }

  absl::StatusOr<typing::Study> study = typing::ReadStudy(args->Get("study"));
  if (!study.ok()) return Fail("fit", study.status());
  PrintProblems(*study);
  absl::StatusOr<typing::Fit> fit = typing::FitTypingTool(*study, options);
  if (!fit.ok()) return Fail("fit", fit.status());
  const std::string fragment = typing::FragmentYaml(*study, *fit);
  if (absl::Status s = WriteFileAtomically(args->Get("out"), fragment); !s.ok()) {
    return Fail("fit", s);
  }

  std::vector<std::string> ids;
  for (int c : fit->columns) ids.push_back(study->column_id(static_cast<size_t>(c)));
  if (args->Has("json")) {
    std::vector<std::string> quoted, steps, warnings;
    for (const std::string& id : ids) quoted.push_back(JsonString(id));
    for (const auto& s : fit->steps) {
      steps.push_back(
          absl::StrCat("{\"input\":", JsonString(study->column_id(static_cast<size_t>(s.column))),
                       ",\"accuracy\":", absl::StrFormat("%.6f", s.accuracy), "}"));
    }
    for (const std::string& w : fit->warnings) warnings.push_back(JsonString(w));
    std::printf(
        "{%s,\"therapy_area\":%s,\"respondents\":%lld,\"inputs\":[%s],\"folds\":%d,"
        "\"significant_digits\":%d,\"cross_validated\":%s,\"written\":%s,\"steps\":[%s],"
        "\"warnings\":[%s]}\n",
        StudyJson(*study).c_str(), JsonString(study->therapy_area).c_str(),
        static_cast<long long>(fit->respondents), absl::StrJoin(quoted, ",").c_str(), fit->folds,
        fit->significant_digits, EvaluationJson(*study, fit->cross_validated).c_str(),
        EvaluationJson(*study, fit->written).c_str(), absl::StrJoin(steps, ",").c_str(),
        absl::StrJoin(warnings, ",").c_str());
    return 0;
  }
  std::string out = absl::StrCat("typing-tool fit: ", StudyLine(*study), "\n");
  if (!fit->steps.empty()) {
    out += "  forward selection:";
    for (const auto& s : fit->steps) {
      absl::StrAppend(&out, " +", study->column_id(static_cast<size_t>(s.column)), " ",
                      Percent(s.accuracy));
    }
    out += "\n";
  }
  absl::StrAppendFormat(&out, "  weighted (%d): %s\n", ids.size(), absl::StrJoin(ids, ", "));
  absl::StrAppendFormat(&out, "  %d-fold cross-validated accuracy: %s on %d respondents%s\n",
                        fit->folds, Percent(fit->cross_validated.accuracy()), fit->respondents,
                        BestPossible(*study));
  absl::StrAppendFormat(&out,
                        "  the written functions (%d significant digits) type %s of the study "
                        "right\n",
                        fit->significant_digits, Percent(fit->written.accuracy()));
  out += EvaluationText(*study, fit->cross_validated);
  for (const std::string& w : fit->warnings) absl::StrAppend(&out, "  warning: ", w, "\n");
  absl::StrAppend(&out, "  wrote ", args->Get("out"), "\n");
  std::fputs(out.c_str(), stdout);
  return 0;
}

int RunTest(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"study", "DIR", "the study folder: study.yaml, respondents.csv (required)", true},
      {"tool", "FILE", "a rule set with a typing tool, or a fragment (required)", true},
      {"json", "", "print the figures as JSON on stdout"},
      {"help", "", "show this help"},
  };
  if (WantsHelp(argc, argv, first, kTestUsage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("typing-tool test", specs, argc, argv, first);
  if (!args.ok()) return Fail("test", args.status());
  absl::StatusOr<typing::Study> study = typing::ReadStudy(args->Get("study"));
  if (!study.ok()) return Fail("test", study.status());
  PrintProblems(*study);
  absl::StatusOr<std::string> text = ReadFileToString(args->Get("tool"), 4 << 20);
  if (!text.ok()) return Fail("test", text.status());
  absl::StatusOr<typing::Evaluation> e = typing::TestTypingTool(*study, *text, args->Get("tool"));
  if (!e.ok()) return Fail("test", e.status());
  if (args->Has("json")) {
    std::string json = EvaluationJson(*study, *e);
    json.insert(1, StudyJson(*study) + ",");
    std::printf("%s\n", json.c_str());
    return 0;
  }
  std::string out = absl::StrCat("typing-tool test: ", StudyLine(*study), "\n");
  absl::StrAppendFormat(&out, "  %s types %s right (%d of %d)%s\n", args->Get("tool"),
                        Percent(e->accuracy()), e->typed_right, e->respondents,
                        BestPossible(*study));
  out += EvaluationText(*study, *e);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

int RunTypingTool(int argc, char** argv, int first, const std::string& verb) {
  if (verb == "fit") return RunFit(argc, argv, first);
  if (verb == "test") return RunTest(argc, argv, first);
  std::fprintf(stderr, "harmonia typing-tool: expected fit or test\n\n%s\n\n%s\n", kFitUsage,
               kTestUsage);
  return 2;
}

}  // namespace harmonia::cli
