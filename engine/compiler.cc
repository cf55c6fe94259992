// The rule-set compiler: positioned YAML tree → checked, immutable RuleSet.
//
// Every check appends an Issue and carries on, so one run reports all the
// mistakes of a file. Later stages only run when the earlier ones left a
// consistent model (e.g. tests run only when there is no error at all).

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/date.h"
#include "common/strings.h"
#include "common/yaml_fields.h"
#include "common/yaml_tree.h"
#include "engine/evaluator.h"
#include "engine/internal/table_analysis.h"
#include "engine/internal/unary_test.h"
#include "engine/rule_set.h"

namespace harmonia::engine {

using harmonia::YamlNode;

namespace {

// Rule indexes are int16 in evaluation results (two more are reserved for
// "default" and "typing_tool").
constexpr size_t kMaxRules = 30000;

constexpr const char* kMenuKeys[] = {"tier_bands",           "target_scale", "process",
                                     "max_refinement_share", "pull_through", "channel_preference"};
constexpr const char* kExpectKeys[] = {
    "segment",    "tier", "calls",      "remote",      "email",      "events",     "rule_id",
    "decided_by", "tags", "plan_calls", "plan_remote", "plan_email", "plan_events"};

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool ParseDouble(std::string_view s, double* v) {
  if (s.empty() || s[0] == '+') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(*v);
}

bool ParseInt64(std::string_view s, int64_t* v) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// "1.25" → 1250000. Up to six decimals; no sign, no exponent.
bool ParseDecimalMicros(std::string_view s, int64_t* micros) {
  const size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : s.substr(dot + 1);
  if (whole.empty() || frac.size() > 6) return false;
  int64_t w = 0, f = 0;
  for (char c : whole) {
    if (c < '0' || c > '9' || w > 1000000) return false;
    w = w * 10 + (c - '0');
  }
  for (size_t i = 0; i < 6; ++i) {
    const char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return false;
    f = f * 10 + (c - '0');
  }
  if (dot != std::string_view::npos && frac.empty()) return false;
  *micros = w * 1000000 + f;
  return true;
}

std::string FormatMicros(int64_t micros) {
  std::string out = absl::StrCat(micros / 1000000);
  int64_t frac = micros % 1000000;
  if (frac == 0) return out;
  std::string digits = absl::StrCat(1000000 + frac).substr(1);
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return absl::StrCat(out, ".", digits);
}

class Compiler : private FieldReader {
 public:
  explicit Compiler(const std::string& file) : FieldReader(file) {}

  CompileResult Run(std::string_view text) {
    std::optional<YamlNode> root = LoadYaml(text, &issues_);
    if (root.has_value()) CompileRoot(*root);
    CompileResult result;
    if (!issues_.has_errors()) {
      internal::AnalyzeTables(rs_, &issues_);
      auto shared = std::make_shared<const RuleSet>(std::move(rs_));
      RunTests(shared);
      if (!issues_.has_errors()) result.rule_set = std::move(shared);
    }
    result.issues = issues_.Take();
    SortIssues(&result.issues);
    return result;
  }

 private:
  // ---- Typed fields beyond FieldReader's ---------------------------------

  bool GetId(const YamlNode& node, const std::string& what, std::string* out) {
    if (!GetScalar(node, what, out)) return false;
    if (!IsIdentifier(*out)) {
      Error(node, absl::StrCat(what, ": ", Quoted(*out),
                               " is not a valid id (letters, digits, '_', '-', '.')"));
      return false;
    }
    return true;
  }

  bool GetNumber(const YamlNode& node, const std::string& what, double* out) {
    std::string s;
    if (!GetScalar(node, what, &s)) return false;
    if (node.quoted || !ParseDouble(s, out)) {
      Error(node, absl::StrCat(what, ": expected a number, got ", Quoted(s)));
      return false;
    }
    return true;
  }

  bool GetInt(const YamlNode& node, const std::string& what, int64_t* out) {
    std::string s;
    if (!GetScalar(node, what, &s)) return false;
    if (node.quoted || !ParseInt64(s, out)) {
      Error(node, absl::StrCat(what, ": expected a whole number, got ", Quoted(s)));
      return false;
    }
    return true;
  }

  bool GetBool(const YamlNode& node, const std::string& what, bool* out) {
    std::string s;
    if (!GetScalar(node, what, &s)) return false;
    if (!node.quoted && s == "true") {
      *out = true;
    } else if (!node.quoted && s == "false") {
      *out = false;
    } else {
      Error(node, absl::StrCat(what, ": expected true or false, got ", Quoted(s)));
      return false;
    }
    return true;
  }

  // A list of ids, no duplicates.
  bool GetIdList(const YamlNode& node, const std::string& what, std::vector<std::string>* out) {
    if (!ExpectList(node, what)) return false;
    bool ok = true;
    for (const YamlNode& item : node.items) {
      std::string id;
      if (!GetId(item, what, &id)) {
        ok = false;
        continue;
      }
      if (std::find(out->begin(), out->end(), id) != out->end()) {
        Error(item, absl::StrCat(what, ": duplicate ", Quoted(id)));
        ok = false;
        continue;
      }
      out->push_back(id);
    }
    return ok;
  }

  // ---- The file ------------------------------------------------------------

  void CompileRoot(const YamlNode& root) {
    if (!ExpectMap(root, "rule set")) return;
    CheckKeys(root,
              {"therapy_area", "version", "description", "applies_to", "objective_behavior",
               "min_differentiation", "questionnaire", "metrics", "scores", "segments",
               "assignment", "unprofiled", "tiers", "targets", "drivers", "channel_preference",
               "refinement_reasons", "country_options", "tests"},
              "rule set");
    if (const YamlNode* n = Required(root, "therapy_area", "rule set")) {
      GetId(*n, "therapy_area", &rs_.therapy_area);
    }
    if (const YamlNode* n = Required(root, "version", "rule set")) {
      if (GetInt(*n, "version", &rs_.version) &&
          (rs_.version < 1 || rs_.version > kMaxRuleSetVersion)) {
        Error(*n, absl::StrCat("version: must be a whole number from 1 to ", kMaxRuleSetVersion));
      }
    }
    if (const YamlNode* n = Required(root, "applies_to", "rule set")) {
      if (GetIdList(*n, "applies_to", &rs_.applies_to) && rs_.applies_to.empty()) {
        Error(*n, "applies_to: list at least one customer type");
      }
    }
    if (const YamlNode* n = Required(root, "questionnaire", "rule set")) CompileQuestions(*n);
    if (const YamlNode* n = root.Find("metrics")) CompileMetrics(*n);
    if (const YamlNode* n = Required(root, "objective_behavior", "rule set")) {
      std::string id;
      if (GetId(*n, "objective_behavior", &id)) {
        const int c = rs_.FindColumn(id);
        if (c < 0 && IsBroken(id)) {
          // reported where it is defined
        } else if (c < 0 || rs_.inputs[c].is_question) {
          Error(*n,
                absl::StrCat("objective_behavior: ", Quoted(id), " is not a metric", MetricList()));
        } else if (rs_.inputs[c].type == InputType::kChoice) {
          Error(*n, absl::StrCat("objective_behavior: metric ", Quoted(id), " must be numeric"));
        } else {
          rs_.objective_behavior = c;
        }
      }
    }
    if (const YamlNode* n = root.Find("min_differentiation")) {
      if (GetNumber(*n, "min_differentiation", &rs_.min_differentiation) &&
          (rs_.min_differentiation < 0 || rs_.min_differentiation > 1)) {
        Error(*n, "min_differentiation: expected a number from 0 to 1");
      }
    }
    if (const YamlNode* n = root.Find("scores")) CompileScores(*n);
    if (const YamlNode* n = Required(root, "segments", "rule set")) CompileSegments(*n);
    // Rule ids are numbered in the order tables appear: assignment, unprofiled.
    if (const YamlNode* n = Required(root, "assignment", "rule set")) CompileAssignment(*n);
    if (const YamlNode* n = root.Find("unprofiled")) {
      CompileTable(*n, "unprofiled", &rs_.unprofiled, /*allow_method=*/false);
    } else {
      const bool needed = !rs_.required_inputs.empty() || rs_.typing_tool;
      if (needed) {
        Error(root,
              "rule set: missing 'unprofiled'; customers without every required answer "
              "need at least a 'default' segment");
      }
      rs_.unprofiled.default_segment = rs_.assignment.default_segment;
    }
    rs_.default_rule_index = static_cast<int>(rs_.rule_ids.size());
    rs_.rule_ids.push_back("default");
    rs_.typing_tool_rule_index = static_cast<int>(rs_.rule_ids.size());
    rs_.rule_ids.push_back("typing_tool");
    if (const YamlNode* n = Required(root, "tiers", "rule set")) CompileTiers(*n);
    if (const YamlNode* n = root.Find("targets")) {
      CompileTargets(*n);
    } else {  // optional: every segment then gets 0 (warned per segment)
      YamlNode none{.kind = YamlNode::Kind::kMap, .line = root.line, .column = root.column};
      CompileTargets(none);
    }
    if (const YamlNode* n = root.Find("drivers")) CompileDrivers(*n);
    if (const YamlNode* n = root.Find("channel_preference")) CompileChannelPreference(*n);
    if (const YamlNode* n = root.Find("refinement_reasons")) {
      GetIdList(*n, "refinement_reasons", &rs_.refinement_reasons);
    }
    if (const YamlNode* n = root.Find("country_options")) CompileMenu(*n);
    if (const YamlNode* n = root.Find("tests")) CompileTests(*n);
  }

