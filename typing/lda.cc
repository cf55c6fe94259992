// Linear discriminant analysis, cross-validation and forward selection
// (docs/typing-tool.md). Linear algebra is Eigen's.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "typing/typing_tool.h"

namespace harmonia::typing {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// Sufficient statistics of one group of respondents per segment, over every
// candidate input (centred on the study mean, so sums of squares stay small).
struct Moments {
  std::vector<int64_t> count;  // per segment slot
  std::vector<VectorXd> sum;
  std::vector<MatrixXd> scatter;  // Σ x x'

  Moments(size_t segments, Eigen::Index d)
      : count(segments, 0),
        sum(segments, VectorXd::Zero(d)),
        scatter(segments, MatrixXd::Zero(d, d)) {}
  void Add(size_t k, const VectorXd& x) {
    ++count[k];
    sum[k] += x;
    scatter[k].selfadjointView<Eigen::Lower>().rankUpdate(x);
  }
  void Subtract(const Moments& o) {
    for (size_t k = 0; k < count.size(); ++k) {
      count[k] -= o.count[k];
      sum[k] -= o.sum[k];
      scatter[k] -= o.scatter[k];
    }
  }
};

// Linear functions over a subset of the candidate inputs, as written:
// value_k(x) = intercept[k] + coef.col(k)·x on raw values. `centred` holds
// the constants for centred values (intercept + coef·mean), which Type()
// uses. A slot without training respondents has no function (it never wins).
struct Model {
  std::vector<Eigen::Index> inputs;  // candidate indexes
  MatrixXd coef;                     // inputs × slots
  VectorXd intercept;                // slots
  VectorXd centred;                  // slots
  std::vector<bool> present;         // slots with a function
};

void Centre(Model* model, const VectorXd& mean) {
  model->centred = model->intercept;
  for (size_t k = 0; k < model->present.size(); ++k) {
    const auto col = static_cast<Eigen::Index>(k);
    for (size_t i = 0; i < model->inputs.size(); ++i) {
      model->centred(col) +=
          model->coef(static_cast<Eigen::Index>(i), col) * mean(model->inputs[i]);
    }
  }
}

Model FitModel(const Moments& m, const std::vector<Eigen::Index>& inputs, const VectorXd& mean,
               Priors priors) {
  const Eigen::Index d = static_cast<Eigen::Index>(inputs.size());
  const size_t slots = m.count.size();
  Model model;
  model.inputs = inputs;
  model.coef = MatrixXd::Zero(d, static_cast<Eigen::Index>(slots));
  model.intercept = VectorXd::Zero(static_cast<Eigen::Index>(slots));
  model.present.assign(slots, false);
  int64_t n = 0;
  size_t present = 0;
  for (size_t k = 0; k < slots; ++k) {
    n += m.count[k];
    present += m.count[k] > 0;
  }
  if (n == 0 || d == 0) {
    Centre(&model, mean);
    return model;
  }

  // Pooled within-segment covariance, maximum likelihood: Σ_k (S_k − n_k μ_k μ_k') / n.
  MatrixXd within = MatrixXd::Zero(d, d);
  MatrixXd means(d, static_cast<Eigen::Index>(slots));  // uncentred means
  for (size_t k = 0; k < slots; ++k) {
    if (m.count[k] == 0) continue;
    VectorXd mu(d);
    MatrixXd s(d, d);
    for (Eigen::Index i = 0; i < d; ++i) {
      mu(i) = m.sum[k](inputs[i]) / static_cast<double>(m.count[k]);
      for (Eigen::Index j = 0; j <= i; ++j) {
        // Only the lower triangle is kept (rankUpdate).
        s(i, j) = m.scatter[k](std::max(inputs[i], inputs[j]), std::min(inputs[i], inputs[j]));
      }
    }
    within += s.selfadjointView<Eigen::Lower>().toDenseMatrix() -
              static_cast<double>(m.count[k]) * mu * mu.transpose();
    for (Eigen::Index i = 0; i < d; ++i)
      means(i, static_cast<Eigen::Index>(k)) = mu(i) + mean(inputs[i]);
  }
  within /= static_cast<double>(n);
  const Eigen::CompleteOrthogonalDecomposition<MatrixXd> solver(within);
  for (size_t k = 0; k < slots; ++k) {
    if (m.count[k] == 0) continue;
    const auto col = static_cast<Eigen::Index>(k);
    const VectorXd mu = means.col(col);
    const VectorXd w = solver.solve(mu);
    const double prior = priors == Priors::kStudy
                             ? static_cast<double>(m.count[k]) / static_cast<double>(n)
                             : 1.0 / static_cast<double>(present);
    model.coef.col(col) = w;
    model.intercept(col) = -0.5 * mu.dot(w) + std::log(prior);
    model.present[k] = true;
  }
  Centre(&model, mean);
  return model;
}

// The winning slot for a centred respondent (ties: the first slot, as the
// engine breaks them: segments in rule-set order).
size_t Type(const Model& model, const VectorXd& x) {
  size_t best = 0;
  double best_value = -std::numeric_limits<double>::infinity();
  bool any = false;
  for (size_t k = 0; k < model.present.size(); ++k) {
    if (!model.present[k]) continue;
    double v = model.centred(static_cast<Eigen::Index>(k));
    for (size_t i = 0; i < model.inputs.size(); ++i) {
      v += model.coef(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)) *
           x(model.inputs[i]);
    }
    if (!any || v > best_value) {
      best = k;
      best_value = v;
      any = true;
    }
  }
  return best;
}

