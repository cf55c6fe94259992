#include "engine/cycle.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"

namespace harmonia::engine {
namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

// The sortable key of a candidate: "better" is ">". Source rank in 2 bits,
// then the as_of day counted from the oldest day a candidate may have (at most
// kMaxInputAgeDays, so 16 bits), then the import order in the low 46 bits.
static_assert(kMaxInputAgeDays < (1 << 16));
uint64_t CandidateKey(int rank, int32_t days_after_oldest, uint64_t order) {
  return (static_cast<uint64_t>(3 - rank) << 62) |
         (static_cast<uint64_t>(days_after_oldest) << 46) | (order & kMaxInputOrder);
}

// Runs fn(begin, end, part) over `threads` contiguous ranges of [0, n).
template <typename Fn>
void ParallelRanges(size_t n, int threads, Fn fn) {
  const size_t parts = std::max<size_t>(1, std::min<size_t>(threads, n / 4096 + 1));
  if (parts == 1) {
    fn(size_t{0}, n, size_t{0});
    return;
  }
  std::vector<std::thread> workers;
  const size_t step = (n + parts - 1) / parts;
  for (size_t p = 0; p < parts; ++p) {
    const size_t begin = std::min(n, p * step);
    const size_t end = std::min(n, begin + step);
    workers.emplace_back([=, &fn] { fn(begin, end, p); });
  }
  for (std::thread& t : workers) t.join();
}

}  // namespace

const char* InputIssueName(InputIssue issue) {
  switch (issue) {
    case InputIssue::kInvalid:
      return "invalid";
    case InputIssue::kStale:
      return "stale";
    case InputIssue::kFuture:
      return "future";
    case InputIssue::kSourceNotUsed:
      return "source_not_used";
  }
  return "?";
}

int64_t DataQuality::Total(InputIssue issue) const {
  int64_t total = 0;
  for (int64_t n : by_kind_source[static_cast<int>(issue)]) total += n;
  return total;
}

InputSelector::InputSelector(const RuleSet& rules, const CountryConfig& country, int32_t cycle_day,
                             size_t customers)
    : rules_(rules),
      cycle_day_(cycle_day),
      oldest_day_(cycle_day - country.max_input_age_days),
      customers_(customers),
      values_(rules.inputs.size()),
      keys_(rules.inputs.size()),
      all_missing_(customers, kMissing) {
  for (int s = 0; s < kNumSources; ++s) rank_[s] = country.SourceRank(static_cast<Source>(s));
}

bool InputSelector::Offer(uint32_t customer, int column, std::string_view value, Source source,
                          int32_t as_of, uint64_t order, InputIssue* issue, std::string* reason) {
  const int src = static_cast<int>(source);
  const int rank = rank_[src];
  auto reject = [&](InputIssue kind) {
    ++quality_.by_kind_source[static_cast<int>(kind)][src];
    *issue = kind;
    return false;
  };
  if (rank < 0) return reject(InputIssue::kSourceNotUsed);
  if (as_of > cycle_day_) return reject(InputIssue::kFuture);
  if (as_of < oldest_day_) return reject(InputIssue::kStale);
  double v;
  if (!ParseInputValue(rules_.inputs[column], value, &v, reason)) {
    return reject(InputIssue::kInvalid);
  }
  ++quality_.candidates_by_source[src];
  if (keys_[column].empty()) {  // columns are allocated on first use
    keys_[column].assign(customers_, 0);
    values_[column].assign(customers_, kMissing);
  }
  const uint64_t key = CandidateKey(rank, as_of - oldest_day_, order);
  uint64_t& best = keys_[column][customer];
  if (key > best) {
    best = key;
    values_[column][customer] = v;
  }
  return true;
}

void InputSelector::Merge(const InputSelector& other) {
  for (size_t c = 0; c < values_.size(); ++c) {
    if (other.keys_[c].empty()) continue;
    if (keys_[c].empty()) {
      keys_[c] = other.keys_[c];
      values_[c] = other.values_[c];
      continue;
    }
    for (size_t i = 0; i < customers_; ++i) {
      if (other.keys_[c][i] > keys_[c][i]) {
        keys_[c][i] = other.keys_[c][i];
        values_[c][i] = other.values_[c][i];
      }
    }
  }
  for (int k = 0; k < kNumInputIssues; ++k) {
    for (int s = 0; s < kNumSources; ++s) {
      quality_.by_kind_source[k][s] += other.quality_.by_kind_source[k][s];
    }
  }
  for (int s = 0; s < kNumSources; ++s) {
    quality_.candidates_by_source[s] += other.quality_.candidates_by_source[s];
  }
}