  std::string MetricList() const {
    std::vector<std::string> ids;
    for (const InputDef& d : rs_.inputs) {
      if (!d.is_question) ids.push_back(d.id);
    }
    return ids.empty() ? "; no metrics are defined"
                       : absl::StrCat("; expected one of: ", absl::StrJoin(ids, ", "));
  }

  std::string ColumnList() const {
    std::vector<std::string> ids;
    for (int c = 0; c < rs_.num_columns(); ++c) ids.push_back(rs_.column_id(c));
    return absl::StrJoin(ids, ", ");
  }

  // An input whose definition has an error: later references to it are not
  // reported again as unknown (the definition's error already fails the file).
  bool IsBroken(const std::string& id) const { return broken_ids_.count(id) > 0; }

  bool DeclareColumnId(const YamlNode& at, const std::string& id) {
    if (!column_ids_.insert(id).second) {
      Error(at, absl::StrCat("duplicate id ", Quoted(id),
                             " (questions, metrics and scores share one namespace)"));
      return false;
    }
    return true;
  }

  // ---- Questionnaire and metrics --------------------------------------------

  bool ParseType(const YamlNode& node, const std::string& what, bool question, InputType* type) {
    std::string s;
    if (!GetScalar(node, what, &s)) return false;
    static const std::pair<const char*, InputType> kTypes[] = {{"likert", InputType::kLikert},
                                                               {"choice", InputType::kChoice},
                                                               {"integer", InputType::kInteger},
                                                               {"number", InputType::kNumber},
                                                               {"boolean", InputType::kBoolean}};
    for (const auto& [name, t] : kTypes) {
      if (s == name && (question || (t != InputType::kLikert && t != InputType::kChoice))) {
        *type = t;
        return true;
      }
    }
    Error(node, absl::StrCat(what, ": unknown type ", Quoted(s), "; expected one of: ",
                             question ? "likert, choice, integer, number, boolean"
                                      : "integer, number, boolean"));
    return false;
  }

  void CompileRange(const YamlNode& item, InputDef* def, const std::string& what) {
    const YamlNode* lo = item.Find("min");
    const YamlNode* hi = item.Find("max");
    if (lo) GetNumber(*lo, absl::StrCat(what, " min"), &def->min);
    if (hi) GetNumber(*hi, absl::StrCat(what, " max"), &def->max);
    if (def->min > def->max) Error(item, absl::StrCat(what, ": min is above max"));
    if (def->type == InputType::kInteger &&
        ((lo && def->min != std::floor(def->min)) || (hi && def->max != std::floor(def->max)))) {
      Error(item, absl::StrCat(what, ": min and max of an integer must be whole numbers"));
    }
  }

  void CompileQuestions(const YamlNode& node) {
    if (!ExpectList(node, "questionnaire")) return;
    for (const YamlNode& item : node.items) {
      if (!ExpectMap(item, "question")) continue;
      CheckKeys(item, {"id", "text", "type", "scale", "options", "min", "max", "required"},
                "question");
      InputDef def;
      def.line = item.line;
      def.is_question = true;
      const YamlNode* id = Required(item, "id", "question");
      if (!id || !GetId(*id, "question id", &def.id)) continue;
      const std::string what = absl::StrCat("question ", Quoted(def.id));
      if (const YamlNode* t = item.Find("text")) GetScalar(*t, what + " text", &def.text);
      if (const YamlNode* r = item.Find("required")) GetBool(*r, what + " required", &def.required);
      const YamlNode* type = Required(item, "type", what);
      if (!type || !ParseType(*type, what + " type", true, &def.type)) {
        broken_ids_.insert(def.id);
        continue;
      }
      const YamlNode* scale = item.Find("scale");
      const YamlNode* options = item.Find("options");
      if (def.type == InputType::kLikert) {
        if (!scale) {
          Error(item, absl::StrCat(what, ": a likert question needs 'scale: [low, high]'"));
        } else if (!scale->is_sequence() || scale->items.size() != 2) {
          Error(*scale, absl::StrCat(what, " scale: expected [low, high]"));
        } else {
          int64_t lo = 0, hi = 0;
          if (GetInt(scale->items[0], what + " scale", &lo) &&
              GetInt(scale->items[1], what + " scale", &hi)) {
            if (lo >= hi) Error(*scale, absl::StrCat(what, " scale: low must be below high"));
            def.min = static_cast<double>(lo);
            def.max = static_cast<double>(hi);
          }
        }
      } else if (scale) {
        Error(*scale, absl::StrCat(what, ": 'scale' is only for likert questions"));
      }
      if (def.type == InputType::kChoice) {
        if (!options) {
          Error(item, absl::StrCat(what, ": a choice question needs 'options: [a, b, …]'"));
        } else if (GetIdList(*options, what + " options", &def.options) && def.options.empty()) {
          Error(*options, absl::StrCat(what, " options: list at least one option"));
        }
      } else if (options) {
        Error(*options, absl::StrCat(what, ": 'options' is only for choice questions"));
      }
      if (def.type == InputType::kInteger || def.type == InputType::kNumber) {
        CompileRange(item, &def, what);
      } else if (item.Find("min") || item.Find("max")) {
        Error(item, absl::StrCat(what, ": 'min'/'max' are only for integer and number questions"));
      }
      if (!DeclareColumnId(*id, def.id)) continue;
      if (def.required) rs_.required_inputs.push_back(rs_.num_inputs());
      rs_.inputs.push_back(std::move(def));
    }
  }

