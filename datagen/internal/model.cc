#include "datagen/internal/model.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/csv.h"
#include "common/issue.h"
#include "engine/evaluator.h"

namespace harmonia::datagen::internal {
namespace {

using engine::InputDef;
using engine::InputType;
using engine::RuleSet;

constexpr double kSegmentMetricCoverage = 0.97;  // objective behaviour, tier metric
constexpr double kMetricCoverage = 0.92;         // other metrics

// Prototype search (per therapy area, once per run).
constexpr size_t kSearchBatch = 4096;
constexpr int kPilotRounds = 4;
constexpr int kSearchRounds = 64;
constexpr size_t kCandidates = 1024;  // per segment, before the robustness filter
constexpr size_t kPoolSize = 256;     // prototypes kept per segment
constexpr int kRobustnessTrials = 8;

}  // namespace

// ---------------------------------------------------------------------------
// Values.

namespace {

Domain DomainOf(const InputDef& def) {
  switch (def.type) {
    case InputType::kChoice:
      return {0, static_cast<double>(std::max<size_t>(def.options.size(), 1) - 1)};
    case InputType::kBoolean:
      return {0, 1};
    default:
      break;
  }
  double lo = def.min, hi = def.max;
  if (!std::isfinite(lo) && !std::isfinite(hi)) {
    lo = 0;
    hi = 100;
  } else if (!std::isfinite(lo)) {
    lo = hi - 100;
  } else if (!std::isfinite(hi)) {
    hi = lo + 100;
  }
  if (def.type != InputType::kNumber) {
    lo = std::ceil(lo);
    hi = std::max(lo, std::floor(hi));
  }
  return {lo, hi};
}

}  // namespace

std::string CsvField(std::string_view text) {
  std::string out;
  csv::AppendField(&out, text);
  return out;
}

namespace {

// Rounds to what the file can hold: whole numbers, or numbers with at most
// three decimals, within the domain.
double Quantize(const InputModel& m, double v) {
  const Domain& d = m.dom;
  v = std::clamp(v, d.lo, d.hi);
  if (m.def->type != InputType::kNumber) return std::clamp(std::round(v), d.lo, d.hi);
  double q = std::round(v * 1000) / 1000;
  if (q < d.lo) q = std::ceil(d.lo * 1000) / 1000;
  if (q > d.hi) q = std::floor(d.hi * 1000) / 1000;
  return q < d.lo || q > d.hi ? v : q;
}

int64_t Span(const Domain& d) { return static_cast<int64_t>(d.hi - d.lo); }

}  // namespace

// Any value of the domain; wide integer ranges skewed towards the low end
// (most practices are small).
double UniformValue(const InputModel& m, Rng& rng) {
  const Domain& d = m.dom;
  switch (m.def->type) {
    case InputType::kNumber:
      return Quantize(m, d.lo + (d.hi - d.lo) * rng.Uniform());
    case InputType::kInteger:
      if (Span(d) > 12) {
        const double u = rng.Uniform();
        return Quantize(m, d.lo + std::floor((d.hi - d.lo + 1) * u * u));
      }
      [[fallthrough]];
    default:
      return static_cast<double>(
          rng.Between(static_cast<int64_t>(d.lo), static_cast<int64_t>(d.hi)));
  }
}

// A metric that does not follow the segment: numbers bell-shaped mid-range.
double PlainMetric(const InputModel& m, Rng& rng) {
  if (m.def->type == InputType::kNumber) {
    const double u = (rng.Uniform() + rng.Uniform()) / 2;
    return Quantize(m, m.dom.lo + (m.dom.hi - m.dom.lo) * u);
  }
  if (m.def->type == InputType::kBoolean) return rng.Chance(0.3) ? 1 : 0;
  return UniformValue(m, rng);
}

namespace {

double DrawMetric(const InputModel& m, size_t segment, Rng& rng) {
  if (!m.by_segment) return PlainMetric(m, rng);
  return Quantize(m, m.mean[segment] + m.sd * rng.Normal());
}

}  // namespace

// The value one step away: likert ±1, integers a few units, numbers up to 5%
// of the range, another option, the other boolean (clamped to the domain).
double Perturb(const InputModel& m, double v, Rng& rng) {
  const Domain& d = m.dom;
  const double sign = rng.Chance(0.5) ? 1 : -1;
  switch (m.def->type) {
    case InputType::kLikert:
      return std::clamp(v + sign, d.lo, d.hi);
    case InputType::kInteger: {
      const int64_t step = 1 + static_cast<int64_t>(rng.Below(std::max<int64_t>(1, Span(d) / 20)));
      return std::clamp(v + sign * static_cast<double>(step), d.lo, d.hi);
    }
    case InputType::kNumber:
      return Quantize(m, v + sign * (d.hi - d.lo) * 0.05 * rng.Uniform());
    case InputType::kChoice: {
      const uint64_t n = m.option_fields.size();
      if (n < 2) return v;
      uint64_t other = rng.Below(n - 1);
      if (other >= static_cast<uint64_t>(v)) ++other;
      return static_cast<double>(other);
    }
    case InputType::kBoolean:
      return 1 - v;
  }
  return v;
}

double MetricProbability(const InputModel& m, size_t k, double value) {
  if (!m.by_segment) return 1;
  // DrawMetric: Quantize(mean + sd × N(0, 1)), clamped to the domain.
  const Domain& d = m.dom;
  const double step = m.def->type == InputType::kNumber ? 0.001 : 1;
  auto below = [&](double x) {  // P(mean + sd × N < x)
    return 0.5 * std::erfc(-(x - m.mean[k]) / (m.sd * std::sqrt(2.0)));
  };
  const double lo = value <= d.lo ? 0 : below(value - step / 2);
  const double hi = value >= d.hi ? 1 : below(value + step / 2);
  return std::max(0.0, hi - lo);
}

double PerturbProbability(const InputModel& m, double from, double to) {
  const Domain& d = m.dom;
  switch (m.def->type) {
    case InputType::kLikert:
      return 0.5 * (std::min(from + 1, d.hi) == to) + 0.5 * (std::max(from - 1, d.lo) == to);
    case InputType::kInteger: {
      const int64_t steps = std::max<int64_t>(1, Span(d) / 20);
      double p = 0;
      for (int64_t step = 1; step <= steps; ++step) {
        const double up = std::min(from + static_cast<double>(step), d.hi);
        const double down = std::max(from - static_cast<double>(step), d.lo);
        p += 0.5 * ((up == to) + (down == to)) / static_cast<double>(steps);
      }
      return p;
    }
    case InputType::kNumber: {
      // Perturb: Quantize(from ± band × U), U uniform in [0, 1): clamped to
      // the domain, then rounded to 0.001. Per direction, the share of
      // [from, from ± band) that rounds to `to`, plus the share clamped onto
      // a bound when `to` is that bound.
      const double band = (d.hi - d.lo) * 0.05;
      if (!(band > 0)) return from == to;
      const double cell_lo = to - 0.0005, cell_hi = to + 0.0005;
      auto overlap = [&](double a, double b) {  // |[a, b) ∩ [cell_lo, cell_hi)|
        return std::max(0.0, std::min(b, cell_hi) - std::max(a, cell_lo));
      };
      double up = overlap(from, std::min(from + band, d.hi));
      if (to == d.hi) up += std::max(0.0, from + band - d.hi);
      double down = overlap(std::max(from - band, d.lo), from);
      if (to == d.lo) down += std::max(0.0, d.lo - (from - band));
      return 0.5 * (up + down) / band;
    }
    case InputType::kChoice: {
      const size_t n = m.option_fields.size();
      return n < 2 ? (from == to) : (from != to) / static_cast<double>(n - 1);
    }
    case InputType::kBoolean:
      return from != to;
  }
  return 0;
}

namespace {

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, end);
}

}  // namespace