// Rounds to `digits` significant digits.
double Round(double v, int digits) {
  if (v == 0 || !std::isfinite(v)) return v;
  const double scale =
      std::pow(10.0, digits - 1 - static_cast<int>(std::floor(std::log10(std::abs(v)))));
  return std::round(v * scale) / scale;
}

// The study's data prepared for fitting: respondents answering every
// candidate input, centred.
struct Prepared {
  std::vector<int> slot_segment;  // slot → rule-set segment (present in the study)
  std::vector<size_t> slot;       // per used respondent
  std::vector<VectorXd> x;        // per used respondent, centred
  std::vector<int> fold;          // per used respondent
  VectorXd mean;
  Moments total{0, 0};
  std::vector<Moments> folds;  // per fold
  size_t dropped = 0;          // respondents missing a candidate input
};

Prepared Prepare(const Study& study, const std::vector<int>& candidates, int folds) {
  Prepared p;
  const auto d = static_cast<Eigen::Index>(candidates.size());
  std::vector<int> slot_of(study.rule_set->segments.size(), -1);
  std::vector<size_t> rows;
  for (size_t r = 0; r < study.size(); ++r) {
    bool complete = true;
    for (int c : candidates) complete = complete && !std::isnan(study.value(r, c));
    if (!complete) {
      ++p.dropped;
      continue;
    }
    rows.push_back(r);
    slot_of[study.segments[r]] = 0;
  }
  for (size_t s = 0; s < slot_of.size(); ++s) {
    if (slot_of[s] == 0) {
      slot_of[s] = static_cast<int>(p.slot_segment.size());
      p.slot_segment.push_back(static_cast<int>(s));
    }
  }
  p.mean = VectorXd::Zero(d);
  for (size_t r : rows) {
    for (Eigen::Index i = 0; i < d; ++i) p.mean(i) += study.value(r, candidates[i]);
  }
  if (!rows.empty()) p.mean /= static_cast<double>(rows.size());
  const size_t slots = p.slot_segment.size();
  p.total = Moments(slots, d);
  p.folds.assign(static_cast<size_t>(folds), Moments(slots, d));
  std::vector<int64_t> seen(slots, 0);
  for (size_t r : rows) {
    VectorXd x(d);
    for (Eigen::Index i = 0; i < d; ++i) x(i) = study.value(r, candidates[i]) - p.mean(i);
    const size_t k = static_cast<size_t>(slot_of[study.segments[r]]);
    const int f = static_cast<int>(seen[k]++ % folds);
    p.slot.push_back(k);
    p.fold.push_back(f);
    p.total.Add(k, x);
    p.folds[static_cast<size_t>(f)].Add(k, x);
    p.x.push_back(std::move(x));
  }
  return p;
}

Evaluation CrossValidate(const Prepared& p, const std::vector<Eigen::Index>& inputs,
                         Priors priors) {
  Evaluation e(p.slot_segment);
  for (size_t f = 0; f < p.folds.size(); ++f) {
    Moments train = p.total;
    train.Subtract(p.folds[f]);
    const Model model = FitModel(train, inputs, p.mean, priors);
    for (size_t r = 0; r < p.x.size(); ++r) {
      if (static_cast<size_t>(p.fold[r]) != f) continue;
      e.Add(p.slot[r], Type(model, p.x[r]));
    }
  }
  return e;
}

}  // namespace

double Evaluation::recall(size_t k) const {
  int64_t n = 0;
  for (int64_t c : confusion[k]) n += c;
  return n == 0 ? 0 : static_cast<double>(confusion[k][k]) / static_cast<double>(n);
}