  void CompileMetrics(const YamlNode& node) {
    if (!ExpectList(node, "metrics")) return;
    for (const YamlNode& item : node.items) {
      if (!ExpectMap(item, "metric")) continue;
      CheckKeys(item, {"id", "type", "min", "max", "description"}, "metric");
      InputDef def;
      def.line = item.line;
      def.is_question = false;
      const YamlNode* id = Required(item, "id", "metric");
      if (!id || !GetId(*id, "metric id", &def.id)) continue;
      const std::string what = absl::StrCat("metric ", Quoted(def.id));
      if (const YamlNode* d = item.Find("description")) GetScalar(*d, what, &def.text);
      const YamlNode* type = Required(item, "type", what);
      if (!type || !ParseType(*type, what + " type", false, &def.type)) {
        broken_ids_.insert(def.id);
        continue;
      }
      if (def.type != InputType::kBoolean) {
        CompileRange(item, &def, what);
      } else if (item.Find("min") || item.Find("max")) {
        Error(item, absl::StrCat(what, ": 'min'/'max' are not for boolean metrics"));
      }
      if (!DeclareColumnId(*id, def.id)) continue;
      rs_.inputs.push_back(std::move(def));
    }
  }

  // ---- Scores and typing-tool functions --------------------------------------

  // `typing`: a typing-tool function (a missing input sends the customer to
  // unprofiled) rather than a score.
  bool CompileLinear(const YamlNode& item, const std::string& what, LinearFunction* f,
                     bool typing) {
    bool ok = true;
    f->line = item.line;
    if (const YamlNode* i = item.Find("intercept"))
      ok &= GetNumber(*i, what + " intercept", &f->intercept);
    const YamlNode* weights = Required(item, "weights", what);
    if (!weights || !ExpectMap(*weights, what + " weights")) return false;
    std::set<std::string> seen;
    for (const auto& [key, value] : weights->entries) {
      std::string id;
      double w = 0;
      if (!GetScalar(key, what + " weights", &id)) {
        ok = false;
        continue;
      }
      if (!seen.insert(id).second) {
        Error(key, absl::StrCat(what, " weights: duplicate ", Quoted(id)));
        ok = false;
        continue;
      }
      const int c = rs_.FindColumn(id);
      if (c < 0 && IsBroken(id)) {
        ok = false;
        continue;
      }
      if (c < 0) {
        Error(key, absl::StrCat(what, " weights: ", Quoted(id),
                                " is not a question or metric; expected one of: ",
                                InputList(/*numeric_only=*/true)));
        ok = false;
        continue;
      }
      if (c >= rs_.num_inputs()) {
        Error(key, absl::StrCat(what, " weights: ", Quoted(id),
                                " is a score; weights may name likert, integer, number and "
                                "boolean inputs only"));
        ok = false;
        continue;
      }
      if (rs_.inputs[c].type == InputType::kChoice) {
        Error(key, absl::StrCat(what, " weights: ", Quoted(id),
                                " is a choice question and cannot be weighted; weights may name "
                                "likert, integer, number and boolean inputs only"));
        ok = false;
        continue;
      }
      if (!GetNumber(value, absl::StrCat(what, " weight of ", Quoted(id)), &w)) {
        ok = false;
        continue;
      }
      if (rs_.inputs[c].is_question && !rs_.inputs[c].required && w != 0) {
        issues_.Warning(
            key.line, key.column,
            absl::StrCat(what, " weights ", Quoted(id), ", which is not required: ",
                         typing ? "a customer who did not answer it goes to unprofiled"
                                : "without an answer the score is missing and every condition "
                                  "on it fails",
                         "; make ", Quoted(id), " required or drop the weight"));
      }
      f->terms.emplace_back(c, w);
    }
    return ok;
  }

  std::string InputList(bool numeric_only) const {
    std::vector<std::string> ids;
    for (const InputDef& d : rs_.inputs) {
      if (!numeric_only || d.type != InputType::kChoice) ids.push_back(d.id);
    }
    return absl::StrJoin(ids, ", ");
  }

  void CompileScores(const YamlNode& node) {
    if (!ExpectList(node, "scores")) return;
    for (const YamlNode& item : node.items) {
      if (!ExpectMap(item, "score")) continue;
      CheckKeys(item, {"id", "intercept", "weights", "description"}, "score");
      LinearFunction f;
      const YamlNode* id = Required(item, "id", "score");
      if (!id || !GetId(*id, "score id", &f.id)) continue;
      // A score with a bad weight is still declared, so rules naming it do not
      // report it again as unknown (the error already fails the file).
      CompileLinear(item, absl::StrCat("score ", Quoted(f.id)), &f, /*typing=*/false);
      if (!DeclareColumnId(*id, f.id)) continue;
      rs_.scores.push_back(std::move(f));
    }
  }

  // ---- Segments ----------------------------------------------------------------

  void CompileSegments(const YamlNode& node) {
    if (!ExpectList(node, "segments")) return;
    for (const YamlNode& item : node.items) {
      if (!ExpectMap(item, "segment")) continue;
      CheckKeys(item, {"id", "name", "message", "channels"}, "segment");
      Segment seg;
      seg.line = item.line;
      seg.column = item.column;
      const YamlNode* id = Required(item, "id", "segment");
      if (!id || !GetId(*id, "segment id", &seg.id)) continue;
      const std::string what = absl::StrCat("segment ", Quoted(seg.id));
      if (const YamlNode* n = item.Find("name")) GetScalar(*n, what + " name", &seg.name);
      if (const YamlNode* n = item.Find("message")) GetScalar(*n, what + " message", &seg.message);
      if (const YamlNode* n = item.Find("channels"))
        GetIdList(*n, what + " channels", &seg.channels);
      if (rs_.FindSegment(seg.id) >= 0) {
        Error(*id, absl::StrCat("duplicate segment id ", Quoted(seg.id)));
        continue;
      }
      rs_.segments.push_back(std::move(seg));
    }
    if (rs_.segments.empty()) Error(node, "segments: define at least one segment");
    if (rs_.segments.size() > 30000) Error(node, "segments: too many");
  }

  int SegmentRef(const YamlNode& node, const std::string& what) {
    std::string id;
    if (!GetScalar(node, what, &id)) return -1;
    const int s = rs_.FindSegment(id);
    if (s < 0) {
      std::vector<std::string> ids;
      for (const Segment& seg : rs_.segments) ids.push_back(seg.id);
      Error(node, absl::StrCat(what, ": unknown segment ", Quoted(id),
                               "; expected one of: ", absl::StrJoin(ids, ", ")));
    }
    return s;
  }

  // ---- Decision tables -----------------------------------------------------------

  void CompileAssignment(const YamlNode& node) {
    if (!ExpectMap(node, "assignment")) return;
    const YamlNode* method = node.Find("method");
    if (method != nullptr) {
      std::string m;
      if (GetScalar(*method, "assignment method", &m)) {
        if (m == "typing_tool") {
          CompileTypingTool(node);
          return;
        }
        if (m != "decision_table") {
          Error(*method, absl::StrCat("assignment method: unknown ", Quoted(m),
                                      "; expected one of: decision_table, typing_tool"));
          return;
        }
      }
    }
    CompileTable(node, "assignment", &rs_.assignment, /*allow_method=*/true);
  }

  void CompileTypingTool(const YamlNode& node) {
    CheckKeys(node, {"method", "provenance", "functions"}, "assignment (typing_tool)");
    rs_.typing_tool = true;
    if (const YamlNode* p = node.Find("provenance")) CompileProvenance(*p);
    const YamlNode* functions = Required(node, "functions", "assignment");
    if (!functions || !ExpectMap(*functions, "assignment functions")) return;
    std::vector<std::pair<int, LinearFunction>> by_segment;
    for (const auto& [key, value] : functions->entries) {
      const int seg = SegmentRef(key, "typing tool function");
      if (seg < 0) continue;
      if (!ExpectMap(value, "typing tool function")) continue;
      CheckKeys(value, {"intercept", "weights"}, "typing tool function");
      LinearFunction f;
      f.id = key.scalar;
      if (!CompileLinear(value, absl::StrCat("function ", Quoted(f.id)), &f, /*typing=*/true)) {
        continue;
      }
      if (std::any_of(by_segment.begin(), by_segment.end(),
                      [&](const auto& p) { return p.first == seg; })) {
        Error(key, absl::StrCat("typing tool: duplicate function for ", Quoted(f.id)));
        continue;
      }
      by_segment.emplace_back(seg, std::move(f));
    }
    if (by_segment.empty() && !functions->entries.empty()) return;
    if (by_segment.empty()) Error(*functions, "assignment functions: define at least one");
    // Segment order, so that ties go to the segment listed first.
    std::stable_sort(by_segment.begin(), by_segment.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [seg, f] : by_segment) {
      rs_.function_segments.push_back(seg);
      rs_.functions.push_back(std::move(f));
    }
  }