Batch InputSelector::batch() const {
  Batch b;
  b.size = customers_;
  for (const auto& col : values_)
    b.columns.push_back(col.empty() ? all_missing_.data() : col.data());
  return b;
}

const char* InputSelector::PassedOver(uint32_t customer, int column, Source source, int32_t as_of,
                                      uint64_t order) const {
  const uint64_t chosen = keys_[column][customer];
  const uint64_t key = CandidateKey(rank_[static_cast<int>(source)], as_of - oldest_day_, order);
  if (key == chosen) return nullptr;
  // The key orders by source rank, then as_of, then order: the first part
  // that differs is why.
  if ((key >> 62) != (chosen >> 62)) return "lower precedence source";
  if ((key >> 46) != (chosen >> 46)) return "older";
  return "imported earlier";
}

std::optional<InputSelector::Provenance> InputSelector::provenance(uint32_t customer,
                                                                   int column) const {
  if (keys_[column].empty() || keys_[column][customer] == 0) return std::nullopt;
  const uint64_t key = keys_[column][customer];
  const int rank = 3 - static_cast<int>(key >> 62);
  Source source = Source::kRep;
  for (int s = 0; s < kNumSources; ++s) {
    if (rank_[s] == rank) source = static_cast<Source>(s);
  }
  const int32_t as_of = oldest_day_ + static_cast<int32_t>((key >> 46) & 0xffff);
  return Provenance{source, as_of, key & kMaxInputOrder};
}

namespace {

uint64_t DigestSeed(const RuleSet& rules, const Options& options) {
  std::string text = absl::StrCat(rules.therapy_area, "\n", options.canonical, "\n");
  for (const InputDef& d : rules.inputs) absl::StrAppend(&text, d.id, ",");
  return XXH3_64bits(text.data(), text.size());
}

std::string DigestWithSeed(uint64_t seed, const Batch& batch, size_t customer,
                           std::vector<uint64_t>* scratch) {
  scratch->resize(batch.columns.size());
  for (size_t c = 0; c < batch.columns.size(); ++c) {
    double v = batch.columns[c][customer];
    uint64_t bits;
    if (v != v) {
      bits = 0x7ff8dead00000000ULL;  // one pattern for "missing"
    } else {
      if (v == 0) v = 0;  // -0.0 and 0.0 are the same input
      std::memcpy(&bits, &v, sizeof bits);
    }
    (*scratch)[c] = bits;
  }
  const XXH128_hash_t h = XXH3_128bits_withSeed(scratch->data(), scratch->size() * 8, seed);
  static const char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[i] = kHex[(h.high64 >> (60 - 4 * i)) & 0xf];
    out[16 + i] = kHex[(h.low64 >> (60 - 4 * i)) & 0xf];
  }
  return out;
}

}  // namespace

std::string InputsDigest(const RuleSet& rules, const Options& options, const Batch& batch,
                         size_t customer) {
  std::vector<uint64_t> scratch;
  return DigestWithSeed(DigestSeed(rules, options), batch, customer, &scratch);
}

