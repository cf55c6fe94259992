// The generator's model of one therapy area: how a customer's inputs follow
// their latent segment (datagen/datagen.h explains it). Shared by the data
// set (datagen.cc) and the segmentation study (study.cc), so both draw from
// the same distributions.
#ifndef HARMONIA_DATAGEN_INTERNAL_MODEL_H_
#define HARMONIA_DATAGEN_INTERNAL_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "datagen/internal/names.h"
#include "datagen/internal/random.h"
#include "engine/rule_set.h"

namespace harmonia::datagen::internal {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kAnswerNoise = 0.15;  // answers one step away from the prototype

// Keys of the random streams. Do not renumber: they fix the output.
enum StreamKey : uint64_t {
  kCustomerStream = 1,
  kTherapyAreaStream = 2,
  kRefinementStream = 3,
  kPilotStream = 4,
  kSearchStream = 5,
  kRobustnessStream = 6,
  kPriorStream = 7,
  kStudyStream = 8,
};

// The finite range values are drawn from: the scale or min/max (a plausible
// stand-in where a bound is open), option indexes, 0/1.
struct Domain {
  double lo = 0;
  double hi = 0;
};

// One question or metric, with what the generator needs to draw and write it.
struct InputModel {
  const engine::InputDef* def = nullptr;
  Domain dom;
  bool relevant = false;  // weighted in a score or tested by an assignment rule
  std::string field;      // the id as a CSV field
  std::vector<std::string> option_fields;
  std::vector<std::string> invalid;  // invalid values as CSV fields
  // Metrics only: the objective behaviour and the tier metric follow the latent
  // segment (normal, mean per segment); the others a segment-free distribution.
  bool by_segment = false;
  std::vector<double> mean;  // per latent segment
  double sd = 0;
  double coverage = 1;  // share of customers with a value
};

struct TaModel {
  std::shared_ptr<const engine::RuleSet> rules;
  uint64_t key = 0;
  std::string ta_field;
  std::vector<InputModel> inputs;  // by input column
  std::vector<int> questions;
  std::vector<int> metrics;
  std::vector<int> required;
  std::vector<int> latent;  // segment indexes: every segment but the unprofiled default
  std::vector<std::string> segment_fields;  // by segment index
  std::vector<double> prior;                // per latent segment, sums to 1
  // Prototypes per latent segment: pool[k] holds vectors of inputs.size()
  // values each. An empty pool: the search never reached the segment.
  std::vector<std::vector<double>> pool;
  bool applies[std::size(kCustomerTypes)] = {};
  std::vector<std::string> reasons;  // refinement reasons as CSV fields
};

// Searches, with the real engine, each latent segment's prototypes.
absl::StatusOr<TaModel> BuildModel(std::shared_ptr<const engine::RuleSet> rules, uint64_t seed);

size_t PoolCount(const TaModel& t, size_t k);

// A customer's true inputs (NaN = none) for latent segment k, from prototype
// `proto` (null: an independent random profile): relevant answers one step
// off with kAnswerNoise, the others uniform, metrics drawn afresh. `complete`
// (a study's respondent): every question answered and every metric known;
// otherwise optional questions are answered with kOptionalAnswered and
// metrics known with their coverage.
void DrawProfile(const TaModel& t, size_t k, const double* proto, Rng& rng, double* values,
                 bool complete);
inline constexpr double kOptionalAnswered = 0.60;  // optional questions answered by customers

// Any value of the input's domain (wide integer ranges skewed low).
double UniformValue(const InputModel& m, Rng& rng);
// A metric that does not follow the segment.
double PlainMetric(const InputModel& m, Rng& rng);
// The value one step away: likert ±1, integers a few units, numbers up to 5%
// of the range, another option, the other boolean (clamped to the domain).
double Perturb(const InputModel& m, double v, Rng& rng);
// The probability that Perturb(m, from) gives `to` (numbers: of the file's
// 0.001 step around `to`).
double PerturbProbability(const InputModel& m, double from, double to);

// The probability that latent segment k's draw of metric `m` gives `value`
// (numbers: of the file's 0.001 step around it). 1 for a metric that does
// not follow the segment (it is the same for every segment).
double MetricProbability(const InputModel& m, size_t k, double value);

// A value as the files write it.
void AppendValue(std::string* out, const InputModel& m, double v);
std::string CsvField(std::string_view text);

}  // namespace harmonia::datagen::internal

#endif  // HARMONIA_DATAGEN_INTERNAL_MODEL_H_