  // Where the typing tool comes from (docs/rule-language.md): every key
  // required but folds.
  void CompileProvenance(const YamlNode& node) {
    const std::string what = "typing tool provenance";
    if (!ExpectMap(node, what)) return;
    CheckKeys(node, {"study", "respondents", "accuracy", "folds", "date"}, what);
    TypingToolProvenance p;
    bool ok = true;
    if (const YamlNode* n = Required(node, "study", what)) {
      ok &= GetScalar(*n, what + " study", &p.study);
    } else {
      ok = false;
    }
    if (const YamlNode* n = Required(node, "respondents", what)) {
      ok &= GetIntInRange(*n, what + " respondents", 1, 1000000000, &p.respondents);
    } else {
      ok = false;
    }
    if (const YamlNode* n = Required(node, "accuracy", what)) {
      if (GetNumber(*n, what + " accuracy", &p.accuracy) && !(p.accuracy >= 0 && p.accuracy <= 1)) {
        Error(*n, absl::StrCat(what, " accuracy: expected a share from 0 to 1 (0.82 for 82%)"));
        ok = false;
      }
    } else {
      ok = false;
    }
    if (const YamlNode* n = node.Find("folds")) {
      ok &= GetIntInRange(*n, what + " folds", 2, 1000, &p.folds);
    }
    if (const YamlNode* n = Required(node, "date", what)) {
      if (GetScalar(*n, what + " date", &p.date) && !ParseIsoDate(p.date)) {
        Error(*n, absl::StrCat(what, " date: ", Quoted(p.date), " is not a date (YYYY-MM-DD)"));
        ok = false;
      }
    } else {
      ok = false;
    }
    if (ok) rs_.provenance = std::move(p);
  }

  internal::ColumnInfo ColumnInfoFor(int c) const {
    internal::ColumnInfo info;
    info.id = rs_.column_id(c);
    if (c >= rs_.num_inputs()) {
      info.type_name = "score";
      return info;
    }
    const InputDef& def = rs_.inputs[c];
    info.type_name = InputTypeName(def.type);
    if (def.type == InputType::kChoice) {
      info.kind = internal::ColumnKind::kChoice;
      info.options = def.options;
    } else if (def.type == InputType::kBoolean) {
      info.kind = internal::ColumnKind::kBoolean;
    }
    return info;
  }

  void CompileTable(const YamlNode& node, const std::string& name, DecisionTable* table,
                    bool allow_method) {
    if (!ExpectMap(node, name)) return;
    if (allow_method) {
      CheckKeys(node, {"method", "hit_policy", "rules", "default"}, name);
    } else {
      CheckKeys(node, {"hit_policy", "rules", "default"}, name);
    }
    if (const YamlNode* hp = node.Find("hit_policy")) {
      std::string s;
      if (GetScalar(*hp, name + " hit_policy", &s)) {
        if (s == "first") {
          table->hit_policy = HitPolicy::kFirst;
        } else if (s == "priority") {
          table->hit_policy = HitPolicy::kPriority;
        } else if (s == "unique") {
          table->hit_policy = HitPolicy::kUnique;
        } else {
          Error(*hp, absl::StrCat(name, " hit_policy: unknown ", Quoted(s),
                                  "; expected one of: first, priority, unique"));
        }
      }
    }
    if (const YamlNode* d = Required(node, "default", name)) {
      table->default_segment = std::max(0, SegmentRef(*d, name + " default"));
    }
    const YamlNode* rules = node.Find("rules");
    if (rules == nullptr) return;
    if (!ExpectList(*rules, name + " rules")) return;
    for (const YamlNode& item : rules->items) {
      if (!ExpectMap(item, "rule")) continue;
      CheckKeys(item, {"id", "when", "segment", "description"}, "rule");
      Rule rule;
      rule.line = item.line;
      rule.column = item.column;
      const YamlNode* id = Required(item, "id", "rule");
      if (!id || !GetId(*id, "rule id", &rule.id)) continue;
      if (rule.id == "default" || rule.id == "typing_tool") {
        Error(*id, absl::StrCat("rule id ", Quoted(rule.id), " is reserved"));
        continue;
      }
      if (!rule_ids_seen_.insert(rule.id).second) {
        Error(*id, absl::StrCat("duplicate rule id ", Quoted(rule.id)));
        continue;
      }
      const std::string what = absl::StrCat("rule ", Quoted(rule.id));
      bool ok = true;
      if (const YamlNode* seg = Required(item, "segment", what)) {
        rule.segment = SegmentRef(*seg, what + " segment");
        ok &= rule.segment >= 0;
      } else {
        ok = false;
      }
      if (const YamlNode* when = item.Find("when")) {
        ok &= CompileConditions(*when, what, &rule);
      }
      if (!ok) continue;
      if (rs_.rule_ids.size() >= kMaxRules) {
        if (rs_.rule_ids.size() == kMaxRules) {
          Error(*id, absl::StrCat("too many rules: at most ", kMaxRules, " in a rule set"));
          rs_.rule_ids.push_back("");  // report once
        }
        continue;
      }
      rule.rule_index = static_cast<int>(rs_.rule_ids.size());
      rs_.rule_ids.push_back(rule.id);
      table->rules.push_back(std::move(rule));
    }
    if (table->hit_policy == HitPolicy::kPriority) {
      std::stable_sort(table->rules.begin(), table->rules.end(),
                       [](const Rule& a, const Rule& b) { return a.segment < b.segment; });
    }
  }

  bool CompileConditions(const YamlNode& when, const std::string& what, Rule* rule) {
    if (!ExpectMap(when, what + " when")) return false;
    bool ok = true;
    std::set<int> seen;
    for (const auto& [key, value] : when.entries) {
      std::string id;
      if (!GetScalar(key, what + " when", &id)) {
        ok = false;
        continue;
      }
      const int c = rs_.FindColumn(id);
      if (c < 0 && IsBroken(id)) {
        ok = false;
        continue;
      }
      if (c < 0) {
        Error(key, absl::StrCat(what, ": condition names ", Quoted(id),
                                ", which is not a question, metric or score; expected one of: ",
                                ColumnList()));
        ok = false;
        continue;
      }
      if (!seen.insert(c).second) {
        Error(key, absl::StrCat(what, ": two conditions on ", Quoted(id)));
        ok = false;
        continue;
      }
      std::string text;
      if (!GetScalar(value, absl::StrCat(what, " condition on ", Quoted(id)), &text)) {
        ok = false;
        continue;
      }
      bool any = false;
      std::vector<Interval> intervals;
      internal::UnaryTestError err;
      if (!internal::CompileUnaryTest(text, ColumnInfoFor(c), &any, &intervals, &err)) {
        issues_.Error(value.line, value.column + err.offset + (value.quoted ? 1 : 0),
                      absl::StrCat(what, " condition on ", Quoted(id), ": ", err.message));
        ok = false;
        continue;
      }
      if (any) continue;
      rule->conditions.push_back({c, std::move(intervals), text});
    }
    return ok;
  }

  // ---- Drivers and channel preference ----------------------------------------------