// A value as the files write it. Numbers were quantized to thousandths, so the
// shortest round-trip form has at most three decimals.
void AppendValue(std::string* out, const InputModel& m, double v) {
  switch (m.def->type) {
    case InputType::kChoice:
      out->append(m.option_fields[static_cast<size_t>(v)]);
      return;
    case InputType::kBoolean:
      out->append(v != 0 ? "true" : "false");
      return;
    case InputType::kNumber: {
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
      out->append(buf, end);
      return;
    }
    default:
      AppendInt(out, static_cast<int64_t>(v));
      return;
  }
}

namespace {

std::string ValueText(const InputModel& m, double v) {
  std::string out;
  AppendValue(&out, m, v);
  return out;
}

// Typical ways a value goes wrong: out of scale or range, empty, "n/a", an
// option in the wrong case, a decimal comma. Only texts the engine rejects.
std::vector<std::string> InvalidValues(const InputModel& m) {
  const InputDef& def = *m.def;
  std::vector<std::string> texts = {"", "n/a"};
  switch (def.type) {
    case InputType::kLikert:
      texts.push_back(ValueText(m, m.dom.hi + 2));
      texts.push_back(ValueText(m, m.dom.hi + 2));
      texts.push_back(ValueText(m, m.dom.lo - 1));
      texts.push_back(absl::StrCat(static_cast<int64_t>(m.dom.lo), ".5"));
      break;
    case InputType::kInteger:
      texts.push_back(ValueText(m, m.dom.hi + 1 + std::floor((m.dom.hi - m.dom.lo) / 2)));
      texts.push_back(ValueText(m, m.dom.hi + 1));
      texts.push_back("-1");
      break;
    case InputType::kNumber: {
      const double above = std::round((m.dom.hi + (m.dom.hi - m.dom.lo) / 4) * 1000) / 1000;
      texts.push_back(ValueText(m, above));
      texts.push_back(ValueText(m, above));
      std::string comma = ValueText(m, Quantize(m, (m.dom.lo + m.dom.hi) / 2));
      if (size_t dot = comma.find('.'); dot != std::string::npos) comma[dot] = ',';
      texts.push_back(comma);
      break;
    }
    case InputType::kChoice:
      for (const std::string& option : def.options) {
        std::string upper = option;
        if (!upper.empty() && upper[0] >= 'a' && upper[0] <= 'z') upper[0] -= 'a' - 'A';
        texts.push_back(upper);
      }
      texts.push_back("other");
      break;
    case InputType::kBoolean:
      texts.insert(texts.end(), {"yes", "1", "TRUE"});
      break;
  }
  std::vector<std::string> out;
  for (const std::string& t : texts) {
    double v;
    std::string reason;
    if (!engine::ParseInputValue(def, t, &v, &reason)) out.push_back(CsvField(t));
  }
  return out;  // never empty: "" is always invalid
}

// ---------------------------------------------------------------------------
// The model of one therapy area.

}  // namespace

