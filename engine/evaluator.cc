#include "engine/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_join.h"

namespace harmonia::engine {
namespace {

// Customers per block: small enough that a block's columns and masks stay in
// L1/L2 cache, large enough to amortize the per-rule loop overhead.
constexpr size_t kBlock = 512;
constexpr double kInf = std::numeric_limits<double>::infinity();

// The block kernels are compiled twice with GCC, for AVX2 and for baseline
// x86-64, and the loader picks one for the CPU at hand (function
// multiversioning), so one binary runs everywhere and uses wide vectors where
// it can. Helpers are force-inlined into each clone.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HARMONIA_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define HARMONIA_KERNEL
#endif
#define HARMONIA_INLINE inline __attribute__((always_inline))

// m[i] &= (value in any of the intervals). NaN is in no interval.
HARMONIA_INLINE void AndCondition(const Condition& cond, const double* col, size_t n, uint8_t* m) {
  if (cond.any_of.size() == 1) {
    const double lo = cond.any_of[0].lo;
    const double hi = cond.any_of[0].hi;
    if (hi == kInf) {  // >= lo
      for (size_t i = 0; i < n; ++i) m[i] &= static_cast<uint8_t>(col[i] >= lo);
    } else if (lo == -kInf) {  // <= hi
      for (size_t i = 0; i < n; ++i) m[i] &= static_cast<uint8_t>(col[i] <= hi);
    } else {
      for (size_t i = 0; i < n; ++i) {
        m[i] &= static_cast<uint8_t>((col[i] >= lo) & (col[i] <= hi));
      }
    }
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint8_t hit = 0;
    for (const Interval& iv : cond.any_of) {
      hit |= static_cast<uint8_t>((col[i] >= iv.lo) & (col[i] <= iv.hi));
    }
    m[i] &= hit;
  }
}

HARMONIA_INLINE bool AnySet(const uint8_t* m, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= m[i];
  return acc != 0;
}

bool RuleMatches(const Rule& rule, const double* const* cols, size_t i) {
  for (const Condition& cond : rule.conditions) {
    const double v = cols[cond.column][i];
    bool hit = false;
    for (const Interval& iv : cond.any_of) hit |= (v >= iv.lo && v <= iv.hi);
    if (!hit) return false;
  }
  return true;
}

// out[i] = intercept + Σ w × col[i], in written order; NaN propagates, so a
// missing input makes the result missing (docs/cycle.md step 2).
HARMONIA_INLINE void ComputeLinear(const LinearFunction& f, const double* const* cols, size_t begin,
                                   size_t n, double* out) {
  for (size_t i = 0; i < n; ++i) out[i] = f.intercept;
  for (const auto& [column, weight] : f.terms) {
    const double* col = cols[column] + begin;
    for (size_t i = 0; i < n; ++i) out[i] += weight * col[i];
  }
}

}  // namespace

const char* DecidedByName(DecidedBy d) {
  switch (d) {
    case DecidedBy::kRules:
      return "rules";
    case DecidedBy::kUnprofiled:
      return "unprofiled";
    case DecidedBy::kConflict:
      return "conflict";
    case DecidedBy::kPullThrough:
      return "pull_through";
    case DecidedBy::kRefinement:
      return "refinement";
  }
  return "?";
}

void Results::Resize(size_t n, size_t num_scores) {
  segment.assign(n, -1);
  rule.assign(n, -1);
  decided_by.assign(n, DecidedBy::kRules);
  tier.assign(n, 0);
  activity.assign(n, Activity{});
  scores.assign(num_scores, std::vector<double>(n));
  drivers.assign(n, 0);
  conflicts.clear();
}

std::string TagsText(const RuleSet& rules, uint64_t drivers) {
  std::string out;
  uint64_t added = 0;  // by tag index (at most one tag per rule: 64 rules)
  for (size_t r = 0; r < rules.drivers.rules.size(); ++r) {
    if ((drivers >> r & 1) == 0) continue;
    const int tag = rules.drivers.tag_of[r];
    if (added >> tag & 1) continue;
    added |= uint64_t{1} << tag;
    if (!out.empty()) out += '|';
    out += rules.tags[tag];
  }
  return out;
}

Activity PlanOf(const RuleSet& rules, const Options& options, const Activity& targets,
                double answer) {
  const ChannelPreference& cp = rules.channel_preference;
  if (!options.channel_preference || cp.question < 0 || answer != answer) return targets;
  const size_t option = static_cast<size_t>(answer);
  if (option >= cp.has_mix.size() || !cp.has_mix[option]) return targets;
  const ChannelMix& mix = cp.mix[option];
  const int64_t planned = targets.calls;
  const int64_t shares[4] = {mix.calls, mix.remote, mix.email, mix.events};
  // Exact quotas planned x share / 10000: whole parts first, then one more
  // to each of the largest remainders (ties: calls, remote, email, events).
  int64_t got[4], remainder[4], left = planned;
  for (int k = 0; k < 4; ++k) {
    got[k] = planned * shares[k] / kShareUnits;
    remainder[k] = planned * shares[k] % kShareUnits;
    left -= got[k];
  }
  for (; left > 0; --left) {
    int best = 0;
    for (int k = 1; k < 4; ++k) {
      if (remainder[k] > remainder[best]) best = k;
    }
    ++got[best];
    remainder[best] = -1;  // one extra each
  }
  // min_calls: calls come back from the channel that received the most.
  const int64_t keep = std::min<int64_t>(cp.min_calls, planned);
  while (planned > 0 && got[0] < keep) {
    int most = 1;
    for (int k = 2; k < 4; ++k) {
      if (got[k] > got[most]) most = k;
    }
    --got[most];
    ++got[0];
  }
  return {static_cast<int32_t>(got[0]), static_cast<int32_t>(targets.remote + got[1]),
          static_cast<int32_t>(targets.email + got[2]),
          static_cast<int32_t>(targets.events + got[3])};
}

int32_t ScaleHalfUp(int32_t count, int64_t scale_micros) {
  const int64_t scaled = static_cast<int64_t>(count) * scale_micros;
  return static_cast<int32_t>((scaled + 500000) / 1000000);
}

Evaluator::Evaluator(std::shared_ptr<const RuleSet> rules, const Options& options)
    : rules_(std::move(rules)), options_(options) {
  bands_ = rules_->band_options[options_.tier_bands];
  const size_t tiers = rules_->tiers.size();
  scaled_targets_.resize(rules_->segments.size() * tiers);
  for (size_t s = 0; s < rules_->segments.size(); ++s) {
    for (size_t t = 0; t < tiers; ++t) {
      const Activity& a = rules_->targets[s][t];
      scaled_targets_[s * tiers + t] = {ScaleHalfUp(a.calls, options_.target_scale_micros),
                                        ScaleHalfUp(a.remote, options_.target_scale_micros),
                                        ScaleHalfUp(a.email, options_.target_scale_micros),
                                        ScaleHalfUp(a.events, options_.target_scale_micros)};
    }
  }
  BuildPlanTable();
}

void Evaluator::BuildPlanTable() {
  const ChannelPreference& cp = rules_->channel_preference;
  if (!options_.channel_preference || cp.question < 0) return;
  plan_options_ = static_cast<double>(cp.has_mix.size());
  plan_moves_.resize(cp.has_mix.size() * kPlanTableCalls);
  for (size_t o = 0; o < cp.has_mix.size(); ++o) {
    for (int32_t c = 0; c < kPlanTableCalls; ++c) {
      plan_moves_[o * kPlanTableCalls + c] =
          PlanOf(*rules_, options_, Activity{c, 0, 0, 0}, static_cast<double>(o));
    }
  }
}

Activity Evaluator::Targets(int segment, int tier) const {
  if (segment < 0) return Activity{};
  return scaled_targets_[static_cast<size_t>(segment) * rules_->tiers.size() + tier];
}

namespace {

// Runs one decision table for the customers whose `pending` byte is 1.
// First/priority: each customer's first matching rule is recorded as a slot
// (1 + rule position; 0 = none) and turned into segment and rule id at the end,
// so each rule costs one pass over its conditions and one select.
HARMONIA_INLINE void RunTable(const DecisionTable& table, int default_rule,
                              const double* const* cols, size_t n, uint8_t* pending,
                              int16_t* segment, int16_t* rule, DecidedBy* decided, size_t offset,
                              std::vector<std::pair<uint32_t, std::string>>* conflicts) {
  if (!AnySet(pending, n)) return;
  uint8_t eligible[kBlock];
  uint8_t m[kBlock];
  uint16_t slot[kBlock];
  std::memcpy(eligible, pending, n);
  std::memset(slot, 0, n * sizeof(uint16_t));
  const bool unique = table.hit_policy == HitPolicy::kUnique;
  uint8_t count[kBlock];
  if (unique) std::memset(count, 0, n);
  for (size_t r = 0; r < table.rules.size(); ++r) {
    const Rule& rl = table.rules[r];
    std::memcpy(m, pending, n);
    for (const Condition& cond : rl.conditions) AndCondition(cond, cols[cond.column], n, m);
    const uint16_t s = static_cast<uint16_t>(r + 1);
    if (!unique) {
      for (size_t i = 0; i < n; ++i) {
        slot[i] = m[i] ? s : slot[i];
        pending[i] &= static_cast<uint8_t>(m[i] ^ 1);
      }
      if (!AnySet(pending, n)) break;
    } else {
      for (size_t i = 0; i < n; ++i) {
        slot[i] = (m[i] && count[i] == 0) ? s : slot[i];
        count[i] = static_cast<uint8_t>(count[i] + (m[i] & (count[i] < 2)));
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!eligible[i]) continue;
    if (slot[i] == 0) {
      segment[i] = static_cast<int16_t>(table.default_segment);
      rule[i] = static_cast<int16_t>(default_rule);
    } else if (unique && count[i] > 1) {
      segment[i] = -1;
      rule[i] = -1;
      decided[i] = DecidedBy::kConflict;
      std::vector<std::string> ids;
      for (const Rule& r : table.rules) {
        if (RuleMatches(r, cols, i)) ids.push_back(r.id);
      }
      conflicts->emplace_back(static_cast<uint32_t>(offset + i), absl::StrJoin(ids, "|"));
    } else {
      const Rule& r = table.rules[slot[i] - 1];
      segment[i] = static_cast<int16_t>(r.segment);
      rule[i] = static_cast<int16_t>(r.rule_index);
    }
  }
}

struct KernelContext {
  const RuleSet& rs;
  const std::vector<TierBand>& bands;
  const std::vector<Activity>& scaled_targets;
  uint8_t* profiled_out = nullptr;  // when set: profiled per customer (for Explain)
};

HARMONIA_KERNEL void EvaluateBlocks(const KernelContext& ctx, const Batch& batch, size_t begin,
                                    size_t end, Results* results,
                                    std::vector<std::pair<uint32_t, std::string>>* conflicts) {
  const RuleSet& rs = ctx.rs;
  const std::vector<TierBand>& bands = ctx.bands;
  const size_t num_inputs = rs.inputs.size();
  const size_t num_scores = rs.scores.size();
  std::vector<const double*> cols(num_inputs + num_scores);
  std::vector<double> function_values(rs.functions.size() * kBlock);
  uint8_t profiled[kBlock];
  uint8_t pending[kBlock];

  for (size_t b = begin; b < end; b += kBlock) {
    const size_t n = std::min(kBlock, end - b);
    // Column pointers for this block: inputs, then the scores computed below.
    for (size_t c = 0; c < num_inputs; ++c) cols[c] = batch.columns[c] + b;
    for (size_t s = 0; s < num_scores; ++s) {
      double* out = results->scores[s].data() + b;
      // Scores read inputs only, so pass the block's input pointers at offset 0.
      ComputeLinear(rs.scores[s], cols.data(), 0, n, out);
      cols[num_inputs + s] = out;
    }

    // Profiled = every required question answered (docs/cycle.md step 3).
    std::memset(profiled, 1, n);
    for (int c : rs.required_inputs) {
      const double* col = cols[c];
      for (size_t i = 0; i < n; ++i) profiled[i] &= static_cast<uint8_t>(col[i] == col[i]);
    }

    int16_t* segment = results->segment.data() + b;
    int16_t* rule = results->rule.data() + b;
    DecidedBy* decided = results->decided_by.data() + b;
    for (size_t i = 0; i < n; ++i) {
      decided[i] = profiled[i] ? DecidedBy::kRules : DecidedBy::kUnprofiled;
    }

    if (rs.typing_tool) {
      // Highest function wins; ties go to the segment listed first (functions
      // are in segment order and only a strictly greater value replaces).
      // A missing weighted input sends the customer to `unprofiled`.
      const size_t nf = rs.functions.size();
      for (size_t f = 0; f < nf; ++f) {
        ComputeLinear(rs.functions[f], cols.data(), 0, n, function_values.data() + f * kBlock);
      }
      for (size_t i = 0; i < n; ++i) {
        if (!profiled[i]) continue;
        int best = -1;
        double best_value = 0;
        bool missing = false;
        for (size_t f = 0; f < nf; ++f) {
          const double v = function_values[f * kBlock + i];
          if (v != v) {
            missing = true;
            break;
          }
          if (best < 0 || v > best_value) {
            best = static_cast<int>(f);
            best_value = v;
          }
        }
        if (missing) {
          profiled[i] = 0;
          decided[i] = DecidedBy::kUnprofiled;
        } else {
          segment[i] = static_cast<int16_t>(rs.function_segments[best]);
          rule[i] = static_cast<int16_t>(rs.typing_tool_rule_index);
        }
      }
    } else {
      std::memcpy(pending, profiled, n);
      RunTable(rs.assignment, rs.default_rule_index, cols.data(), n, pending, segment, rule,
               decided, b, conflicts);
    }
    if (ctx.profiled_out != nullptr) std::memcpy(ctx.profiled_out + b, profiled, n);

    // Drivers (collect): every matching rule's bit, whatever the table decided.
    if (!rs.drivers.rules.empty()) {
      uint64_t* mask = results->drivers.data() + b;
      std::memset(mask, 0, n * sizeof(uint64_t));
      // Eight rules at a time into one byte per customer (byte lanes
      // vectorize four times wider than 64-bit ones), then widened once.
      uint8_t m[kBlock];
      uint8_t bits[kBlock];
      const size_t num_rules = rs.drivers.rules.size();
      for (size_t group = 0; group < num_rules; group += 8) {
        std::memset(bits, 0, n);
        for (size_t r = group; r < std::min(num_rules, group + 8); ++r) {
          std::memset(m, 1, n);
          for (const Condition& cond : rs.drivers.rules[r].conditions) {
            AndCondition(cond, cols[cond.column], n, m);
          }
          const int shift = static_cast<int>(r - group);
          for (size_t i = 0; i < n; ++i) bits[i] |= static_cast<uint8_t>(m[i] << shift);
        }
        for (size_t i = 0; i < n; ++i) mask[i] |= uint64_t{bits[i]} << group;
      }
    }
    for (size_t i = 0; i < n; ++i) pending[i] = profiled[i] ^ 1;
    RunTable(rs.unprofiled, rs.default_rule_index, cols.data(), n, pending, segment, rule, decided,
             b, conflicts);

    // Tier (docs/cycle.md step 4): first band whose min the metric reaches; missing → last.
    uint8_t* tier = results->tier.data() + b;
    const double* metric = cols[rs.tier_metric];
    const uint8_t last = static_cast<uint8_t>(bands.back().tier);
    for (size_t i = 0; i < n; ++i) tier[i] = last;
    for (size_t k = bands.size() - 1; k-- > 0;) {
      const double min = bands[k].min;
      const uint8_t t = static_cast<uint8_t>(bands[k].tier);
      for (size_t i = 0; i < n; ++i) tier[i] = metric[i] >= min ? t : tier[i];
    }

    // Targets: segment × tier, pre-scaled; none for a conflict.
    Activity* activity = results->activity.data() + b;
    const size_t tiers = rs.tiers.size();
    for (size_t i = 0; i < n; ++i) {
      activity[i] = segment[i] < 0
                        ? Activity{}
                        : ctx.scaled_targets[static_cast<size_t>(segment[i]) * tiers + tier[i]];
    }
  }
}

}  // namespace

void Evaluator::Evaluate(const Batch& batch, size_t begin, size_t end, Results* results,
                         std::vector<std::pair<uint32_t, std::string>>* conflicts) const {
  EvaluateBlocks(KernelContext{*rules_, bands_, scaled_targets_}, batch, begin, end, results,
                 conflicts);
}

Trace Evaluator::Explain(const Batch& batch, size_t customer) const {
  const RuleSet& rs = *rules_;
  Batch one{1, {}};
  for (const double* column : batch.columns) one.columns.push_back(column + customer);
  Results results;
  results.Resize(1, rs.scores.size());
  uint8_t profiled = 0;
  EvaluateBlocks(KernelContext{rs, bands_, scaled_targets_, &profiled}, one, 0, 1, &results,
                 &results.conflicts);

  Trace t;
  auto linear = [&](const LinearFunction& f) {
    Trace::Linear l{f.intercept, {}, 0};
    for (const auto& [column, weight] : f.terms)
      l.terms.push_back({column, weight, *one.columns[column]});
    ComputeLinear(f, one.columns.data(), 0, 1, &l.value);
    return l;
  };
  for (size_t s = 0; s < rs.scores.size(); ++s) {
    t.scores.push_back(linear(rs.scores[s]));
    t.scores.back().value = results.scores[s][0];  // as the kernel computed it
  }
  if (rs.typing_tool) {
    for (const LinearFunction& f : rs.functions) t.functions.push_back(linear(f));
  }
  t.profiled = profiled != 0;
  for (int c : rs.required_inputs) {
    if (*one.columns[c] != *one.columns[c]) t.missing_required.push_back(c);
  }
  t.table = !t.profiled ? "unprofiled" : rs.typing_tool ? "typing_tool" : "assignment";
  t.drivers = results.drivers.empty() ? 0 : results.drivers[0];
  t.decided_by = results.decided_by[0];
  t.rule = results.rule[0];
  if (!results.conflicts.empty()) t.matched = results.conflicts[0].second;
  t.segment = results.segment[0];
  t.tier = results.tier[0];
  t.tier_metric = *one.columns[rs.tier_metric];
  t.targets = results.activity[0];
  return t;
}

void Evaluator::EvaluateAll(const Batch& batch, Results* results) const {
  results->Resize(batch.size, rules_->scores.size());
  Evaluate(batch, 0, batch.size, results, &results->conflicts);
}

}  // namespace harmonia::engine