  void CompileDrivers(const YamlNode& node) {
    if (!ExpectMap(node, "drivers")) return;
    CheckKeys(node, {"hit_policy", "rules"}, "drivers");
    if (const YamlNode* hp = node.Find("hit_policy")) {
      std::string s;
      if (GetScalar(*hp, "drivers hit_policy", &s) && s != "collect") {
        Error(*hp, absl::StrCat("drivers hit_policy: ", Quoted(s),
                                "; drivers collect every matching rule's tag: expected collect"));
      }
    }
    const YamlNode* rules = Required(node, "rules", "drivers");
    if (rules == nullptr || !ExpectList(*rules, "drivers rules")) return;
    for (const YamlNode& item : rules->items) {
      if (!ExpectMap(item, "drivers rule")) continue;
      CheckKeys(item, {"id", "when", "tag", "description"}, "drivers rule");
      Rule rule;
      rule.line = item.line;
      rule.column = item.column;
      rule.segment = -1;
      const YamlNode* id = Required(item, "id", "drivers rule");
      if (!id || !GetId(*id, "drivers rule id", &rule.id)) continue;
      if (!rule_ids_seen_.insert(rule.id).second) {
        Error(*id, absl::StrCat("duplicate rule id ", Quoted(rule.id)));
        continue;
      }
      const std::string what = absl::StrCat("drivers rule ", Quoted(rule.id));
      std::string tag;
      const YamlNode* t = Required(item, "tag", what);
      bool ok = t != nullptr && GetId(*t, what + " tag", &tag);
      if (const YamlNode* when = item.Find("when")) ok &= CompileConditions(*when, what, &rule);
      if (!ok) continue;
      if (rs_.drivers.rules.size() == kMaxDriverRules) {
        Error(*id, absl::StrCat("drivers: at most ", kMaxDriverRules, " rules"));
        continue;
      }
      auto known = std::find(rs_.tags.begin(), rs_.tags.end(), tag);
      if (known == rs_.tags.end()) known = rs_.tags.insert(rs_.tags.end(), tag);
      rs_.drivers.tag_of.push_back(static_cast<int>(known - rs_.tags.begin()));
      rs_.drivers.rules.push_back(std::move(rule));
    }
  }

