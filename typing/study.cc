// Reading a study folder (docs/typing-tool.md).
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/csv.h"
#include "common/date.h"
#include "common/file.h"
#include "common/strings.h"
#include "common/yaml_fields.h"
#include "common/yaml_tree.h"
#include "typing/typing_tool.h"

namespace harmonia::typing {
namespace {

constexpr size_t kMaxStudyYamlBytes = 1 << 20;
constexpr size_t kMaxRuleSetBytes = 4 << 20;

// study.yaml's fields, each checked where it is written.
class StudyReader : public FieldReader {
 public:
  explicit StudyReader(std::string file) : FieldReader(std::move(file)) {}

  bool Read(std::string_view text, Study* study, std::string* respondents) {
    std::optional<YamlNode> root = LoadYaml(text, &issues_);
    if (!root) return false;
    if (!ExpectMap(*root, "study")) return false;
    CheckKeys(
        *root,
        {"therapy_area", "title", "fielded", "rule_set", "respondents", "best_possible_accuracy"},
        "study");
    GetText(*root, "therapy_area", /*required=*/true, &study->therapy_area);
    GetText(*root, "title", /*required=*/false, &study->title);
    if (const YamlNode* n = Required(*root, "fielded", "study")) {
      if (GetScalar(*n, "fielded", &study->fielded) && !ParseIsoDate(study->fielded)) {
        Error(*n, absl::StrCat("fielded: ", Quoted(study->fielded),
                               " is not a date (expected YYYY-MM-DD)"));
      }
    }
    GetText(*root, "rule_set", /*required=*/true, &study->rule_set_path);
    *respondents = "respondents.csv";
    GetText(*root, "respondents", /*required=*/false, respondents);
    if (const YamlNode* n = root->Find("best_possible_accuracy")) {
      std::string text;
      double v = 0;
      if (GetScalar(*n, "best_possible_accuracy", &text)) {
        if (absl::SimpleAtod(Sv(text), &v) && v >= 0 && v <= 1) {
          study->best_possible_accuracy = v;
        } else {
          Error(*n, absl::StrCat("best_possible_accuracy: ", Quoted(text),
                                 " is not a share from 0 to 1"));
        }
      }
    }
    if (study->title.empty()) study->title = study->therapy_area + " segmentation study";
    return !issues_.has_errors();
  }
  std::vector<Issue> Take() { return issues_.Take(); }

 private:
  void GetText(const YamlNode& root, const char* key, bool required, std::string* out) {
    const YamlNode* n = required ? Required(root, key, "study") : root.Find(key);
    if (n != nullptr && n->kind != YamlNode::Kind::kNull) GetScalar(*n, key, out);
  }
};

absl::Status Failed(const std::vector<Issue>& issues) {
  return absl::InvalidArgumentError(FormatIssues(issues, "\n"));
}

}  // namespace

absl::StatusOr<Study> ReadStudy(const std::string& dir) {
  Study study;
  study.dir = dir;
  const std::string yaml_path = absl::StrCat(dir, "/study.yaml");
  absl::StatusOr<std::string> yaml = ReadFileToString(yaml_path, kMaxStudyYamlBytes);
  if (!yaml.ok()) return yaml.status();
  StudyReader reader(yaml_path);
  std::string respondents_name;
  if (!reader.Read(*yaml, &study, &respondents_name)) return Failed(reader.Take());

  // The rule set, relative to the study folder.
  std::filesystem::path rules_path(study.rule_set_path);
  if (rules_path.is_relative()) rules_path = std::filesystem::path(dir) / rules_path;
  study.rule_set_path = rules_path.string();
  absl::StatusOr<std::string> rules_text = ReadFileToString(study.rule_set_path, kMaxRuleSetBytes);
  if (!rules_text.ok()) return rules_text.status();
  engine::CompileResult compiled = engine::CompileRuleSet(*rules_text, study.rule_set_path);
  if (compiled.rule_set == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(study.rule_set_path,
                                                   " (the study's rule set) does not compile:\n",
                                                   FormatIssues(compiled.issues, "\n")));
  }
  study.rule_set = compiled.rule_set;
  const engine::RuleSet& rs = *study.rule_set;
  if (rs.therapy_area != study.therapy_area) {
    return absl::InvalidArgumentError(absl::StrCat(yaml_path, ": therapy_area ", study.therapy_area,
                                                   " but ", study.rule_set_path,
                                                   " is the rule set of ", rs.therapy_area));
  }