// Steps 2–6 but the plan.
static CycleOutput RunCycleSteps(const CycleInput& in) {
  const Evaluator& evaluator = *in.evaluator;
  const RuleSet& rules = evaluator.rules();
  const Options& options = evaluator.options();
  const Batch& batch = *in.batch;
  const size_t n = batch.size;
  CycleOutput out;
  Results& results = out.results;
  results.Resize(n, rules.scores.size());
  out.digests.resize(n);

  // Steps 2–4, and the digests, over ranges of customers in parallel.
  const uint64_t seed = DigestSeed(rules, options);
  std::vector<std::vector<std::pair<uint32_t, std::string>>> conflicts(std::max(1, in.threads));
  ParallelRanges(n, in.threads, [&](size_t begin, size_t end, size_t part) {
    evaluator.Evaluate(batch, begin, end, &results, &conflicts[part]);
    std::vector<uint64_t> scratch;
    for (size_t i = begin; i < end; ++i) out.digests[i] = DigestWithSeed(seed, batch, i, &scratch);
  });
  for (auto& part : conflicts) {
    for (auto& c : part) results.conflicts.push_back(std::move(c));
  }

  // Step 5: pull-through.
  if (options.pull_through && !in.previous.empty()) {
    absl::flat_hash_map<std::string, int> rule_index;
    for (size_t r = 0; r < rules.rule_ids.size(); ++r)
      rule_index[rules.rule_ids[r]] = static_cast<int>(r);
    std::vector<std::pair<uint32_t, std::string>> kept_conflicts;
    std::vector<bool> pulled(n, false);
    for (size_t i = 0; i < n; ++i) {
      const PreviousAssignment* prev = in.previous[i];
      if (prev == nullptr || prev->rule_set_version != rules.version ||
          prev->inputs_digest != out.digests[i]) {
        continue;
      }
      const int seg = prev->segment.empty() ? -1 : rules.FindSegment(prev->segment);
      const int tier = rules.FindTier(prev->tier);
      if ((seg < 0 && !prev->segment.empty()) || tier < 0) continue;
      int rule = -1;
      if (auto it = rule_index.find(prev->rule_id); it != rule_index.end()) {
        rule = it->second;
      } else if (prev->rule_id.find('|') == std::string::npos) {
        continue;  // a rule id this version does not have: not the same cycle logic
      }
      results.segment[i] = static_cast<int16_t>(seg);
      results.tier[i] = static_cast<uint8_t>(tier);
      results.activity[i] = prev->activity;
      results.rule[i] = static_cast<int16_t>(rule);
      results.decided_by[i] = DecidedBy::kPullThrough;
      if (rule < 0) kept_conflicts.emplace_back(static_cast<uint32_t>(i), prev->rule_id);
      pulled[i] = true;
      ++out.pulled_through;
    }
    // Conflicts now: those of pulled-through customers as they were, the rest as evaluated.
    std::vector<std::pair<uint32_t, std::string>> merged;
    for (auto& c : results.conflicts) {
      if (!pulled[c.first]) merged.push_back(std::move(c));
    }
    for (auto& c : kept_conflicts) merged.push_back(std::move(c));
    std::sort(merged.begin(), merged.end());
    results.conflicts = std::move(merged);
  } else {
    std::sort(results.conflicts.begin(), results.conflicts.end());
  }

  // Step 6: refinements, in submission order.
  if (in.refinements == nullptr) return out;
  const std::vector<Refinement>& refs = *in.refinements;
  out.refinements.resize(refs.size());
  out.refinement_quota = RefinementQuota(options, static_cast<int64_t>(n));
  const std::vector<std::string>& ids = *in.customer_ids;
  absl::flat_hash_map<std::string, int> request_line;  // request_id → first index
  absl::flat_hash_map<uint32_t, size_t> winner;        // customer → refinement index
  int64_t distinct = 0;
  for (size_t r = 0; r < refs.size(); ++r) {
    const Refinement& ref = refs[r];
    RefinementOutcome& o = out.refinements[r];
    auto reject = [&](std::string why) {
      o.status = RefinementOutcome::Status::kRejected;
      o.message = std::move(why);
    };
    if (ref.therapy_area != rules.therapy_area) {
      o.status = RefinementOutcome::Status::kOtherTherapyArea;
      o.message =
          absl::StrCat("for therapy area ", Quoted(ref.therapy_area), ", not ", rules.therapy_area);
      continue;
    }
    if (options.process == Process::kDataDriven) {
      reject(absl::StrCat("country ", in.country, " runs ", rules.therapy_area,
                          " with process data_driven: refinements are not applied"));
      continue;
    }
    if (!ref.request_id.empty()) {
      auto [it, inserted] = request_line.emplace(ref.request_id, static_cast<int>(r));
      if (!inserted) {
        reject(absl::StrCat("duplicate request_id ", Quoted(ref.request_id), " (line ",
                            refs[it->second].line, ")"));
        continue;
      }
    }
    auto pos = std::lower_bound(ids.begin(), ids.end(), ref.customer_id);
    if (pos == ids.end() || *pos != ref.customer_id) {
      std::string why = in.out_of_scope_reason ? in.out_of_scope_reason(ref.customer_id) : "";
      reject(why.empty()
                 ? absl::StrCat("unknown customer ", Quoted(ref.customer_id))
                 : absl::StrCat("customer ", Quoted(ref.customer_id), " is out of scope: ", why));
      continue;
    }
    const uint32_t customer = static_cast<uint32_t>(pos - ids.begin());
    int segment = -2;  // -2: keep
    if (!ref.segment.empty()) {
      segment = rules.FindSegment(ref.segment);
      if (segment < 0) {
        std::vector<std::string> seg_ids;
        for (const Segment& s : rules.segments) seg_ids.push_back(s.id);
        reject(absl::StrCat("unknown segment ", Quoted(ref.segment),
                            "; expected one of: ", absl::StrJoin(seg_ids, ", ")));
        continue;
      }
    }
    if (std::find(rules.refinement_reasons.begin(), rules.refinement_reasons.end(), ref.reason) ==
        rules.refinement_reasons.end()) {
      reject(absl::StrCat("unknown reason ", Quoted(ref.reason),
                          "; expected one of: ", absl::StrJoin(rules.refinement_reasons, ", ")));
      continue;
    }
    int32_t delta = 0;
    std::string bad_delta;
    if (!ParseCallsDelta(ref.calls_delta, &delta, &bad_delta)) {
      reject(std::move(bad_delta));
      continue;
    }
    if (segment == -2 && delta == 0) {
      reject("changes nothing: segment is empty and calls_delta is 0");
      continue;
    }
    if (auto it = winner.find(customer); it != winner.end()) {
      // Latest valid refinement wins; the same customer uses no more quota.
      out.refinements[it->second].status = RefinementOutcome::Status::kSuperseded;
      out.refinements[it->second].message =
          ref.label.empty() ? absl::StrCat("superseded by the later refinement on line ", ref.line)
                            : absl::StrCat("superseded by the later refinement, ", ref.label);
      it->second = r;
    } else {
      if (distinct >= out.refinement_quota) {
        reject(absl::StrCat("over quota: at most ", out.refinement_quota,
                            out.refinement_quota == 1 ? " customer" : " customers",
                            " (max_refinement_share ", options.max_refinement_share_micros / 1e6,
                            " of ", n, " in scope) may be refined per cycle"));
        continue;
      }
      ++distinct;
      winner.emplace(customer, r);
    }
    o.status = RefinementOutcome::Status::kApplied;
  }
  // Apply the winners.
  for (const auto& [customer, r] : winner) {
    const Refinement& ref = refs[r];
    const int segment =
        ref.segment.empty() ? results.segment[customer] : rules.FindSegment(ref.segment);
    int32_t delta = 0;
    if (!ref.calls_delta.empty()) {
      std::from_chars(ref.calls_delta.data(), ref.calls_delta.data() + ref.calls_delta.size(),
                      delta);
    }
    Activity a = evaluator.Targets(segment, results.tier[customer]);
    a.calls = std::max(0, a.calls + delta);
    results.segment[customer] = static_cast<int16_t>(segment);
    results.activity[customer] = a;
    results.decided_by[customer] = DecidedBy::kRefinement;
    ++out.refined;
  }
  return out;
}