  void CompileChannelPreference(const YamlNode& node) {
    if (!ExpectMap(node, "channel_preference")) return;
    CheckKeys(node, {"question", "mix", "min_calls"}, "channel_preference");
    ChannelPreference& cp = rs_.channel_preference;
    cp.line = node.line;
    bool ok = true;
    int question = -1;
    if (const YamlNode* q = Required(node, "question", "channel_preference")) {
      std::string id;
      if (GetScalar(*q, "channel_preference question", &id)) {
        const int c = rs_.FindColumn(id);
        if (c < 0 && IsBroken(id)) {
          ok = false;
        } else if (c < 0 || c >= rs_.num_inputs() || !rs_.inputs[c].is_question ||
                   rs_.inputs[c].type != InputType::kChoice) {
          std::vector<std::string> choices;
          for (const InputDef& d : rs_.inputs) {
            if (d.is_question && d.type == InputType::kChoice) choices.push_back(d.id);
          }
          Error(*q,
                absl::StrCat("channel_preference question: ", Quoted(id),
                             " is not a choice question; expected one of: ",
                             choices.empty() ? "(none defined)" : absl::StrJoin(choices, ", ")));
          ok = false;
        } else {
          question = c;
        }
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (const YamlNode* m = node.Find("min_calls")) {
      int64_t n = 0;
      if (GetInt(*m, "channel_preference min_calls", &n)) {
        if (n < 0 || n > 100000) {
          Error(*m, "channel_preference min_calls: expected 0 to 100000");
          ok = false;
        } else {
          cp.min_calls = static_cast<int32_t>(n);
        }
      } else {
        ok = false;
      }
    }
    const YamlNode* mix = Required(node, "mix", "channel_preference");
    if (mix == nullptr || !ExpectMap(*mix, "channel_preference mix") || question < 0) return;
    const InputDef& def = rs_.inputs[question];
    cp.mix.assign(def.options.size(), ChannelMix{});
    cp.has_mix.assign(def.options.size(), false);
    for (const auto& [key, value] : mix->entries) {
      std::string answer;
      if (!GetScalar(key, "channel_preference mix", &answer)) continue;
      auto option = std::find(def.options.begin(), def.options.end(), answer);
      if (option == def.options.end()) {
        Error(key, absl::StrCat("channel_preference mix: ", Quoted(answer), " is not an option of ",
                                Quoted(def.id),
                                "; expected one of: ", absl::StrJoin(def.options, ", ")));
        ok = false;
        continue;
      }
      const size_t o = option - def.options.begin();
      if (cp.has_mix[o]) {
        Error(key, absl::StrCat("channel_preference mix: ", Quoted(answer), " given twice"));
        ok = false;
        continue;
      }
      const std::string what = absl::StrCat("channel_preference mix ", answer);
      if (!ExpectMap(value, what)) {
        ok = false;
        continue;
      }
      CheckKeys(value, {"calls", "remote", "email", "events"}, what);
      ChannelMix row;
      int32_t* shares[] = {&row.calls, &row.remote, &row.email, &row.events};
      int64_t sum = 0;
      bool row_ok = true;
      for (size_t k = 0; k < 4; ++k) {
        const YamlNode* v = value.Find(kActivityNames[k]);
        if (v == nullptr) continue;  // a missing share is 0
        std::string text;
        int64_t micros = 0;
        if (!GetScalar(*v, absl::StrCat(what, " ", kActivityNames[k]), &text) ||
            !ParseDecimalMicros(text, &micros) || micros > 1000000 || micros % 100 != 0) {
          Error(*v, absl::StrCat(what, " ", kActivityNames[k], ": ", Quoted(text),
                                 " is not a share; expected a decimal from 0 to 1 with at most 4 "
                                 "places (e.g. 0.25)"));
          row_ok = false;
          continue;
        }
        *shares[k] = static_cast<int32_t>(micros / 100);
        sum += *shares[k];
      }
      if (row_ok && sum != kShareUnits) {
        Error(value, absl::StrCat(what, ": the shares sum to ", FormatMicros(sum * 100),
                                  "; they must sum to 1"));
        row_ok = false;
      }
      if (!row_ok) {
        ok = false;
        continue;
      }
      cp.mix[o] = row;
      cp.has_mix[o] = true;
    }
    if (ok) cp.question = question;
  }

  // ---- Tiers and targets ------------------------------------------------------------

  void CompileTiers(const YamlNode& node) {
    if (!ExpectMap(node, "tiers")) return;
    CheckKeys(node, {"metric", "bands"}, "tiers");
    if (const YamlNode* m = Required(node, "metric", "tiers")) {
      std::string id;
      if (GetScalar(*m, "tiers metric", &id)) {
        const int c = rs_.FindColumn(id);
        if (c < 0 && IsBroken(id)) {
          // reported where it is defined
        } else if (c < 0 || c >= rs_.num_inputs() || rs_.inputs[c].type == InputType::kChoice) {
          Error(*m, absl::StrCat("tiers metric: ", Quoted(id),
                                 " is not a numeric question or metric; expected one of: ",
                                 InputList(true)));
        } else {
          rs_.tier_metric = c;
        }
      }
    }
    const YamlNode* bands = Required(node, "bands", "tiers");
    if (!bands || !ExpectMap(*bands, "tiers bands")) return;
    for (const auto& [key, value] : bands->entries) {
      std::string name;
      if (!GetId(key, "tiers bands", &name)) continue;
      const std::string what = absl::StrCat("band option ", Quoted(name));
      if (std::find(rs_.band_option_names.begin(), rs_.band_option_names.end(), name) !=
          rs_.band_option_names.end()) {
        Error(key, absl::StrCat("duplicate ", what));
        continue;
      }
      if (!ExpectList(value, what)) continue;
      std::vector<TierBand> option;
      std::set<std::string> tiers_here;
      bool ok = true;
      for (size_t i = 0; i < value.items.size(); ++i) {
        const YamlNode& band = value.items[i];
        if (!ExpectMap(band, what)) {
          ok = false;
          continue;
        }
        CheckKeys(band, {"tier", "min"}, what);
        TierBand tb;
        std::string tier;
        const YamlNode* t = Required(band, "tier", what);
        if (!t || !GetId(*t, what + " tier", &tier)) {
          ok = false;
          continue;
        }
        if (!tiers_here.insert(tier).second) {
          Error(*t, absl::StrCat(what, ": tier ", Quoted(tier), " listed twice"));
          ok = false;
        }
        int idx = rs_.FindTier(tier);
        if (idx < 0) {
          idx = static_cast<int>(rs_.tiers.size());
          rs_.tiers.push_back(tier);
        }
        tb.tier = idx;
        const bool last = i + 1 == value.items.size();
        if (const YamlNode* m = band.Find("min")) {
          if (last) {
            Error(*m, absl::StrCat(what,
                                   ": the last band must have no 'min' (it catches the "
                                   "rest, and customers whose metric is missing)"));
            ok = false;
          } else if (!GetNumber(*m, what + " min", &tb.min)) {
            ok = false;
          }
        } else if (!last) {
          Error(band, absl::StrCat(what, ": only the last band may omit 'min'"));
          ok = false;
        }
        option.push_back(tb);
      }
      if (option.empty() && ok) {
        Error(value, absl::StrCat(what, ": list at least one band"));
        ok = false;
      }
      rs_.band_option_names.push_back(name);
      rs_.band_options.push_back(std::move(option));
    }
    if (rs_.band_option_names.empty()) Error(*bands, "tiers bands: define at least one option");
    if (rs_.tiers.size() > 200) Error(*bands, "tiers: too many tiers");
  }

  void CompileTargets(const YamlNode& node) {
    if (!ExpectMap(node, "targets")) return;
    const size_t tiers = rs_.tiers.size();
    rs_.targets.assign(rs_.segments.size(), std::vector<Activity>(tiers));
    std::vector<std::vector<bool>> given(rs_.segments.size(), std::vector<bool>(tiers, false));
    for (const auto& [key, value] : node.entries) {
      const int seg = SegmentRef(key, "targets");
      if (seg < 0 || !ExpectMap(value, absl::StrCat("targets of ", Quoted(key.scalar)))) continue;
      for (const auto& [tkey, tval] : value.entries) {
        std::string tier;
        if (!GetScalar(tkey, "targets tier", &tier)) continue;
        const int t = rs_.FindTier(tier);
        if (t < 0) {
          Error(tkey,
                absl::StrCat("targets of ", Quoted(key.scalar), ": unknown tier ", Quoted(tier),
                             "; expected one of: ", absl::StrJoin(rs_.tiers, ", ")));
          continue;
        }
        if (given[seg][t]) {
          Error(tkey, absl::StrCat("targets of ", Quoted(key.scalar), ": tier ", Quoted(tier),
                                   " given twice"));
          continue;
        }
        given[seg][t] = true;
        if (tval.kind == YamlNode::Kind::kNull) continue;  // `B: {}` or `B:` = nothing
        const std::string what = absl::StrCat("targets ", key.scalar, ".", tier);
        if (!ExpectMap(tval, what)) continue;
        CheckKeys(tval, {"calls", "remote", "email", "events"}, what);
        Activity& a = rs_.targets[seg][t];
        int32_t* fields[] = {&a.calls, &a.remote, &a.email, &a.events};
        for (size_t k = 0; k < 4; ++k) {
          const YamlNode* v = tval.Find(kActivityNames[k]);
          int64_t n = 0;
          if (!v || !GetInt(*v, absl::StrCat(what, " ", kActivityNames[k]), &n)) continue;
          if (n < 0 || n > 100000) {
            Error(*v, absl::StrCat(what, " ", kActivityNames[k], ": expected 0 to 100000"));
            continue;
          }
          *fields[k] = static_cast<int32_t>(n);
        }
      }
    }
    // A segment or tier left out gets 0 for every activity (docs/rule-language.md);
    // since a refinement may put a customer in any segment, the omissions are
    // listed as warnings, one per segment.
    for (size_t s = 0; s < rs_.segments.size(); ++s) {
      std::vector<std::string> missing;
      for (size_t t = 0; t < tiers; ++t) {
        if (!given[s][t]) missing.push_back(rs_.tiers[t]);
      }
      if (missing.empty()) continue;
      const std::string segment = Quoted(rs_.segments[s].id);
      issues_.Warning(
          node.line, node.column,
          missing.size() == tiers
              ? absl::StrCat("targets: segment ", segment,
                             " is not listed; it gets 0 for every activity in every tier")
              : absl::StrCat("targets: segment ", segment, " has no targets for tier",
                             missing.size() > 1 ? "s " : " ", absl::StrJoin(missing, ", "),
                             "; it gets 0 for every activity there"));
    }
  }

  // ---- Country-option menu ---------------------------------------------------------

  void CompileMenu(const YamlNode& node) {
    if (!ExpectMap(node, "country_options")) return;
    CheckKeys(node,
              {"tier_bands", "target_scale", "process", "max_refinement_share", "pull_through",
               "channel_preference"},
              "country_options");
    for (const auto& [key, value] : node.entries) {
      if (!key.is_scalar()) continue;
      const std::string& k = key.scalar;
      if (k == "channel_preference" && rs_.channel_preference.question < 0) {
        Error(key,
              "country_options channel_preference: offered only with a channel_preference "
              "section (a question and its mix)");
        continue;
      }
      if (std::find_if(std::begin(kMenuKeys), std::end(kMenuKeys),
                       [&](const char* m) { return k == m; }) == std::end(kMenuKeys)) {
        continue;
      }
      const std::string what = absl::StrCat("country_options ", k);
      if (!ExpectList(value, what)) continue;
      MenuEntry entry{k, {}, key.line};
      for (const YamlNode& item : value.items) {
        std::string v;
        if (!GetScalar(item, what, &v)) continue;
        if (std::string why; !CheckMenuValue(k, v, &why)) {
          Error(item, absl::StrCat(what, ": ", Quoted(v), " ", why));
          continue;
        }
        if (std::find(entry.values.begin(), entry.values.end(), v) != entry.values.end()) {
          Error(item, absl::StrCat(what, ": duplicate ", Quoted(v)));
          continue;
        }
        entry.values.push_back(v);
      }
      if (entry.values.empty()) {
        Error(value, absl::StrCat(what, ": list at least one value (the first is the default)"));
        continue;
      }
      rs_.menu.push_back(std::move(entry));
    }
  }

  bool CheckMenuValue(const std::string& key, const std::string& v, std::string* why) {
    int64_t micros = 0;
    if (key == "tier_bands") {
      if (std::find(rs_.band_option_names.begin(), rs_.band_option_names.end(), v) !=
          rs_.band_option_names.end()) {
        return true;
      }
      *why = absl::StrCat("is not a band option of tiers; expected one of: ",
                          absl::StrJoin(rs_.band_option_names, ", "));
      return false;
    }
    if (key == "target_scale") {
      if (ParseDecimalMicros(v, &micros) && micros > 0 && micros <= 100000000) return true;
      *why = "is not a scale; expected a decimal number above 0 (e.g. 0.8, 1.0, 1.25)";
      return false;
    }
    if (key == "max_refinement_share") {
      if (ParseDecimalMicros(v, &micros) && micros <= 1000000) return true;
      *why = "is not a share; expected a decimal number from 0 to 1 (e.g. 0.10)";
      return false;
    }
    if (key == "process") {
      if (v == "field_refined" || v == "data_driven") return true;
      *why = "is not a process; expected one of: field_refined, data_driven";
      return false;
    }
    if (v == "on" || v == "off") return true;  // pull_through
    *why = "expected one of: on, off";
    return false;
  }

  // ---- Test cases ------------------------------------------------------------------

  void CompileTests(const YamlNode& node) {
    if (!ExpectList(node, "tests")) return;
    for (const YamlNode& item : node.items) {
      if (!ExpectMap(item, "test")) continue;
      CheckKeys(item, {"name", "inputs", "options", "expect"}, "test");
      TestCase tc;
      tc.line = item.line;
      const YamlNode* name = Required(item, "name", "test");
      if (!name || !GetScalar(*name, "test name", &tc.name)) continue;
      const std::string what = absl::StrCat("test ", Quoted(tc.name));
      if (const YamlNode* inputs = item.Find("inputs");
          inputs && ExpectMap(*inputs, what + " inputs")) {
        std::set<std::string> test_inputs_seen;
        for (const auto& [key, value] : inputs->entries) {
          std::string id, raw, reason;
          if (!GetScalar(key, what + " inputs", &id)) continue;
          const int c = rs_.FindColumn(id);
          if (c < 0 && IsBroken(id)) continue;
          if (!test_inputs_seen.insert(id).second) {
            Error(key, absl::StrCat(what, " inputs: ", Quoted(id), " given twice"));
            continue;
          }
          if (c < 0 || c >= rs_.num_inputs()) {
            Error(key, absl::StrCat(
                           what, " inputs: ", Quoted(id),
                           " is not a question or metric; expected one of: ", InputList(false)));
            continue;
          }
          if (!GetScalar(value, absl::StrCat(what, " input ", Quoted(id)), &raw)) continue;
          double v = 0;
          if (!ParseInputValue(rs_.inputs[c], raw, &v, &reason)) {
            Error(value, absl::StrCat(what, " input ", Quoted(id), ": ", reason));
            continue;
          }
          tc.inputs.emplace_back(c, v);
        }
      }
      if (const YamlNode* options = item.Find("options");
          options && ExpectMap(*options, what + " options")) {
        std::map<std::string, OptionValue> chosen;
        for (const auto& [key, value] : options->entries) {
          std::string v;
          if (!key.is_scalar()) {
            Error(key, absl::StrCat(what, " options: keys must be plain names"));
            continue;
          }
          if (chosen.count(key.scalar)) {
            Error(key, absl::StrCat(what, " options: ", Quoted(key.scalar), " given twice"));
            continue;
          }
          if (GetScalar(value, what + " option", &v)) {
            tc.options.emplace_back(key.scalar, v);
            option_positions_[tests_.size()].push_back({key.scalar, {value.line, value.column}});
            chosen[key.scalar] = {v, value.line, value.column};
          }
        }
        // Checked now, so these errors show even when the file has others.
        Options unused;
        if (!rs_.band_option_names.empty()) ResolveOptions(rs_, chosen, &issues_, &unused);
      }
      const YamlNode* expect = Required(item, "expect", what);
      if (expect && ExpectMap(*expect, what + " expect")) {
        std::vector<const char*> allowed(std::begin(kExpectKeys), std::end(kExpectKeys));
        for (const auto& [key, value] : expect->entries) {
          std::string k, v;
          if (!GetScalar(key, what + " expect", &k)) continue;
          if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }) ==
              allowed.end()) {
            Error(key, absl::StrCat("unknown key ", Quoted(k), " in ", what,
                                    " expect; expected one of: ", absl::StrJoin(allowed, ", ")));
            continue;
          }
          if (value.kind == YamlNode::Kind::kNull) {
            v = "";
          } else if (!GetScalar(value, absl::StrCat(what, " expect ", k), &v)) {
            continue;
          }
          if (k == "segment" && !v.empty() && rs_.FindSegment(v) < 0) {
            SegmentRef(value, absl::StrCat(what, " expect segment"));
            continue;
          }
          if (k == "tier" && rs_.FindTier(v) < 0) {
            Error(value, absl::StrCat(what, " expect tier: unknown tier ", Quoted(v),
                                      "; expected one of: ", absl::StrJoin(rs_.tiers, ", ")));
            continue;
          }
          tc.expect.emplace_back(k, v);
          expect_positions_[tests_.size()].push_back({value.line, value.column});
        }
      }
      tests_.push_back(item.line);
      rs_.tests.push_back(std::move(tc));
    }
  }

