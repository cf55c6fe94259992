// Start here: synthetic, realistic data for demos, tests and benchmarks
// (`harmonia gen`).
//
// Each customer has a latent attitudinal segment (known only to the
// generator) that drives their questionnaire answers; behaviour metrics are
// correlated with it, so a good segmentation visibly separates customers on
// the objective behaviour. Data comes from several sources with overlaps,
// stale and invalid values, and a share of customers is left unprofiled.
//
// How answers follow the latent segment: for each therapy area the generator
// searches, with the real engine, for full input vectors that the rule set
// assigns to each segment and keeps the ones that stay in their segment under
// the noise customers get ("prototypes"). A customer of latent segment k
// starts from one of k's prototypes; some answers move by one step, optional
// questions go unanswered, metrics are drawn afresh (the objective behaviour
// and the tier metric from k's own distribution).
//
// Deterministic: the same options and seed give byte-identical files, whatever
// the number of threads (every customer draws from its own random stream,
// keyed by seed, country and customer number).
//
// Thread-safety: Generate() is reentrant; it uses `threads` threads itself.
#ifndef HARMONIA_DATAGEN_DATAGEN_H_
#define HARMONIA_DATAGEN_DATAGEN_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/rule_set.h"

namespace harmonia::datagen {

struct GenOptions {
  // Countries (ISO alpha-2, upper case) to generate customers for; `customers`
  // each. Customer ids are the country and 9 digits (DE000000001), so at most
  // 999,999,999 per country.
  std::vector<std::string> countries = {"DE"};
  int64_t customers = 1000;
  uint64_t seed = 1;
  // Rule sets whose questionnaires and metrics to fill (one per therapy area).
  std::vector<std::shared_ptr<const engine::RuleSet>> rule_sets;
  // The reference date: as_of dates fall before it (a few after, as errors).
  std::string as_of = "2026-11-01";
  double unprofiled_share = 0.12;  // customers missing a required answer
  double invalid_share = 0.005;    // values that fail validation
  double stale_share = 0.03;       // values older than any sensible max age
  double overlap_share = 0.10;     // inputs also reported by a second source
  int64_t refinements = -1;        // rows of refinements.csv per country; -1 = 1% of customers
  int threads = 1;                 // worker threads (0 = all cores); never changes the output
};

// What Generate() wrote, for summaries.
struct GenStats {
  struct File {
    std::string name;  // e.g. "answers.csv"
    int64_t rows = 0;  // without the header
    int64_t bytes = 0;
  };
  std::vector<File> files;  // in the order they are listed in Generate()'s comment
};

// Writes customers.csv, answers.csv, metrics.csv and refinements.csv (docs/files.md), plus
// latent.csv (customer_id,therapy_area,latent_segment: the truth, for tests and reports) into
// `out_dir`, which is created if needed. Each file is written under a temporary name and renamed
// when complete. InvalidArgument for inconsistent options (a bad country code or date, a share
// outside [0, 1], two rule sets of one therapy area); I/O errors as reported by the OS, naming the
// path. `stats` may be null.
absl::Status Generate(const GenOptions& options, const std::string& out_dir,
                      GenStats* stats = nullptr);

// What happened after a cycle (`harmonia gen --follow-up`): the activities a
// CRM reports for a period, and the objective behaviour at its end.
//
// Each customer's rep has a diligence d: none of the plan (15%), part of it
// (40%, d uniform in [0.3, 0.9)) or all of it and a little more (45%, d in
// [1.0, 1.2)). A rep honours the customer's channel preference with
// probability `honour_share` — works from the n=1 plan — and otherwise from
// the segment's targets (the plan before the preference moved calls). Each
// activity gets round(d × planned) touchpoints on days drawn uniformly in
// [from, to), reported one row per day and activity, or (20% of those) one
// row per touchpoint, as CRMs do; `invalid_share` of those groups are one
// broken row instead (an unknown activity, a February 30th, a negative
// count). The objective
// behaviour moves by lift × min(d, 1) (lift = 5% of the metric's range, 60%
// of that when the preference was not honoured) plus noise (sd 5% of the
// range), clamped to the metric's bounds.
struct PlannedCustomer {
  std::string customer_id;
  std::string therapy_area;
  std::array<int32_t, 4> targets{};  // calls, remote, email, events
  std::array<int32_t, 4> plan{};     // the n=1 plan (= targets without a preference)
  // The objective behaviour the cycle saw; nullopt = none (no new value is written).
  std::optional<double> objective;
};

struct FollowUpOptions {
  std::vector<PlannedCustomer> customers;  // in the order to write them
  int32_t from = 0, to = 0;                // days since 1970-01-01; REQUIRES: from < to
  uint64_t seed = 1;
  // Rule sets by therapy area, for the objective metric's id, type and bounds;
  // a customer whose therapy area has none gets activities only.
  std::vector<std::shared_ptr<const engine::RuleSet>> rule_sets;
  double honour_share = 0.6;
  double invalid_share = 0.002;  // of the (customer, day, activity) groups
  bool write_metrics = true;     // also write metrics.csv
};

// Writes activities.csv and, with write_metrics, metrics.csv (the objective
// behaviour as of the day before `to`, source external) into `out_dir`. InvalidArgument for
// from >= to or a share outside [0, 1]; I/O errors naming the path.
absl::Status GenerateFollowUp(const FollowUpOptions& options, const std::string& out_dir,
                              GenStats* stats = nullptr);

// A segmentation study as market research delivers it (docs/typing-tool.md):
// respondents who answered every question of the rule set's questionnaire,
// each with the segment the research assigned them, here their latent
// segment. Respondents follow the same model as Generate()'s customers of
// the same seed (prototypes, answer noise, segment sizes of the therapy
// area), from random streams of their own, so they are never the same
// people.
struct StudyOptions {
  std::shared_ptr<const engine::RuleSet> rule_set;
  std::string rule_set_text;  // written as rule_set.yaml, so the study stands alone
  int64_t respondents = 2000;
  uint64_t seed = 1;                   // the model's seed, as GenOptions::seed
  int64_t wave = 1;                    // another wave: other respondents of the same segmentation
  std::string fielded = "2026-11-01";  // when the fieldwork closed
};

struct StudyStats {
  int64_t respondents = 0;
  // The Bayes-optimal classifier on these respondents (the generator knows
  // the true distributions): the share it types right, the best any typing
  // tool can reach; and the mean of its highest posterior, the same figure's
  // expectation, with less sampling noise. NaN when a segment has no
  // prototypes (the search never reached it).
  double best_accuracy = 0;
  double expected_best_accuracy = 0;
};

// Writes study.yaml, respondents.csv and rule_set.yaml (docs/typing-tool.md)
// into `out_dir`, created if needed; each file under a temporary name, renamed
// when complete. InvalidArgument for a null rule set, respondents outside 1 to
// 1,000,000, a wave outside 1 to 999 or a bad date; I/O errors naming the path.
absl::Status GenerateStudy(const StudyOptions& options, const std::string& out_dir,
                           StudyStats* stats = nullptr);

}  // namespace harmonia::datagen

#endif  // HARMONIA_DATAGEN_DATAGEN_H_