size_t PoolCount(const TaModel& t, size_t k) { return t.pool[k].size() / t.inputs.size(); }

void DrawProfile(const TaModel& t, size_t k, const double* proto, Rng& rng, double* values,
                 bool complete) {
  for (int c : t.questions) {
    const InputModel& m = t.inputs[c];
    if (!complete && !m.def->required && !rng.Chance(kOptionalAnswered)) {
      values[c] = kNaN;
    } else if (proto != nullptr && m.relevant) {
      values[c] = rng.Chance(kAnswerNoise) ? Perturb(m, proto[c], rng) : proto[c];
    } else {
      values[c] = UniformValue(m, rng);
    }
  }
  for (int c : t.metrics) {
    const InputModel& m = t.inputs[c];
    values[c] = complete || rng.Chance(m.coverage) ? DrawMetric(m, k, rng) : kNaN;
  }
}

namespace {

// A batch of candidate customers for the engine.
class Scratch {
 public:
  Scratch(const RuleSet& rules, size_t size)
      : cols_(rules.num_inputs(), std::vector<double>(size)), row_(rules.num_inputs()) {
    batch_.size = size;
    for (const auto& col : cols_) batch_.columns.push_back(col.data());
    results_.Resize(size, rules.scores.size());
  }
  size_t size() const { return batch_.size; }
  double* row() { return row_.data(); }
  void Put(size_t i) {
    for (size_t c = 0; c < cols_.size(); ++c) cols_[c][i] = row_[c];
  }
  void Get(size_t i, double* out) const {
    for (size_t c = 0; c < cols_.size(); ++c) out[c] = cols_[c][i];
  }
  const engine::Results& Evaluate(const engine::Evaluator& evaluator) {
    evaluator.EvaluateAll(batch_, &results_);
    return results_;
  }

 private:
  std::vector<std::vector<double>> cols_;
  std::vector<double> row_;
  engine::Batch batch_;
  engine::Results results_;
};

bool AssignedBy(const engine::Results& r, size_t i, int segment) {
  return r.decided_by[i] == engine::DecidedBy::kRules && r.segment[i] == segment;
}

// The columns the assignment looks at: weighted in a score or a typing-tool
// function, or tested by an assignment rule.
std::vector<bool> RelevantColumns(const RuleSet& rules) {
  std::vector<bool> out(rules.num_inputs());
  auto mark = [&](int column) {
    if (column < rules.num_inputs()) out[column] = true;
  };
  for (const auto& f : rules.scores) {
    for (const auto& [column, weight] : f.terms) mark(column);
  }
  for (const auto& f : rules.functions) {
    for (const auto& [column, weight] : f.terms) mark(column);
  }
  for (const auto& rule : rules.assignment.rules) {
    for (const auto& cond : rule.conditions) mark(cond.column);
  }
  return out;
}

}  // namespace