CycleOutput RunCycle(const CycleInput& in) {
  CycleOutput out = RunCycleSteps(in);
  // The n=1 plan, after refinements, from each customer's targets and answer.
  const RuleSet& rules = in.evaluator->rules();
  const Options& options = in.evaluator->options();
  if (options.channel_preference && rules.channel_preference.question >= 0) {
    const double* answers = in.batch->columns[rules.channel_preference.question];
    const size_t n = in.batch->size;
    out.plan.resize(n);
    for (size_t i = 0; i < n; ++i) {
      out.plan[i] = in.evaluator->Plan(out.results.activity[i], answers[i]);
    }
  }
  return out;
}

bool ParseCallsDelta(std::string_view text, int32_t* delta, std::string* why) {
  *delta = 0;
  if (text.empty()) return true;
  int32_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < -kMaxCallsDelta ||
      value > kMaxCallsDelta) {
    *why = absl::StrCat("calls_delta ", Quoted(text), " is not a whole number from ",
                        -kMaxCallsDelta, " to ", kMaxCallsDelta);
    return false;
  }
  *delta = value;
  return true;
}

int64_t RefinementQuota(const Options& options, int64_t customers_in_scope) {
  return options.max_refinement_share_micros * customers_in_scope / 1000000;
}

std::string OutOfScopeReason(std::string_view country, std::string_view type,
                             std::string_view cycle_country,
                             const std::vector<std::string>& applies_to) {
  if (country != cycle_country) return absl::StrCat("country is ", Sv(country));
  if (std::find(applies_to.begin(), applies_to.end(), type) == applies_to.end()) {
    return absl::StrCat("customer type ", Quoted(type), " is not in the rule set's applies_to (",
                        absl::StrJoin(applies_to, ", "), ")");
  }
  return "";
}

}  // namespace harmonia::engine