  void RunTests(const std::shared_ptr<const RuleSet>& rs) {
    for (size_t t = 0; t < rs->tests.size(); ++t) {
      const TestCase& tc = rs->tests[t];
      const std::string what = absl::StrCat("test ", Quoted(tc.name));
      std::map<std::string, OptionValue> chosen;
      for (size_t i = 0; i < tc.options.size(); ++i) {
        const auto& pos = option_positions_[t][i].second;
        chosen[tc.options[i].first] = {tc.options[i].second, pos.first, pos.second};
      }
      Options options;
      IssueList reported_at_compile_time(issues_.file());
      if (!ResolveOptions(*rs, chosen, &reported_at_compile_time, &options)) continue;
      std::vector<double> values(rs->inputs.size(), std::nan(""));
      for (const auto& [c, v] : tc.inputs) values[c] = v;
      Batch batch;
      batch.size = 1;
      for (const double& v : values) batch.columns.push_back(&v);
      Evaluator evaluator(rs, options);
      Results results;
      evaluator.EvaluateAll(batch, &results);
      const int seg = results.segment[0];
      const Activity& a = results.activity[0];
      const std::string rule_id = results.rule[0] >= 0        ? rs->rule_ids[results.rule[0]]
                                  : results.conflicts.empty() ? ""
                                                              : results.conflicts[0].second;
      const std::string actual_segment = seg >= 0 ? rs->segments[seg].id : "";
      const std::string tags = results.drivers.empty() ? "" : TagsText(*rs, results.drivers[0]);
      const ChannelPreference& preference = rs->channel_preference;
      const Activity plan =
          options.channel_preference && preference.question >= 0
              ? evaluator.Plan(a, values[static_cast<size_t>(preference.question)])
              : a;
      for (size_t e = 0; e < tc.expect.size(); ++e) {
        const auto& [field, expected] = tc.expect[e];
        std::string actual;
        if (field == "segment") actual = actual_segment;
        if (field == "tier") actual = rs->tiers[results.tier[0]];
        if (field == "calls") actual = absl::StrCat(a.calls);
        if (field == "remote") actual = absl::StrCat(a.remote);
        if (field == "email") actual = absl::StrCat(a.email);
        if (field == "events") actual = absl::StrCat(a.events);
        if (field == "rule_id") actual = rule_id;
        if (field == "decided_by") actual = DecidedByName(results.decided_by[0]);
        if (field == "tags") actual = tags;
        if (field == "plan_calls") actual = absl::StrCat(plan.calls);
        if (field == "plan_remote") actual = absl::StrCat(plan.remote);
        if (field == "plan_email") actual = absl::StrCat(plan.email);
        if (field == "plan_events") actual = absl::StrCat(plan.events);
        if (actual == expected) continue;
        const auto& pos = expect_positions_[t][e];
        issues_.Error(pos.first, pos.second,
                      absl::StrCat(what, " failed: ", field, " is ", Quoted(actual), ", expected ",
                                   Quoted(expected), " (segment ", Quoted(actual_segment),
                                   " by rule ", Quoted(rule_id), ")"));
      }
    }
  }

  RuleSet rs_;
  std::set<std::string> column_ids_;
  std::set<std::string> rule_ids_seen_;  // every rule id written, valid or not
  std::set<std::string> broken_ids_;     // inputs whose definition failed
  std::vector<int> tests_;               // line of each test, parallel to rs_.tests
  std::map<size_t, std::vector<std::pair<std::string, std::pair<int, int>>>> option_positions_;
  std::map<size_t, std::vector<std::pair<int, int>>> expect_positions_;
};

}  // namespace