absl::StatusOr<TaModel> BuildModel(std::shared_ptr<const RuleSet> rules, uint64_t seed) {
  TaModel t;
  const RuleSet& rs = *rules;
  t.rules = rules;
  t.key = internal::HashName(rs.therapy_area);
  t.ta_field = CsvField(rs.therapy_area);
  const std::vector<bool> relevant = RelevantColumns(rs);
  t.inputs.resize(rs.num_inputs());
  for (int c = 0; c < rs.num_inputs(); ++c) {
    InputModel& m = t.inputs[c];
    m.def = &rs.inputs[c];
    m.dom = DomainOf(*m.def);
    m.relevant = relevant[c];
    m.field = CsvField(m.def->id);
    for (const std::string& o : m.def->options) m.option_fields.push_back(CsvField(o));
    m.invalid = InvalidValues(m);
    if (m.def->is_question) {
      t.questions.push_back(c);
      if (m.def->required) t.required.push_back(c);
    } else {
      t.metrics.push_back(c);
      m.by_segment = c == rs.objective_behavior || c == rs.tier_metric;
      m.coverage = m.by_segment ? kSegmentMetricCoverage : kMetricCoverage;
    }
  }
  for (const auto& s : rs.segments) t.segment_fields.push_back(CsvField(s.id));
  for (int s = 0; s < static_cast<int>(rs.segments.size()); ++s) {
    if (s != rs.unprofiled.default_segment) t.latent.push_back(s);
  }
  if (t.latent.empty()) t.latent.push_back(rs.unprofiled.default_segment);
  const size_t K = t.latent.size();
  for (size_t type = 0; type < std::size(internal::kCustomerTypes); ++type) {
    t.applies[type] = std::find(rs.applies_to.begin(), rs.applies_to.end(),
                                internal::kCustomerTypes[type]) != rs.applies_to.end();
  }
  for (const std::string& r : rs.refinement_reasons) t.reasons.push_back(CsvField(r));

  IssueList issues(rs.therapy_area);
  engine::Options options;
  if (!engine::ResolveOptions(rs, {}, &issues, &options)) {
    return absl::InternalError(
        absl::StrCat(rs.therapy_area, ": the default options do not resolve"));
  }
  const engine::Evaluator evaluator(rules, options);
  const size_t n = t.inputs.size();
  Scratch scratch(rs, kSearchBatch);

  // Pilot: which segments the rules associate with high values of the
  // objective behaviour and the tier metric (uniform profiles, all answered).
  std::vector<int> by_segment_metrics;
  for (int c : t.metrics) {
    if (t.inputs[c].by_segment) by_segment_metrics.push_back(c);
  }
  Rng pilot = Rng::Stream(seed, kPilotStream, t.key);
  std::map<int, std::vector<std::pair<double, int64_t>>> affinity;  // column → per latent (sum, n)
  for (int c : by_segment_metrics) affinity[c].assign(K, {0.0, 0});
  for (int round = 0; round < kPilotRounds; ++round) {
    for (size_t i = 0; i < kSearchBatch; ++i) {
      for (int c : t.questions) scratch.row()[c] = UniformValue(t.inputs[c], pilot);
      for (int c : t.metrics) scratch.row()[c] = UniformValue(t.inputs[c], pilot);
      scratch.Put(i);
    }
    const engine::Results& r = scratch.Evaluate(evaluator);
    std::vector<double> row(n);
    for (size_t i = 0; i < kSearchBatch; ++i) {
      for (size_t k = 0; k < K; ++k) {
        if (!AssignedBy(r, i, t.latent[k])) continue;
        scratch.Get(i, row.data());
        for (int c : by_segment_metrics) {
          const Domain& d = t.inputs[c].dom;
          affinity[c][k].first += d.hi > d.lo ? (row[c] - d.lo) / (d.hi - d.lo) : 0.5;
          affinity[c][k].second += 1;
        }
      }
    }
  }
  // Segment means spread over the middle half of the range, in the order of
  // that affinity (ties, e.g. unreached segments, in a seeded order).
  for (int c : by_segment_metrics) {
    InputModel& m = t.inputs[c];
    std::vector<std::pair<double, uint64_t>> order(K);
    for (size_t k = 0; k < K; ++k) {
      const auto [sum, count] = affinity[c][k];
      order[k] = {count > 0 ? sum / static_cast<double>(count) : 0.5, pilot.Next()};
    }
    std::vector<size_t> rank(K);
    for (size_t k = 0; k < K; ++k) rank[k] = k;
    std::sort(rank.begin(), rank.end(), [&](size_t a, size_t b) { return order[a] < order[b]; });
    m.mean.assign(K, 0);
    const double span = m.dom.hi - m.dom.lo;
    for (size_t p = 0; p < K; ++p) {
      const double pos = K == 1 ? 0.5 : 0.25 + 0.5 * static_cast<double>(p) / (K - 1);
      m.mean[rank[p]] = m.dom.lo + span * pos;
    }
    m.sd = 0.15 * span;
  }

  // Search: random full profiles with each segment's metrics; keep those the
  // rules assign to that segment.
  Rng search = Rng::Stream(seed, kSearchStream, t.key);
  std::vector<std::vector<double>> candidates(K);
  for (int round = 0; round < kSearchRounds; ++round) {
    bool done = true;
    for (size_t k = 0; k < K; ++k) done = done && candidates[k].size() >= kCandidates * n;
    if (done) break;
    for (size_t i = 0; i < kSearchBatch; ++i) {
      const size_t k = i % K;
      for (int c : t.questions) scratch.row()[c] = UniformValue(t.inputs[c], search);
      for (int c : t.metrics) scratch.row()[c] = DrawMetric(t.inputs[c], k, search);
      scratch.Put(i);
    }
    const engine::Results& r = scratch.Evaluate(evaluator);
    for (size_t i = 0; i < kSearchBatch; ++i) {
      const size_t k = i % K;
      if (!AssignedBy(r, i, t.latent[k]) || candidates[k].size() >= kCandidates * n) continue;
      candidates[k].resize(candidates[k].size() + n);
      scratch.Get(i, candidates[k].data() + candidates[k].size() - n);
    }
  }

  // Robustness: keep the prototypes whose noisy customers most often stay in
  // their segment.
  Rng robust = Rng::Stream(seed, kRobustnessStream, t.key);
  t.pool.resize(K);
  for (size_t k = 0; k < K; ++k) {
    const size_t count = candidates[k].size() / n;
    if (count == 0) continue;
    const size_t per_batch = kSearchBatch / kRobustnessTrials;
    std::vector<int> hits(count, 0);
    for (size_t begin = 0; begin < count; begin += per_batch) {
      const size_t end = std::min(count, begin + per_batch);
      size_t row = 0;
      for (size_t j = begin; j < end; ++j) {
        for (int trial = 0; trial < kRobustnessTrials; ++trial) {
          DrawProfile(t, k, candidates[k].data() + j * n, robust, scratch.row(),
                      /*complete=*/false);
          scratch.Put(row++);
        }
      }
      for (; row < kSearchBatch; ++row) scratch.Put(row);  // stale rows, ignored
      const engine::Results& r = scratch.Evaluate(evaluator);
      for (size_t j = begin; j < end; ++j) {
        for (int trial = 0; trial < kRobustnessTrials; ++trial) {
          hits[j] += AssignedBy(r, (j - begin) * kRobustnessTrials + trial, t.latent[k]);
        }
      }
    }
    std::vector<size_t> best(count);
    for (size_t j = 0; j < count; ++j) best[j] = j;
    std::stable_sort(best.begin(), best.end(),
                     [&](size_t a, size_t b) { return hits[a] > hits[b]; });
    best.resize(std::min(count, kPoolSize));
    for (size_t j : best) {
      t.pool[k].insert(t.pool[k].end(), candidates[k].begin() + j * n,
                       candidates[k].begin() + (j + 1) * n);
    }
  }

  // Segment sizes: uneven, from the seed.
  Rng prior = Rng::Stream(seed, kPriorStream, t.key);
  double total = 0;
  for (size_t k = 0; k < K; ++k) {
    t.prior.push_back(0.4 + prior.Uniform());
    total += t.prior.back();
  }
  for (double& p : t.prior) p /= total;
  return t;
}

}  // namespace harmonia::datagen::internal