  std::filesystem::path respondents_path(respondents_name);
  if (respondents_path.is_relative())
    respondents_path = std::filesystem::path(dir) / respondents_path;
  const std::string csv_path = respondents_path.string();
  absl::StatusOr<MappedFile> file = MappedFile::Open(csv_path);
  if (!file.ok()) return file.status();
  csv::Reader csv_reader(csv::StripBom(file->data()));
  std::vector<std::string_view> fields;
  csv::ParseError error;
  if (!csv_reader.Next(&fields, &error) || !error.message.empty() || fields.size() < 3 ||
      fields[0] != "respondent_id" || fields[1] != "segment") {
    return absl::InvalidArgumentError(
        absl::StrCat(csv_path, ":1: expected a header respondent_id,segment,<input ids…>"));
  }
  IssueList problems(csv_path);
  std::vector<std::string> known;
  for (const engine::InputDef& def : rs.inputs) known.push_back(def.id);
  std::vector<int> header_columns;  // csv field → study column, -1 = ignored
  for (size_t f = 2; f < fields.size(); ++f) {
    const int c = rs.FindColumn(fields[f]);
    if (c < 0 || c >= rs.num_inputs()) {
      problems.Warning(1, 0,
                       absl::StrCat("column ", f + 1, " '", Sv(fields[f]),
                                    "' is not an input of the rule set: ignored (inputs: ",
                                    absl::StrJoin(known, ", "), ")"));
      header_columns.push_back(-1);
      continue;
    }
    for (int seen : study.columns) {
      if (seen == c) {
        return absl::InvalidArgumentError(
            absl::StrCat(csv_path, ":1: column '", Sv(fields[f]), "' appears twice"));
      }
    }
    header_columns.push_back(static_cast<int>(study.columns.size()));
    study.columns.push_back(c);
  }
  if (study.columns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(csv_path, ":1: no column is an input of ", study.rule_set_path));
  }
  std::vector<std::string> segment_ids;
  for (int s = 0; s < static_cast<int>(rs.segments.size()); ++s) {
    if (s != rs.unprofiled.default_segment) segment_ids.push_back(rs.segments[s].id);
  }

  const size_t width = study.columns.size();
  std::vector<double> row(width);
  const std::string_view data = csv::StripBom(file->data());
  while (true) {
    error = {};
    const size_t record_start = csv_reader.offset();
    if (!csv_reader.Next(&fields, &error)) break;
    const int line = static_cast<int>(error.line ? error.line : csv_reader.record_line());
    if (!error.message.empty()) {
      problems.Error(line, static_cast<int>(error.column), error.message);
      continue;
    }
    if (fields.size() == 1 && fields[0].empty()) continue;  // a blank line
    if (fields.size() != header_columns.size() + 2) {
      problems.Error(line, 0,
                     absl::StrCat("expected ", header_columns.size() + 2, " fields, got ",
                                  fields.size(), ": row skipped"));
      continue;
    }
    // The position of field f, for messages: its physical line and 1-based
    // byte column; the record's line and column 0 when the field is not a
    // view into the file (a quoted field the reader had to unescape).
    auto at = [&](size_t f) -> std::pair<int, int> {
      const char* begin = data.data() + record_start;
      const char* p = fields[f].data();
      if (p < begin || p > data.data() + data.size()) return {line, 0};
      int l = line;
      const char* line_start = begin;
      for (const char* c = begin; c < p; ++c) {
        if (*c == '\n' || (*c == '\r' && (c + 1 == p || c[1] != '\n'))) {
          ++l;
          line_start = c + 1;
        }
      }
      return {l, static_cast<int>(p - line_start) + 1};
    };
    if (fields[0].empty()) {
      problems.Error(line, 1, "respondent_id: empty: row skipped");
      continue;
    }
    const int segment = rs.FindSegment(fields[1]);
    if (segment < 0 || segment == rs.unprofiled.default_segment) {
      const auto [l, col] = at(1);
      problems.Error(
          l, col,
          absl::StrCat("segment: '", Sv(fields[1]), "' is not a segment of ", rs.therapy_area,
                       segment >= 0 ? " a study can assign: it is the unprofiled default" : "",
                       " (allowed: ", absl::StrJoin(segment_ids, ", "), "): row skipped"));
      continue;
    }
    bool ok = true;
    std::fill(row.begin(), row.end(), std::nan(""));
    for (size_t f = 2; f < fields.size() && ok; ++f) {
      const int c = header_columns[f - 2];
      if (c < 0 || fields[f].empty()) continue;  // ignored column, or not answered
      const engine::InputDef& def = rs.inputs[study.columns[c]];
      std::string reason;
      if (!engine::ParseInputValue(def, fields[f], &row[c], &reason)) {
        const auto [l, col] = at(f);
        problems.Error(l, col, absl::StrCat(def.id, ": ", reason, ": row skipped"));
        ok = false;
      }
    }
    if (!ok) continue;
    study.respondent_ids.emplace_back(fields[0]);
    study.segments.push_back(segment);
    study.values.insert(study.values.end(), row.begin(), row.end());
    study.lines.push_back(line);
  }
  study.problems = problems.Take();
  if (study.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(csv_path, ": no respondent left to fit on",
                                                   study.problems.empty() ? "" : ":\n",
                                                   FormatIssues(study.problems, "\n")));
  }
  return study;
}

}  // namespace harmonia::typing