const char* InputTypeName(InputType type) {
  switch (type) {
    case InputType::kLikert:
      return "likert";
    case InputType::kChoice:
      return "choice";
    case InputType::kInteger:
      return "integer";
    case InputType::kNumber:
      return "number";
    case InputType::kBoolean:
      return "boolean";
  }
  return "?";
}

const char* HitPolicyName(HitPolicy policy) {
  switch (policy) {
    case HitPolicy::kFirst:
      return "first";
    case HitPolicy::kPriority:
      return "priority";
    case HitPolicy::kUnique:
      return "unique";
  }
  return "?";
}

std::string ConditionsText(const RuleSet& rules, const Rule& rule) {
  std::vector<std::string> parts;
  for (const Condition& c : rule.conditions) {
    parts.push_back(absl::StrCat(rules.column_id(c.column), ": ", c.source));
  }
  return absl::StrJoin(parts, ", ");
}

int RuleSet::FindColumn(std::string_view id) const {
  for (int c = 0; c < num_columns(); ++c) {
    if (column_id(c) == id) return c;
  }
  return -1;
}

int RuleSet::FindSegment(std::string_view id) const {
  for (size_t s = 0; s < segments.size(); ++s) {
    if (segments[s].id == id) return static_cast<int>(s);
  }
  return -1;
}

int RuleSet::FindTier(std::string_view name) const {
  for (size_t t = 0; t < tiers.size(); ++t) {
    if (tiers[t] == name) return static_cast<int>(t);
  }
  return -1;
}

CompileResult CompileRuleSet(std::string_view text, const std::string& file) {
  return Compiler(file).Run(text);
}

bool ResolveOptions(const RuleSet& rules, const std::map<std::string, OptionValue>& chosen,
                    IssueList* issues, Options* out) {
  bool ok = true;
  for (const auto& [key, value] : chosen) {
    const MenuEntry* entry = nullptr;
    for (const MenuEntry& m : rules.menu) {
      if (m.key == key) entry = &m;
    }
    if (entry == nullptr) {
      std::vector<std::string> keys;
      for (const MenuEntry& m : rules.menu) keys.push_back(m.key);
      issues->Error(value.line, value.column,
                    absl::StrCat("option ", Quoted(key), " is not offered by rule set ",
                                 rules.therapy_area, " v", rules.version,
                                 "; offered: ", keys.empty() ? "none" : absl::StrJoin(keys, ", ")));
      ok = false;
      continue;
    }
    // Numeric options compare by value, so 1 and 1.0 are the same choice.
    const bool numeric = key == "target_scale" || key == "max_refinement_share";
    int64_t chosen_micros = -1;
    if (numeric && !ParseDecimalMicros(value.value, &chosen_micros)) chosen_micros = -1;
    const std::string& chosen_text = value.value;
    auto same = [&](const std::string& menu_value) {
      int64_t m = 0;
      return numeric
                 ? chosen_micros >= 0 && ParseDecimalMicros(menu_value, &m) && m == chosen_micros
                 : menu_value == chosen_text;
    };
    if (std::none_of(entry->values.begin(), entry->values.end(), same)) {
      issues->Error(value.line, value.column,
                    absl::StrCat("option ", Quoted(key), ": ", Quoted(value.value),
                                 " is not on the menu; allowed values: ",
                                 absl::StrJoin(entry->values, ", ")));
      ok = false;
    }
  }
  if (!ok) return false;
  auto pick = [&](const char* key, const char* builtin) -> std::string {
    if (auto it = chosen.find(key); it != chosen.end()) return it->second.value;
    for (const MenuEntry& m : rules.menu) {
      if (m.key == key) return m.values.front();
    }
    return builtin;
  };
  Options o;
  if (rules.band_option_names.empty()) {
    issues->Error(0, 0, absl::StrCat("rule set ", rules.therapy_area, " has no tier bands"));
    return false;
  }
  const std::string bands = pick("tier_bands", rules.band_option_names.front().c_str());
  auto band = std::find(rules.band_option_names.begin(), rules.band_option_names.end(), bands);
  if (band == rules.band_option_names.end()) {
    issues->Error(0, 0, absl::StrCat("tier band option ", Quoted(bands), " is not defined"));
    return false;
  }
  o.tier_bands = static_cast<int>(band - rules.band_option_names.begin());
  ParseDecimalMicros(pick("target_scale", "1.0"), &o.target_scale_micros);
  o.process = pick("process", "field_refined") == "data_driven" ? Process::kDataDriven
                                                                : Process::kFieldRefined;
  ParseDecimalMicros(pick("max_refinement_share", "0.10"), &o.max_refinement_share_micros);
  o.pull_through = pick("pull_through", "on") == "on";
  o.channel_preference =
      rules.channel_preference.question >= 0 && pick("channel_preference", "off") == "on";
  o.canonical =
      absl::StrCat("tier_bands=", bands, ";target_scale=", FormatMicros(o.target_scale_micros),
                   ";process=", o.process == Process::kDataDriven ? "data_driven" : "field_refined",
                   ";max_refinement_share=", FormatMicros(o.max_refinement_share_micros),
                   ";pull_through=", o.pull_through ? "on" : "off");
  // Named only when on: adding the plan to a rule set leaves the canonical
  // text, and so every inputs digest, of the countries that keep it off as
  // it was (docs/decisions.md).
  if (o.channel_preference) absl::StrAppend(&o.canonical, ";channel_preference=on");
  *out = std::move(o);
  return true;
}

bool ParseInputValue(const InputDef& def, std::string_view text, double* value,
                     std::string* reason) {
  auto range = [&]() {
    return absl::StrCat("[", FormatInputValue(InputDef{}, def.min), ", ",
                        FormatInputValue(InputDef{}, def.max), "]");
  };
  if (text.empty()) {
    *reason = "empty value";
    return false;
  }
  switch (def.type) {
    case InputType::kChoice: {
      auto it = std::find(def.options.begin(), def.options.end(), text);
      if (it == def.options.end()) {
        *reason = absl::StrCat(
            Quoted(text), " is not an option; expected one of: ", absl::StrJoin(def.options, ", "));
        return false;
      }
      *value = static_cast<double>(it - def.options.begin());
      return true;
    }
    case InputType::kBoolean:
      if (text == "true" || text == "false") {
        *value = text == "true" ? 1 : 0;
        return true;
      }
      *reason = absl::StrCat(Quoted(text), " is not a boolean; expected true or false");
      return false;
    case InputType::kLikert:
    case InputType::kInteger: {
      int64_t n = 0;
      if (!ParseInt64(text, &n) || text[0] == '+') {
        *reason = absl::StrCat(Quoted(text), " is not a whole number");
        return false;
      }
      *value = static_cast<double>(n);
      break;
    }
    case InputType::kNumber:
      if (!ParseDouble(text, value)) {
        *reason = absl::StrCat(Quoted(text), " is not a number");
        return false;
      }
      break;
  }
  if (*value < def.min || *value > def.max) {
    *reason = absl::StrCat(std::string(text), " is outside ",
                           def.type == InputType::kLikert ? "scale " : "range ", range());
    return false;
  }
  return true;
}

std::string FormatInputValue(const InputDef& def, double value) {
  if (value != value) return "";
  switch (def.type) {
    case InputType::kChoice: {
      const size_t i = static_cast<size_t>(value);
      return i < def.options.size() ? def.options[i] : "";
    }
    case InputType::kBoolean:
      return value != 0 ? "true" : "false";
    default:
      break;
  }
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, ec == std::errc() ? ptr : buf);
}

}  // namespace harmonia::engine