absl::StatusOr<Fit> FitTypingTool(const Study& study, const FitOptions& options) {
  if (options.folds < 2 || options.folds > 50) {
    return absl::InvalidArgumentError(absl::StrCat("folds ", options.folds, ": expected 2 to 50"));
  }
  if (options.max_questions < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_questions ", options.max_questions, ": expected 1 or more"));
  }
  // A typing tool weighs likert, integer, number and boolean inputs; a choice
  // question has no order to weigh.
  const engine::RuleSet& rs = *study.rule_set;
  auto is_choice = [&](size_t c) {
    return rs.inputs[static_cast<size_t>(study.columns[c])].type == engine::InputType::kChoice;
  };
  std::vector<int> candidates;
  std::vector<std::string> left_out;
  if (options.questions.empty()) {
    for (size_t c = 0; c < study.columns.size(); ++c) {
      if (is_choice(c)) {
        left_out.push_back(study.column_id(c));
      } else {
        candidates.push_back(static_cast<int>(c));
      }
    }
  } else {
    std::vector<std::string> ids;
    for (size_t c = 0; c < study.columns.size(); ++c) ids.push_back(study.column_id(c));
    for (const std::string& q : options.questions) {
      auto it = std::find(ids.begin(), ids.end(), q);
      if (it == ids.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "question '", q, "' is not a column of the study (columns: ", absl::StrJoin(ids, ", "),
            ")"));
      }
      const int c = static_cast<int>(it - ids.begin());
      if (is_choice(static_cast<size_t>(c))) {
        return absl::InvalidArgumentError(
            absl::StrCat("question '", q,
                         "' is a choice question: a typing tool weighs likert, integer, number "
                         "and boolean inputs only"));
      }
      if (std::find(candidates.begin(), candidates.end(), c) != candidates.end()) {
        return absl::InvalidArgumentError(absl::StrCat("question '", q, "' is listed twice"));
      }
      candidates.push_back(c);
    }
    std::sort(candidates.begin(), candidates.end());
  }

  // Inputs that cannot be weighed: the same answer from everybody (a weight
  // would do nothing but send customers without it to unprofiled), or, when
  // the inputs were not listed, answered by fewer than half the respondents
  // (only those who answered every input are fitted on).
  std::vector<std::string> warnings;
  {
    std::vector<int> kept;
    for (int c : candidates) {
      size_t answered = 0;
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (size_t r = 0; r < study.size(); ++r) {
        const double v = study.value(r, static_cast<size_t>(c));
        if (std::isnan(v)) continue;
        ++answered;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      const std::string& id = study.column_id(static_cast<size_t>(c));
      if (answered > 0 && lo == hi) {
        warnings.push_back(
            absl::StrCat(id, " left out: every respondent who answered it gave ", lo));
      } else if (options.questions.empty() && 2 * answered < study.size()) {
        warnings.push_back(absl::StrCat(id, " left out: answered by ", answered, " of ",
                                        study.size(), " respondents"));
      } else {
        kept.push_back(c);
      }
    }
    candidates = std::move(kept);
  }
  if (candidates.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no input to weigh: ", warnings.empty() ? "the study has only choice questions"
                                                             : absl::StrJoin(warnings, "; ")));
  }

  Prepared p = Prepare(study, candidates, options.folds);
  if (p.x.empty()) {
    // Name the inputs respondents skipped most.
    std::vector<std::pair<size_t, std::string>> empty;
    for (int c : candidates) {
      size_t n = 0;
      for (size_t r = 0; r < study.size(); ++r) n += std::isnan(study.value(r, c));
      if (n > 0) empty.emplace_back(n, study.column_id(static_cast<size_t>(c)));
    }
    std::sort(empty.rbegin(), empty.rend());
    std::vector<std::string> named;
    for (size_t i = 0; i < empty.size() && i < 5; ++i) {
      named.push_back(absl::StrCat(empty[i].second, " (", empty[i].first, " empty)"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "no respondent answered every input; most often unanswered: ", absl::StrJoin(named, ", "),
        ". Choose the inputs with --questions"));
  }
  for (size_t k = 0; k < p.slot_segment.size(); ++k) {
    if (!p.total.scatter[k].allFinite()) {
      return absl::InvalidArgumentError(
          "the values are too large to fit (their squares overflow a double); check the "
          "study's metrics for values in the wrong unit");
    }
  }
  if (p.slot_segment.size() < 2) {
    return absl::InvalidArgumentError(
        "the study's respondents fall in fewer than two segments: nothing to tell apart");
  }
  if (p.x.size() < static_cast<size_t>(options.folds)) {
    return absl::InvalidArgumentError(absl::StrCat(
        p.x.size(), " respondents answered every input: fewer than the ", options.folds, " folds"));
  }

  Fit fit;
  fit.folds = options.folds;
  fit.respondents = static_cast<int64_t>(p.x.size());
  std::vector<Eigen::Index> chosen;
  if (options.max_questions > 0) {
    int64_t current = 0;  // respondents typed right by the inputs chosen so far
    while (static_cast<int>(chosen.size()) < options.max_questions &&
           chosen.size() < candidates.size()) {
      Eigen::Index best = -1;
      Evaluation best_evaluation;
      for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(candidates.size()); ++i) {
        if (std::find(chosen.begin(), chosen.end(), i) != chosen.end()) continue;
        std::vector<Eigen::Index> trial = chosen;
        trial.push_back(i);
        Evaluation e = CrossValidate(p, trial, options.priors);
        if (best < 0 || e.typed_right > best_evaluation.typed_right) {
          best = i;
          best_evaluation = std::move(e);
        }
      }
      // Counted in respondents, so that exactly one point is enough.
      const int64_t gain = best_evaluation.typed_right - current;
      if (!chosen.empty() &&
          static_cast<double>(gain) < kMinGain * static_cast<double>(p.x.size()) - 1e-9) {
        break;
      }
      chosen.push_back(best);
      current = best_evaluation.typed_right;
      fit.steps.push_back({candidates[static_cast<size_t>(best)], best_evaluation.accuracy()});
    }
    std::sort(chosen.begin(), chosen.end());
  } else {
    for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(candidates.size()); ++i) {
      chosen.push_back(i);
    }
  }
  for (Eigen::Index i : chosen) fit.columns.push_back(candidates[static_cast<size_t>(i)]);
  fit.cross_validated = CrossValidate(p, chosen, options.priors);

  // The functions over every used respondent, rounded to the fewest
  // significant digits that change no respondent's segment.
  const Model exact = FitModel(p.total, chosen, p.mean, options.priors);
  if (!exact.coef.allFinite() || !exact.centred.allFinite()) {
    return absl::InvalidArgumentError(
        "the discriminant functions are not finite numbers: the inputs' values are too large or "
        "too small to fit together");
  }
  std::vector<size_t> exact_types;
  for (const VectorXd& x : p.x) exact_types.push_back(Type(exact, x));
  for (int digits = 3;; ++digits) {
    Model rounded = exact;
    for (Eigen::Index k = 0; k < rounded.coef.cols(); ++k) {
      rounded.intercept(k) = Round(rounded.intercept(k), digits);
      for (Eigen::Index i = 0; i < rounded.coef.rows(); ++i) {
        rounded.coef(i, k) = Round(rounded.coef(i, k), digits);
      }
    }
    Centre(&rounded, p.mean);
    bool same = true;
    for (size_t r = 0; r < p.x.size() && same; ++r) same = Type(rounded, p.x[r]) == exact_types[r];
    if (!same && digits < 15) continue;
    fit.significant_digits = digits;
    fit.written = Evaluation(p.slot_segment);
    for (size_t r = 0; r < p.x.size(); ++r) fit.written.Add(p.slot[r], Type(rounded, p.x[r]));
    for (size_t k = 0; k < p.slot_segment.size(); ++k) {
      if (!rounded.present[k]) continue;
      Function f;
      f.segment = p.slot_segment[k];
      f.intercept = rounded.intercept(static_cast<Eigen::Index>(k));
      for (Eigen::Index i = 0; i < rounded.coef.rows(); ++i) {
        f.weights.push_back(rounded.coef(i, static_cast<Eigen::Index>(k)));
      }
      fit.functions.push_back(std::move(f));
    }
    break;
  }

  // What the written tool will do to customers.
  fit.warnings = std::move(warnings);
  if (!left_out.empty()) {
    fit.warnings.push_back(absl::StrCat("left out, as choice questions cannot be weighted: ",
                                        absl::StrJoin(left_out, ", ")));
  }
  for (int c : fit.columns) {
    const engine::InputDef& def = rs.inputs[study.columns[static_cast<size_t>(c)]];
    if (def.is_question && !def.required) {
      fit.warnings.push_back(
          absl::StrCat(def.id, " is weighted but not required in ", study.rule_set_path,
                       ": a customer who did not answer it goes to unprofiled; make it required"));
    } else if (!def.is_question) {
      fit.warnings.push_back(absl::StrCat(
          def.id, " is a metric: a customer without a usable value goes to unprofiled"));
    }
  }
  if (p.dropped > 0) {
    fit.warnings.push_back(absl::StrCat(p.dropped, " of ", study.size(),
                                        " respondents left out: an input not answered"));
  }
  return fit;
}

}  // namespace harmonia::typing
